"""Where `apply` logs in to a node: the spec's `ssh`, then ~/.ssh/config, then defaults."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

import pytest

from compiler.apply.ssh import Target, connect, target
from compiler.errors import HostUnreachableError
from compiler.spec import Node

CONFIG = """\
Host other
  Port 2200

Host node1
  HostName pi-one.lan
  Port 2222
  User pi
  IdentityFile /keys/pi_ed25519
  UserKnownHostsFile /keys/known_hosts /keys/known_hosts2
"""


def node(**ssh: object) -> Node:
    return Node.model_validate({"name": "node1", "address": "10.0.0.11", "ssh": ssh})


def test_ssh_config_supplies_what_the_spec_leaves_out(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIG)
    got = target(node(), tmp_path, ssh_config=config)
    assert (got.host, got.port, got.user, got.identity_file, got.known_hosts) == (
        "pi-one.lan",
        2222,
        "pi",
        "/keys/pi_ed25519",
        Path("/keys/known_hosts"),
    )
    assert got.where == "node1 (pi@pi-one.lan:2222)"


def test_the_spec_wins_over_ssh_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIG)
    got = target(
        node(user="admin", port=22, host="10.0.0.99", identity_file="k", known_hosts="kh"),
        tmp_path,
        ssh_config=config,
    )
    assert (got.host, got.port, got.user, got.identity_file, got.known_hosts) == (
        "10.0.0.99",
        22,
        "admin",
        str(tmp_path / "k"),
        tmp_path / "kh",
    )


def test_without_either_the_address_port_22_and_you(tmp_path: Path) -> None:
    got = target(node(), tmp_path, ssh_config=tmp_path / "absent")
    assert (got.host, got.port, got.user, got.identity_file, got.known_hosts) == (
        "10.0.0.11",
        22,
        getpass.getuser(),
        None,
        Path.home() / ".ssh" / "known_hosts",
    )


def test_a_node_that_refuses_the_connection_is_one_line(tmp_path: Path) -> None:
    """Nothing listens on the port (a port of 127.0.0.1 this test held, then closed)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    login = Target("node1", "127.0.0.1", port, "root", None, tmp_path / "known_hosts")
    with pytest.raises(HostUnreachableError) as caught:
        connect(login, timeout=5)
    assert str(caught.value) == f"node1 (root@127.0.0.1:{port}): unreachable (connection refused)"

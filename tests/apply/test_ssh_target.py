"""Where `apply` logs in to a node: the spec's `ssh`, then ~/.ssh/config, then defaults."""

from __future__ import annotations

import getpass
from pathlib import Path

from compiler.apply.ssh import target
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

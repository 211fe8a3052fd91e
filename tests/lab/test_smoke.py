"""The lab itself: three real systemd nodes, each its own machine, reachable, rebootable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compiler.apply.ssh import connect, target
from compiler.errors import HostKeyError
from compiler.spec import Node
from tests.support import need

from .lab import Lab
from .node import LabNode, reachable

pytestmark = [pytest.mark.lab, pytest.mark.integration]

# systemd gives DynamicUser= services UIDs from this range (https://systemd.io/UIDS-GIDS/).
DYNAMIC_UIDS = range(61184, 65519 + 1)


def keyscan(address: str) -> set[str]:
    """The host keys ``address`` offers, as OpenSSH's ssh-keyscan reports them."""
    out = subprocess.run(
        ["ssh-keyscan", "-t", "rsa,ecdsa,ed25519", address],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in out.splitlines() if line and not line.startswith("#")}


def known(lab: Lab, node: LabNode) -> set[str]:
    """The lab's known_hosts lines for ``node``."""
    lines = lab.known_hosts.read_text().splitlines()
    return {line for line in lines if line.split()[0] == node.address}


def spec_node(node: LabNode, lab: Lab, known_hosts: Path) -> Node:
    return Node.model_validate(
        {
            "name": node.name,
            "address": node.address,
            "ssh": {
                "user": "root",
                "identity_file": str(lab.client_key),
                "known_hosts": str(known_hosts),
            },
        }
    )


def test_three_nodes_run_systemd_each_with_its_name_and_address(lab: Lab) -> None:
    assert [(n.name, n.address) for n in lab.nodes] == [
        ("node1", "198.18.0.11"),
        ("node2", "198.18.0.12"),
        ("node3", "198.18.0.13"),
    ]
    machine_ids = set()
    for node in lab.nodes:
        assert node.check("hostname") == f"{node.name}\n"
        assert node.check("systemctl is-system-running") == "running\n"
        assert f"inet {node.address}/24 " in node.check("ip -4 -o address show dev eth0")
        machine_ids.add(node.check("cat /etc/machine-id"))
    assert len(machine_ids) == 3


def test_run_returns_the_exit_status_stdout_and_stderr_of_a_root_shell(lab: Lab) -> None:
    node = lab.node("node1")
    assert node.run("id -u; echo warn >&2; exit 3") == (3, "0\n", "warn\n")
    assert node.run("read line || echo empty stdin") == (0, "empty stdin\n", "")


def test_the_host_sees_a_running_node_s_files_through_its_root(lab: Lab) -> None:
    node = lab.node("node1")
    node.check("echo from-node > /root/lab-seen")
    assert (node.root / "root/lab-seen").read_text() == "from-node\n"
    (node.root / "root/lab-put").write_text("from-host\n")
    assert node.check("cat /root/lab-put") == "from-host\n"
    assert not Path("/root/lab-seen").exists()  # the host's own root is untouched


def test_each_node_offers_its_own_host_keys_and_known_hosts_has_them(lab: Lab) -> None:
    need("ssh-keyscan")
    offered = {node.name: keyscan(node.address) for node in lab.nodes}
    for node in lab.nodes:
        assert offered[node.name] == known(lab, node)
        assert len(offered[node.name]) == 3  # RSA, ECDSA, Ed25519
    keys = [line.split(None, 1)[1] for lines in offered.values() for line in lines]
    assert len(set(keys)) == 9, "two nodes share a host key"
    host_key = " ".join(Path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2])
    assert host_key not in keys, "a node kept the host's own key"


def test_picluster_trusts_the_lab_s_known_hosts_and_refuses_a_node_missing_there(
    lab: Lab, tmp_path: Path
) -> None:
    no_config = tmp_path / "no-ssh-config"  # the developer's ~/.ssh/config plays no part
    node1 = lab.node("node1")
    session = connect(target(spec_node(node1, lab, lab.known_hosts), tmp_path, no_config))
    try:
        assert session.run("hostname") == "node1\n"
    finally:
        session.close()

    node3 = lab.node("node3")
    partial = tmp_path / "known_hosts"
    partial.write_text(
        "".join(f"{line}\n" for n in lab.nodes if n != node3 for line in known(lab, n))
    )
    pub = node3.root / "etc/ssh/ssh_host_ed25519_key.pub"
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True
    )
    fingerprint = listed.stdout.split()[1]
    with pytest.raises(HostKeyError) as refused:
        connect(target(spec_node(node3, lab, partial), tmp_path, no_config))
    assert str(refused.value) == (
        f"node3 (root@198.18.0.13:22): unknown host key (ssh-ed25519 {fingerprint}); "
        f"not in {partial}; check it on the node, then add it there"
    )


def test_the_nodes_reach_each_other_over_the_bridge(lab: Lab) -> None:
    for node in lab.nodes:
        for other in lab.nodes:
            if other is node:
                continue
            # A TCP connection to the other's sshd, which answers with its own key.
            out = node.check(f"ssh-keyscan -t ed25519 {other.address} 2>/dev/null")
            assert set(out.splitlines()) == {
                line for line in known(lab, other) if " ssh-ed25519 " in line
            }


def test_systemd_runs_a_unit_with_a_dynamic_user_and_a_credential(lab: Lab) -> None:
    node = lab.node("node2")
    out = node.check(
        "systemd-run --wait --pipe --quiet -p DynamicUser=yes "
        "-p LoadCredential=name:/etc/hostname "
        """sh -c 'cat "$CREDENTIALS_DIRECTORY/name"; id -u'"""
    )
    name, uid = out.split()
    assert name == "node2"
    assert int(uid) in DYNAMIC_UIDS


def test_each_node_s_units_are_its_own(lab: Lab) -> None:
    # The same unit on every node: acting on it on one node acts on that node alone (nodes
    # sharing their cgroups made this `systemctl kill` fail with EIO).
    for node in lab.nodes:
        node.check("systemd-run --quiet --unit=lab-probe sleep 600")
    first, *others = lab.nodes
    first.check("systemctl kill lab-probe")
    for other in others:
        assert other.check("systemctl is-active lab-probe") == "active\n"
        other.check("systemctl stop lab-probe")


def test_a_node_powered_off_and_booted_again_keeps_its_files(lab: Lab) -> None:
    node = lab.node("node3")
    node.check("echo kept > /root/lab-kept && echo gone > /run/lab-gone")
    node.poweroff()
    assert not node.running
    assert not reachable(node.address)
    assert (node.root / "root/lab-kept").read_text() == "kept\n"
    node.boot()
    assert node.check("cat /root/lab-kept") == "kept\n"
    # /run is a fresh tmpfs: the node really booted again, it was not merely reconnected.
    assert node.run("test -e /run/lab-gone")[0] == 1


def test_a_node_killed_stops_at_once_and_boots_again(lab: Lab) -> None:
    node = lab.node("node2")
    node.check("echo before > /root/lab-killed")
    node.kill()
    assert not node.running
    # Nothing of the node is left: not even its sshd (which outlives a killed nspawn).
    assert not reachable(node.address)
    node.boot()
    assert node.check("cat /root/lab-killed") == "before\n"

"""Faults, each one line, then convergence on a rerun with nothing lost: a node powered off at
plan time or during an apply, picluster killed in the middle of a host apply, and a config the
server refuses to start with."""

from __future__ import annotations

import re
import subprocess

import pytest

from compiler.apply.hosts_apply import apply_hosts
from compiler.apply.tree import current
from compiler.errors import HostError

from .cluster import CONFIG, UNIT, Cluster

pytestmark = [pytest.mark.lab, pytest.mark.integration]

RECORD = "/var/lib/picluster/hosts.sha256"
POLICY = "/etc/openbao/policy/lab-extra.hcl"


def add_policy(cluster: Cluster, name: str) -> None:
    """A change that restarts nothing: one more policy file on every node."""
    cluster.vault["policies"][name] = [{"path": f"secret/{name}/*", "capabilities": ["read"]}]
    cluster.compile()


def test_a_node_powered_off_at_plan_time_means_nothing_is_written_anywhere(
    cluster: Cluster,
) -> None:
    add_policy(cluster, "lab-extra")
    node3 = cluster.lab.node("node3")
    records = {n.name: cluster.file_hash(n, RECORD) for n in cluster.lab.nodes}
    node3.poweroff()

    for command in (("plan",), ("apply",)):
        run = cluster.cli(*command)
        assert run.code == 1, str(run)
        assert re.fullmatch(
            r"node3 \(root@198\.18\.0\.13:22\): unreachable \((connection refused|timed out|"
            r"No route to host)\)",
            run.err.strip(),
        ), run.err
        assert "Vault" not in run.out  # the Vault side was not reached either
    for node in cluster.lab.nodes[:2]:
        assert not (node.root / POLICY.lstrip("/")).exists()
        assert cluster.file_hash(node, RECORD) == records[node.name]

    node3.boot()
    cluster.wait_converged()
    run = cluster.ok("apply")
    assert "hosts: applied; nothing needed a restart" in run.lines
    for node in cluster.lab.nodes:
        assert (node.root / POLICY.lstrip("/")).exists()


def test_a_node_lost_during_an_apply_is_one_line_and_a_rerun_converges(cluster: Cluster) -> None:
    add_policy(cluster, "lab-lost")
    node3 = cluster.lab.node("node3")
    lines: list[str] = []

    def progress(node: str, line: str) -> None:
        lines.append(f"{node}: {line}")
        if node == "node3" and line.startswith("send "):
            node3.kill()  # the power is cut while picluster sends it its files

    with pytest.raises(HostError) as lost:
        apply_hosts(
            current(cluster.work / "picluster.yaml", cluster.work / "out"),
            progress=progress,
            token=cluster.root_token,
        )
    assert re.fullmatch(
        r"node3 \(root@198\.18\.0\.13:22\): connection lost \(.+\)", str(lost.value)
    ), str(lost.value)
    assert "node1: done" in lines
    assert "node2: done" in lines
    policy = "/etc/openbao/policy/lab-lost.hcl"
    assert (cluster.lab.node("node1").root / policy.lstrip("/")).exists()
    assert not (node3.root / policy.lstrip("/")).exists()  # nothing was put in place there

    node3.boot()
    cluster.wait_converged()
    run = cluster.ok("apply")
    assert [line for line in run.lines if not line.startswith("node3")][:2] == [
        "node1: up to date",
        "node2: up to date",
    ]
    assert (node3.root / policy.lstrip("/")).exists()


def test_picluster_killed_in_a_host_apply_leaves_nothing_the_next_plan_cannot_see(
    cluster: Cluster,
) -> None:
    cluster.vault["log_level"] = "error"  # the server unit: daemon-reload and a restart
    cluster.compile()
    killed: list[str] = []

    def kill_at_the_first_reload(line: str, process: subprocess.Popen[str]) -> None:
        # The first node's files are all in place, and its restart is still to come.
        found = re.match(r"^(node\d): systemctl daemon-reload$", line)
        if found and not killed:
            killed.append(found.group(1))
            process.kill()

    run, _ = cluster.stream("apply", "--only", "hosts", on_line=kill_at_the_first_reload)
    assert run.code == -9
    (first,) = killed
    node = cluster.lab.node(first)
    assert "-log-level=error" in (node.root / f"etc/systemd/system/{UNIT}").read_text()
    assert not cluster.runs_its_files(node)  # new unit on disk, the old server still running

    plan = cluster.ok("plan", "--only", "hosts")
    assert (
        f"{first} (root@{node.address}:22): 0 to create, 0 to change, 0 to remove; restart {UNIT}"
    ) in plan.lines
    assert f"  * systemctl restart {UNIT} (left pending by an earlier apply)" in plan.lines
    for other in cluster.lab.nodes:
        if other.name != first:
            assert (
                f"{other.name} (root@{other.address}:22): 0 to create, 1 to change, 0 to "
                f"remove; restart {UNIT}"
            ) in plan.lines, plan.out

    rerun = cluster.ok("apply", "--only", "hosts")
    assert sorted(line.split(":")[0] for line in rerun.lines if f"restart {UNIT}" in line) == [
        "node1",
        "node2",
        "node3",
    ]
    cluster.wait_converged()
    for each in cluster.lab.nodes:
        assert cluster.runs_its_files(each)
    again = cluster.ok("apply", "--only", "hosts")
    assert again.lines[-1] == "hosts: no changes; every node matches the spec"


def test_a_config_the_server_refuses_is_rolled_back_and_the_cluster_stays_unsealed(
    cluster: Cluster,
) -> None:
    active = cluster.active()
    first, second = [n.name for n in cluster.lab.nodes if n.name != active]
    configs = {n.name: cluster.file_hash(n, CONFIG) for n in cluster.lab.nodes}
    # An address none of the nodes has: the server cannot bind its listener.
    cluster.vault["listen_address"] = "198.18.0.99"
    cluster.compile()
    run = cluster.cli("apply", "--only", "hosts")
    assert run.code == 1
    where = {n.name: f"{n.name} (root@{n.address}:22)" for n in cluster.lab.nodes}
    assert run.err.splitlines() == [
        f"{where[first]}: {UNIT} failed to restart (Error initializing listener of type tcp: "
        "listen tcp 198.18.0.99:8200: bind: cannot assign requested address); previous files "
        f"restored and {UNIT} restarted",
        *(
            f"{where[n]}: not restarted: the rollout stopped at {first}; run `picluster apply` "
            "again once it is back"
            for n in (second, active)
        ),
    ]
    assert {n.name: cluster.file_hash(n, CONFIG) for n in cluster.lab.nodes} == configs
    raft = cluster.wait_converged()  # all three unsealed, the cluster whole
    assert sorted(raft) == ["node1", "node2", "node3"]
    assert cluster.runs_its_files(cluster.lab.node(first))

    del cluster.vault["listen_address"]
    cluster.compile()
    assert cluster.ok("apply", "--only", "hosts").lines[-1] == (
        "hosts: no changes; every node matches the spec"
    )

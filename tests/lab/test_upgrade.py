"""A new ``vault.version`` with its pin upgrades the cluster in the servers' recommended order:
standbys first, one at a time, the active node last; the plan shows that order."""

from __future__ import annotations

import pytest

from .cluster import NEW, OLD, UNIT, Cluster, sha256, wheel

pytestmark = [pytest.mark.lab, pytest.mark.integration]


def version(cluster: Cluster, name: str) -> str:
    """What the server says it runs (sys/health's ``version``)."""
    answer: str = cluster.get(name, "sys/health").json()["version"]
    return answer


def test_a_new_version_is_installed_standbys_first_the_active_node_last(cluster: Cluster) -> None:
    assert cluster.vault["version"] == OLD
    assert {version(cluster, n.name) for n in cluster.lab.nodes} == {OLD}
    active = cluster.active()
    standbys = [n.name for n in cluster.lab.nodes if n.name != active]
    cluster.vault["version"] = NEW
    cluster.vault["install"]["sha256"] = sha256(wheel(NEW))
    cluster.compile()

    plan = cluster.ok("plan", "--only", "hosts")
    for node in cluster.lab.nodes:
        assert (
            f"{node.name} (root@{node.address}:22): 0 to create, 1 to change, 0 to remove; "
            f"upgrade and restart {UNIT}"
        ) in plan.lines
    assert plan.lines[-1] == (
        f"upgrade order: {standbys[0]} (standby, {OLD}), {standbys[1]} (standby, {OLD}), "
        f"{active} (active, {OLD}); one at a time, each back unsealed and a healthy raft voter "
        "before the next"
    )

    run = cluster.ok("apply", "--only", "hosts")
    restarted = [line.split(":")[0] for line in run.lines if line.endswith(f"restart {UNIT}")]
    assert restarted == [*standbys, active]
    for name in restarted:
        assert f"{name}: back: " in "\n".join(run.lines)
    raft = cluster.wait_converged()
    assert sorted(raft) == ["node1", "node2", "node3"]
    assert {version(cluster, n.name) for n in cluster.lab.nodes} == {NEW}
    assert cluster.active() != active

"""A node powered off and booted again comes back unsealed and in the raft cluster by itself:
systemd starts the server from the generated unit, and the generated unseal unit unseals it."""

from __future__ import annotations

import pytest

from .cluster import UNSEAL_UNIT, Cluster, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.integration]


def test_the_active_node_rebooted_comes_back_unsealed_into_the_cluster_by_itself(
    cluster: Cluster,
) -> None:
    active = cluster.active()
    node = cluster.lab.node(active)
    node.poweroff()
    assert cluster.health(active) == 0
    # The two others elect a new leader among themselves and go on serving.
    others = [n.name for n in cluster.lab.nodes if n.name != active]
    wait_for("a new active node", lambda: True if 200 in map(cluster.health, others) else None)

    node.boot()  # no picluster here: only what the node's own units do at boot
    raft = cluster.wait_converged()
    assert raft[active] == ("voter", True)
    assert cluster.health(active) == 429  # back as a standby of the new leader
    journal = node.check(f"journalctl -b -u {UNSEAL_UNIT} -o cat")
    assert "unsealed" in journal.splitlines(), journal

"""A change that needs a restart: one node at a time, standbys first and the active node last,
each unsealed and a healthy raft voter again before the next; a reader never loses the
cluster for more than the one leader election; a node that comes back sealed stops it."""

from __future__ import annotations

import re

import pytest

from .cluster import (
    UNIT,
    Cluster,
    outages,
    reader,
    unseal_by_hand,
)

pytestmark = [pytest.mark.lab, pytest.mark.integration]

RESTART = re.compile(rf"^(node\d): systemctl restart {UNIT}$")
BACK = re.compile(r"^(node\d): back: (.*)$")


def restarts(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := RESTART.match(line))]


def unit_says(cluster: Cluster, name: str, level: str) -> bool:
    node = cluster.lab.node(name)
    return f"-log-level={level}" in node.check(f"systemctl cat {UNIT}")


def test_a_restart_goes_standbys_first_the_active_node_last_each_back_before_the_next(
    cluster: Cluster,
) -> None:
    written = cluster.session.post(
        f"{cluster.url('node1')}/v1/secret/data/lab",
        headers={"X-Vault-Token": cluster.root_token},
        json={"data": {"seen": "yes"}},
        timeout=5,
    )
    assert written.status_code == 200, written.text
    active = cluster.active()
    standbys = [n.name for n in cluster.lab.nodes if n.name != active]
    cluster.vault["log_level"] = "debug"  # the server unit's command line: a restart
    cluster.compile()
    plan = cluster.ok("plan", "--only", "hosts")
    assert plan.lines[-1] == (
        f"restart order: {standbys[0]} (standby), {standbys[1]} (standby), {active} (active); "
        "one at a time, each back unsealed and a healthy raft voter before the next"
    )

    with reader(cluster) as rounds:
        run, timed = cluster.stream("apply", "--only", "hosts")
    assert run.code == 0, str(run)
    lines = run.lines
    assert restarts(lines) == [*standbys, active]
    # Each node is back, a healthy voter, before the next one is restarted.
    for earlier, later in zip(restarts(lines), restarts(lines)[1:], strict=False):
        back = next(i for i, line in enumerate(lines) if line.startswith(f"{earlier}: back: "))
        restart = lines.index(f"{later}: systemctl restart {UNIT}")
        assert back < restart
        assert "healthy raft voter" in lines[back]

    # No read failed but while the active node handed over: at most one outage, inside the
    # restart of the active node (from its restart until it was back).
    began = next(t for t, line in timed if line == f"{active}: systemctl restart {UNIT}")
    ended = next(t for t, line in timed if line.startswith(f"{active}: back: "))
    windows = outages(rounds)
    assert len(windows) <= 1, windows
    for start, end in windows:
        assert began <= start, (windows, began, ended)
        assert end <= ended, (windows, began, ended)
    assert sum(1 for _, ok in rounds if ok) > 10

    for node in cluster.lab.nodes:
        assert unit_says(cluster, node.name, "debug")
        assert cluster.runs_its_files(node)
    cluster.wait_converged()
    assert cluster.active() != active  # the old active node stepped down to a standby


def test_a_node_that_comes_back_sealed_stops_the_rollout_and_a_rerun_continues(
    cluster: Cluster,
) -> None:
    cluster.vault["unseal"]["service"] = False  # nothing unseals a restarted node now
    off = cluster.converge()
    for node in cluster.lab.nodes:
        assert f"{node.name}: systemctl disable --now openbao-unseal.service" in off.lines
    assert not restarts(off.lines)

    active = cluster.active()
    first, second = [n.name for n in cluster.lab.nodes if n.name != active]
    cluster.vault["log_level"] = "warn"
    cluster.compile()
    stopped = cluster.cli("apply", "--only", "hosts")
    assert stopped.code == 1, str(stopped)
    url = cluster.url(first)
    assert stopped.err.splitlines() == [
        f"{first} (root@{cluster.lab.node(first).address}:22): {UNIT} restarted and is sealed, "
        "and nothing on the node unseals it (vault.unseal.service is false): unseal it with 2 "
        f"key(s) (`bao operator unseal` or `vault operator unseal` against {url}), then run "
        "`picluster apply` again",
        *(
            f"{n} (root@{cluster.lab.node(n).address}:22): not restarted: the rollout stopped at "
            f"{first}; run `picluster apply` again once it is back"
            for n in (second, active)  # in restart order
        ),
    ]
    assert restarts(stopped.lines) == [first]
    assert cluster.health(first) == 503  # sealed, as said
    # The nodes after it were not touched: their unit still has the old log level.
    assert unit_says(cluster, first, "warn")
    assert unit_says(cluster, second, "debug")
    assert unit_says(cluster, active, "debug")

    unseal_by_hand(cluster, first)
    rerun = cluster.cli("apply", "--only", "hosts")
    assert rerun.code == 1, str(rerun)
    assert restarts(rerun.lines) == [second], str(rerun)  # the first is not restarted again
    assert unit_says(cluster, second, "warn"), str(rerun)

    # The second is sealed now: restarting the active node would leave one server of three.
    refused = cluster.cli("apply", "--only", "hosts")
    assert refused.code == 1, str(refused)
    assert refused.err.splitlines() == [
        f"{active} (root@{cluster.lab.node(active).address}:22): not restarted: only 1 of the "
        f"other servers ({first}) are unsealed, and a cluster of 3 keeps its quorum through a "
        f"restart only with 2; unseal {second} first, then run `picluster apply` again"
    ]
    assert not restarts(refused.lines)

    unseal_by_hand(cluster, second)
    cluster.vault["unseal"]["service"] = True
    done = cluster.converge()
    assert restarts(done.lines) == [active]
    assert f"{active}: systemctl enable openbao-unseal.service" in done.lines
    cluster.wait_converged()
    for node in cluster.lab.nodes:
        assert unit_says(cluster, node.name, "warn")
        assert cluster.runs_its_files(node)

"""The restart order and the rollout's turns (pure, and threads; no server needed)."""

from __future__ import annotations

import threading
import time

import pytest

from compiler.apply.rolling import Probe, Rollout, needed, order
from compiler.errors import HostError


def test_servers_that_serve_nothing_go_first_and_the_active_node_last() -> None:
    probes = [
        ("node1", Probe("active", "2.7.1", True)),
        ("node2", Probe("standby", "2.7.1", True)),
        ("node3", Probe("sealed", "", True)),
        ("node4", Probe("standby", "2.7.1", True)),
        ("node5", Probe("down")),
    ]
    assert [(t.node, t.state) for t in order(probes)] == [
        ("node3", "sealed"),
        ("node5", "down"),
        ("node2", "standby"),
        ("node4", "standby"),
        ("node1", "active"),
    ]


@pytest.mark.parametrize(("count", "others"), [(1, 0), (2, 1), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_a_restart_needs_a_majority_of_the_cluster_among_the_others(
    count: int, others: int
) -> None:
    # Raft's quorum is a majority of the voters, floor(n/2)+1 (raft.github.io); one or two
    # servers cannot keep it through a restart, so those need all the others.
    assert needed(count) == others


def test_nodes_take_their_turns_in_order_whatever_order_they_arrive_in() -> None:
    rollout = Rollout(["b", "c", "a"], {})
    entered: list[str] = []

    def run(name: str) -> None:
        with rollout.turn(name, name):
            entered.append(name)
            time.sleep(0.01)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert entered == ["b", "c", "a"]


def test_a_failed_turn_stops_the_rollout_before_the_next_node() -> None:
    rollout = Rollout(["b", "c", "a"], {})
    results: dict[str, str] = {}

    def run(name: str) -> None:
        try:
            with rollout.turn(name, f"{name} (x)"):
                if name == "b":
                    raise HostError("b (x): came back sealed")
                results[name] = "restarted"
        except HostError as exc:
            results[name] = str(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "c", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == {
        "b": "b (x): came back sealed",
        "c": "c (x): not restarted: the rollout stopped at b; run `picluster apply` again "
        "once it is back",
        "a": "a (x): not restarted: the rollout stopped at b; run `picluster apply` again "
        "once it is back",
    }


def test_a_node_that_failed_before_its_turn_stops_the_nodes_after_it() -> None:
    rollout = Rollout(["b", "c"], {})
    rollout.forfeit("b")  # its transfer failed: it never takes its turn
    with pytest.raises(HostError) as stopped, rollout.turn("c", "c (x)"):
        pass
    assert str(stopped.value).startswith("c (x): not restarted: the rollout stopped at b;")

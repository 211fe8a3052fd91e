"""Benchmark: the host apply to three nodes (three local sshd): a first apply and a no-op.

Run by hand (not a test), as root for owners: ``python bench/apply_bench.py``. Each run gets
fresh node roots; the figure is the median wall time of ``core.apply_all`` on the hosts side
(check out/, connect, read state, plan, transfer, commit, stand-in systemctl, health) over
several runs, with the 1 MiB stand-in binary of the test world.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.apply import core  # noqa: E402
from tests.integration import hosts_world  # noqa: E402

RUNS = 5
NODES = 3


class Quiet:
    """Apply's progress, dropped: the benchmark times the work, not the printing."""

    def host(self, node: str, line: str) -> None:
        pass

    def step(self, number: int, total: int, step: object) -> None:
        pass


def main() -> None:
    # A binary of a realistic-ish size makes the transfer show in the figures.
    hosts_world.BINARY = b"#!/bin/sh\n" + b"#" * (1 << 20) + b"\n"
    first, again = [], []
    with tempfile.TemporaryDirectory() as tmp, hosts_world.world(Path(tmp), NODES) as w:
        w.tree()  # compiled into out/ beside the spec, as a user compiles before applying
        options = core.Options(
            spec_path=w.directory / "picluster.yaml",
            out_dir=w.directory / "out",
            only="hosts",
            root=str(w.directory / "roots" / "{node}"),
        )
        for _ in range(RUNS):
            shutil.rmtree(w.directory / "roots", ignore_errors=True)
            start = time.perf_counter()
            core.apply_all(options, Quiet())
            first.append(time.perf_counter() - start)
            start = time.perf_counter()
            outcome = core.apply_all(options, Quiet())
            again.append(time.perf_counter() - start)
            assert outcome.hosts is not None
            assert not outcome.hosts.plan.changed
            assert outcome.hosts.restarted == []
    rows = [
        ("first apply (user, 6 dirs, 11 files each, restarts)", first),
        ("no-op re-apply (nothing sent, nothing restarted)", again),
    ]
    print(f"| case ({NODES} nodes, median of {RUNS}) | wall time |")
    print("|---|---|")
    for name, times in rows:
        print(f"| {name} | {statistics.median(times) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()

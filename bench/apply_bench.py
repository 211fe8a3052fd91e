"""Benchmark: the host apply to three nodes (three local sshd): a first apply and a no-op.

Run by hand (not a test), as root for owners: ``python bench/apply_bench.py``. Each run gets
fresh node roots; the figure is the median wall time of ``apply_hosts`` (connect, read state,
plan, transfer, commit, stand-in systemctl, health) over several runs, with the 1 MiB stand-in
binary of the test world.
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

from compiler.apply.hosts_apply import apply_hosts  # noqa: E402
from tests.integration import hosts_world  # noqa: E402

RUNS = 5
NODES = 3


def main() -> None:
    # A binary of a realistic-ish size makes the transfer show in the figures.
    hosts_world.BINARY = b"#!/bin/sh\n" + b"#" * (1 << 20) + b"\n"
    first, again = [], []
    with tempfile.TemporaryDirectory() as tmp, hosts_world.world(Path(tmp), NODES) as w:
        build = w.build()
        root = str(w.directory / "roots" / "{node}")
        for _ in range(RUNS):
            shutil.rmtree(w.directory / "roots", ignore_errors=True)
            start = time.perf_counter()
            apply_hosts(build, base_dir=w.directory, root=root, health_timeout=10)
            first.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = apply_hosts(build, base_dir=w.directory, root=root)
            again.append(time.perf_counter() - start)
            assert not result.plan.changed
            assert result.restarted == []
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

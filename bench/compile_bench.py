"""Benchmark: `picluster compile` on the reference spec and on generated large specs.

Run by hand (not a test): ``python bench/compile_bench.py``. Prints a Markdown table for the
README. Each figure is the median wall time of several runs of a fresh process, as a user or a
pre-commit hook would see it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler import yamlio  # noqa: E402

RUNS = 7


def timed(argv: list[str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def large_spec(n: int, nodes: int = 5) -> dict[str, Any]:
    policies = {
        f"app-{i}": [
            {"path": f"secret/data/app-{i}/*", "capabilities": ["read"]},
            {"path": f"secret/metadata/app-{i}/*", "capabilities": ["list"]},
        ]
        for i in range(n)
    }
    roles = {
        f"app-{i}": {
            "service_accounts": [f"app-{i}"],
            "namespaces": [f"ns-{i % 50}"],
            "policies": [f"app-{i}"],
            "ttl": "1h",
        }
        for i in range(n)
    }
    return {
        "vault": {
            "distribution": "openbao",
            "version": "2.4.1",
            "nodes": [
                {
                    "name": f"bao{k}",
                    "address": f"10.0.0.{20 + k}",
                    "dns": f"bao{k}.homelab.example.com",
                }
                for k in range(1, nodes + 1)
            ],
            "unseal": {"key_shares": 5, "key_threshold": 3},
            "secrets_engines": [{"path": "secret", "version": 2}],
            "policies": policies,
            "kubernetes_auth": {"host": "https://10.0.0.10:6443", "roles": roles},
        }
    }


def main() -> None:
    picluster = str(Path(sys.executable).parent / "picluster")
    rows = []
    baseline = timed([sys.executable, "-c", "import jinja2, yaml"])
    rows.append(("python -c 'import jinja2, yaml' (baseline)", baseline, ""))
    with tempfile.TemporaryDirectory() as tmp:
        ref = timed([picluster, "compile", "picluster.yaml", "-o", f"{tmp}/ref"])
        rows.append(("compile picluster.yaml", ref, f"{ref / baseline:.1f}x baseline"))
        check = timed([picluster, "compile", "--check"])
        rows.append(("compile --check picluster.yaml", check, f"{check / baseline:.1f}x baseline"))
        for n in (250, 500, 1000):
            spec = Path(tmp) / f"spec-{n}.yaml"
            spec.write_bytes(yamlio.dump(large_spec(n)))
            t = timed([picluster, "compile", str(spec), "-o", f"{tmp}/out-{n}"], runs=3)
            files = sum(1 for p in Path(tmp, f"out-{n}").rglob("*") if p.is_file())
            rows.append((f"compile {n} policies + {n} roles, 5 nodes", t, f"{files} files"))
    print("| case | median wall time | note |\n|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds * 1000:.0f} ms | {note} |")


if __name__ == "__main__":
    main()

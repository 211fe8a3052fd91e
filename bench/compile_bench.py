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


# Runs a command and prints its peak resident memory (KiB), measured by the parent of the
# command alone so that each figure belongs to one run.
_PEAK = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, capture_output=True);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def timed(argv: list[str], runs: int = RUNS, before: list[str] | None = None) -> tuple[float, int]:
    """Median wall time of ``argv`` (after ``before``, untimed, each run) and its peak RSS."""
    times, peaks = [], []
    for _ in range(runs):
        if before:
            subprocess.run(before, check=True, capture_output=True, cwd=ROOT)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, *argv],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
        times.append(time.perf_counter() - start)
        peaks.append(int(out.split()[-1]))
    return statistics.median(times), max(peaks)


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
    # The store reads every app's secret: its role carries every app's policy (validate
    # decides each ExternalSecret for it, a thousand rules deep).
    roles["external-secrets"] = {
        "service_accounts": ["external-secrets"],
        "namespaces": ["external-secrets"],
        "policies": [f"app-{i}" for i in range(n)],
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
            "kubernetes_auth": {
                "host": "https://10.0.0.10:6443",
                # OpenBao refuses the auth config without the cluster's CA (validate too).
                "ca_cert": str(ROOT / "pki" / "k3s-server-ca.crt"),
                "roles": roles,
            },
        },
        "kubernetes": {
            "gitops": "plain",
            "external_secrets": {
                "stores": [{"name": "vault-backend", "path": "secret", "role": "external-secrets"}],
                "secrets": [
                    {
                        "name": f"app-{i}",
                        "namespace": f"ns-{i % 50}",
                        "store": "vault-backend",
                        "data": {"password": f"app-{i}/db#password"},
                    }
                    for i in range(n)
                ],
            },
        },
    }


def main() -> None:
    picluster = str(Path(sys.executable).parent / "picluster")
    rows = []
    baseline, base_rss = timed([sys.executable, "-c", "import jinja2, yaml"])
    rows.append(("python -c 'import jinja2, yaml' (baseline)", baseline, base_rss, ""))
    help_time, help_rss = timed([picluster, "--help"])
    rows.append(("picluster --help", help_time, help_rss, f"{help_time / baseline:.1f}x baseline"))
    with tempfile.TemporaryDirectory() as tmp:
        fresh = [picluster, "compile", "picluster.yaml", "-o", f"{tmp}/ref"]
        t, rss = timed(fresh, before=["rm", "-rf", f"{tmp}/ref"])
        rows.append(
            (
                "compile picluster.yaml into an empty dir (verifies all)",
                t,
                rss,
                f"{t / baseline:.1f}x baseline",
            )
        )
        t, rss = timed(fresh)
        rows.append(
            ("recompile picluster.yaml, nothing changed", t, rss, f"{t / baseline:.1f}x baseline")
        )
        t, rss = timed([picluster, "compile", "--check"])
        rows.append(
            ("compile --check on the committed out/", t, rss, f"{t / baseline:.1f}x baseline")
        )
        for n in (250, 500, 1000):
            spec = Path(tmp) / f"spec-{n}.yaml"
            spec.write_bytes(yamlio.dump(large_spec(n)))
            out = f"{tmp}/out-{n}"
            t, rss = timed(
                [picluster, "compile", str(spec), "-o", out], runs=3, before=["rm", "-rf", out]
            )
            files = sum(1 for p in Path(out).rglob("*") if p.is_file())
            name = f"{n} policies, roles and ExternalSecrets, 5 nodes"
            rows.append((f"compile {name} into an empty dir", t, rss, f"{files} files"))
            t, rss = timed([picluster, "compile", str(spec), "-o", out], runs=3)
            rows.append((f"recompile {name}, nothing changed", t, rss, ""))
            t, rss = timed([picluster, "compile", str(spec), "-o", out, "--check"], runs=3)
            rows.append((f"compile --check {name}", t, rss, ""))
            t, rss = timed([picluster, "validate", str(spec)], runs=3)
            rows.append((f"validate {name} (access checks included)", t, rss, ""))
            t, rss = timed([picluster, "access", str(spec)], runs=3)
            rows.append((f"access {name}", t, rss, ""))
        # What this machine's filesystem charges for creating that many files, for scale.
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        start = time.perf_counter()
        for i in range(files):
            (scratch / f"f{i}").write_bytes(b"x\n")
        rows.append(
            (
                f"create {files} small files, no picluster",
                time.perf_counter() - start,
                0,
                "the floor of a first compile",
            )
        )
    print("| case | median wall time | peak RSS | note |\n|---|---|---|---|")
    for name, seconds, kib, note in rows:
        memory = f"{kib / 1024:.0f} MiB" if kib else ""
        print(f"| {name} | {seconds * 1000:.0f} ms | {memory} | {note} |")


if __name__ == "__main__":
    main()

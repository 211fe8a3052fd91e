"""Helpers shared by the tests: external programs, and specs compiled in memory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler import yamlio
from compiler.pipeline import Build, build

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "picluster.yaml"
REQUIRE = os.environ.get("PICLUSTER_REQUIRE_INTEGRATION") == "1"


def need(*programs: str) -> dict[str, str]:
    """The full paths of ``programs``; skip the test when one is missing, or fail under
    ``PICLUSTER_REQUIRE_INTEGRATION=1`` (CI), where a skip would hide a missing install step."""
    found = {p: shutil.which(p) for p in programs}
    absent = [p for p, path in found.items() if path is None]
    if absent:
        message = f"not installed: {', '.join(absent)}"
        if REQUIRE:
            pytest.fail(f"{message} (PICLUSTER_REQUIRE_INTEGRATION=1)")
        pytest.skip(message)
    return {p: str(path) for p, path in found.items()}


def write_spec(directory: Path, data: dict[str, Any], name: str = "picluster.yaml") -> Path:
    """Write ``data`` as a spec file in ``directory``."""
    path = directory / name
    path.write_bytes(yamlio.dump(data))
    return path


def compile_data(directory: Path, data: dict[str, Any]) -> Build:
    """Compile ``data`` in memory (written to ``directory`` first, as a user would)."""
    return build(write_spec(directory, data))


def by_path(b: Build) -> dict[str, bytes]:
    return {a.path: a.data for a in b.artifacts}


def minimal(**vault: Any) -> dict[str, Any]:
    """A small valid spec; keyword arguments replace keys of ``vault``."""
    base: dict[str, Any] = {
        "version": "2.1.0",
        "nodes": [{"name": "node1", "address": "127.0.0.1", "dns": "localhost"}],
    }
    base.update(vault)
    return {"vault": base}

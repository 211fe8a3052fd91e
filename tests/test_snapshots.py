"""Every artifact of the reference spec and of the three-node OpenBao example, as a golden file.

Update with ``pytest tests/test_snapshots.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

from typing import Any

import pytest

from compiler.pipeline import build
from tests.support import REFERENCE, ROOT

SPECS = {"reference": REFERENCE, "openbao-ha": ROOT / "examples" / "openbao-ha" / "picluster.yaml"}
CASES = [
    pytest.param(
        name, artifact.path, artifact.text, id=f"{name}--{artifact.path.replace('/', '--')}"
    )
    for name, path in SPECS.items()
    for artifact in build(path).artifacts
]


@pytest.mark.parametrize(("spec", "path", "text"), CASES)
def test_artifact(spec: str, path: str, text: str, snapshot_file: Any) -> None:
    assert text == snapshot_file

"""``out/manifest.json``: what picluster generated, with hashes, node modes and owners.

It is what lets a compile remove the files it generated before and no longer generates (and
nothing else), tell a hand edit from a spec change, and what apply reads for each file's mode
and owner on the node. It is written last, after every verifier passed. It is a record, never a
trust anchor: what was verified is kept outside out/ (``verified``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .artifact import Artifact
from .files import read_plain

MANIFEST = "manifest.json"
# The manifest names the compiler that generated the files.
GENERATOR = f"picluster {__version__}"


def build(artifacts: Iterable[Artifact], source: str) -> Artifact:
    """The manifest artifact for ``artifacts``: sorted, stable, no timestamps."""
    files = {
        a.path: {
            "sha256": a.sha256,
            "mode": f"{a.mode:04o}",
            "owner": a.owner,
            "group": a.group,
            "kind": a.kind,
        }
        for a in sorted(artifacts, key=lambda a: a.path)
    }
    body = {"generator": GENERATOR, "source": source, "files": files}
    data = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
    return Artifact(MANIFEST, data, 0o644, "manifest")


@dataclass(frozen=True)
class Manifest:
    """A manifest read back from disk (empty when there is none or it is unreadable)."""

    generator: str = ""
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256

    def owns(self, path: str) -> bool:
        return path in self.hashes


def read(out_dir: Path) -> Manifest:
    """The manifest in ``out_dir``; paths that would leave ``out_dir`` are dropped."""
    try:
        body = json.loads(read_plain(out_dir / MANIFEST).decode("utf-8"))
    except (OSError, ValueError):
        return Manifest()
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        return Manifest()
    # A manifest is data in a repository anyone can edit: never let it point outside out/.
    hashes = {
        path: str(entry.get("sha256", ""))
        for path, entry in body["files"].items()
        if _inside(path) and isinstance(entry, dict)
    }
    return Manifest(str(body.get("generator", "")), hashes)


def _inside(path: object) -> bool:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))

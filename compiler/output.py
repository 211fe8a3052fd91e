"""The ``out/`` tree: write it, compare it, and keep the manifest of what picluster generated.

The manifest (``out/manifest.json``) lists every generated file with its hash and the mode and
owner it must have on the node (git keeps only the executable bit). A compile removes the files
an earlier compile generated and this one does not, and never a file it did not generate.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .artifact import Artifact

MANIFEST = "manifest.json"
# The manifest names the compiler that verified the files: another version verifies anew.
GENERATOR = f"picluster {__version__}"


def manifest(artifacts: Iterable[Artifact], source: str) -> Artifact:
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
    data = (json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
    return Artifact(MANIFEST, data, 0o644, "manifest")


def _read_body(out_dir: Path) -> dict[str, Any]:
    try:
        body = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def verified_before(out_dir: Path, artifacts: Iterable[Artifact]) -> set[str]:
    """The artifacts this version of picluster already verified: the manifest is written only
    after every verifier passed, so an artifact whose bytes hash to its manifest entry, under
    the same generator, passed then and would pass now (verifiers depend only on the bytes)."""
    body = _read_body(out_dir)
    if body.get("generator") != GENERATOR:
        return set()
    files = read_manifest(out_dir, body)
    return {
        a.path
        for a in artifacts
        if isinstance(files.get(a.path), dict) and files[a.path].get("sha256") == a.sha256
    }


def read_manifest(out_dir: Path, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The files the previous compile generated, by path (empty when there is none)."""
    if body is None:
        body = _read_body(out_dir)
    files = body.get("files")
    if not isinstance(files, dict):
        return {}
    # A manifest is data in a repository anyone can edit: never let it point outside out/.
    return {path: entry for path, entry in files.items() if _inside(path)}


def _inside(path: object) -> bool:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _disk_mode(artifact: Artifact) -> int:
    # What git can keep: executable or not. The node mode lives in the manifest.
    return 0o755 if artifact.mode & 0o111 else 0o644


def differences(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """What differs between ``out_dir`` and ``artifacts``, one ``path: reason`` per file."""
    changes = []
    wanted = {a.path for a in artifacts}
    for artifact in sorted(artifacts, key=lambda a: a.path):
        target = out_dir / artifact.path
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            changes.append(f"{artifact.path}: missing")
            continue
        except OSError as exc:
            changes.append(f"{artifact.path}: unreadable ({exc.strerror})")
            continue
        if current != artifact.data:
            changes.append(f"{artifact.path}: differs")
        elif (target.stat().st_mode & 0o111 != 0) != (_disk_mode(artifact) & 0o111 != 0):
            changes.append(f"{artifact.path}: wrong executable bit")
    for path in sorted(set(read_manifest(out_dir)) - wanted):
        if (out_dir / path).exists():
            changes.append(f"{path}: no longer generated")
    return changes


def write(out_dir: Path, artifacts: list[Artifact]) -> list[str]:
    """Write ``artifacts`` (the manifest among them) under ``out_dir``.

    Each file is replaced atomically, and only when its bytes or mode change; files the previous
    manifest listed and ``artifacts`` does not are removed, with directories left empty.

    Returns:
        The paths written or removed, for the report.
    """
    previous = read_manifest(out_dir)
    touched = []
    # The manifest goes last, so an interrupted write still knows what it owned before.
    ordered = sorted(artifacts, key=lambda a: (a.path == MANIFEST, a.path))
    for artifact in ordered:
        target = out_dir / artifact.path
        mode = _disk_mode(artifact)
        if target.is_file() and target.read_bytes() == artifact.data:
            if target.stat().st_mode & 0o777 != mode:
                target.chmod(mode)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(artifact.data)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        touched.append(artifact.path)
    wanted = {a.path for a in artifacts}
    for path in sorted(set(previous) - wanted):
        stale = out_dir / path
        if stale.is_file():
            stale.unlink()
            touched.append(path)
            _remove_empty_parents(stale.parent, out_dir)
    return touched


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    while directory != stop and directory.is_relative_to(stop):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent

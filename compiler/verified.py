"""What this picluster has verified before, kept outside out/ where no commit can forge it.

A verifier's verdict depends only on an artifact's kind and bytes, so bytes that passed once
pass again: the pre-commit path need not verify the same unchanged files on every commit. The
record lives in the user's cache directory (``$XDG_CACHE_HOME/picluster``, else
``~/.cache/picluster``), one file per picluster version, one digest a line. ``out/manifest.json``
is not trusted for this: it is data in a repository anyone can edit, and a manifest that claims
"verified" for bytes nobody verified must not switch verification off. A cache that cannot be
read or written is no cache: everything is verified.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from . import __version__
from .artifact import Artifact

MAX_ENTRIES = 50_000  # a 1000-item spec has about 6000 artifacts; older entries are dropped


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "picluster" / f"verified-{__version__}"


def digest(artifact: Artifact) -> str:
    """What a verdict is about: the kind, then the bytes."""
    return hashlib.sha256(f"{artifact.kind}\0".encode() + artifact.data).hexdigest()


def already(artifacts: Iterable[Artifact]) -> set[str]:
    """The paths of ``artifacts`` whose kind and bytes this version verified before."""
    try:
        known = set(cache_file().read_text(encoding="ascii").split())
    except (OSError, UnicodeDecodeError):
        return set()
    return {a.path for a in artifacts if digest(a) in known}


def remember(artifacts: Iterable[Artifact]) -> None:
    """Record ``artifacts`` as verified (they all passed); silently nothing if the cache cannot
    be written."""
    path = cache_file()
    new = {digest(a) for a in artifacts}
    try:
        old = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        old = []
    if new <= set(old):
        return
    kept = [d for d in old if d not in new][-(MAX_ENTRIES - len(new)) :] + sorted(new)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        temp.write_text("\n".join(kept) + "\n", encoding="ascii")
        os.replace(temp, path)  # a reader sees the old record or the new, never half
    except OSError:
        return

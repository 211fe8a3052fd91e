"""Saved plans: ``plan --out FILE`` records a plan, ``apply --plan FILE`` runs it or nothing.

As with Terraform's saved plans, applying one never does more or other than what was shown:
apply plans again, and refuses (changing nothing) unless the new plan is the saved one. The file
holds what the plan output shows (paths, hashes, modes, Vault objects and their fields, the
reviewer JWT only as ``(sensitive)``), never a secret.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputFileError, StalePlanError

FORMAT = "picluster-plan/1"


@dataclass(frozen=True)
class SavedPlan:
    """A plan file: the options it was made with, and each side's plan document."""

    path: Path
    only: str | None
    root: str | None
    prune: bool
    destroy: tuple[str, ...]
    hosts: dict[str, Any] | None
    vault: dict[str, Any] | None


def write(
    path: Path,
    *,
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...] = (),
    hosts: dict[str, Any] | None = None,
    vault: dict[str, Any] | None = None,
) -> None:
    """Write the plan file atomically (a reader sees the old file or the new, never half)."""
    document = {
        "format": FORMAT,
        "only": only,
        "root": root,
        "prune": prune,
        "destroy_engines": sorted(destroy),
        "hosts": hosts,
        "vault": vault,
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise InputFileError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


def read(path: Path) -> SavedPlan:
    """The plan file at ``path``.

    Raises:
        InputFileError: missing, unreadable, or not a plan this picluster wrote.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
        raise InputFileError(f"{path}: not a picluster plan ({reason})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputFileError(
            f'{path}: not a picluster plan (no "format": "{FORMAT}"); make one with '
            "`picluster plan --out FILE`"
        )
    only = document.get("only")
    if only not in (None, "hosts", "vault") or not document.get(only or "hosts"):
        raise InputFileError(f"{path}: a damaged plan (its sides do not match its --only)")
    return SavedPlan(
        path=path,
        only=only,
        root=document.get("root"),
        prune=bool(document.get("prune")),
        destroy=tuple(str(p) for p in document.get("destroy_engines") or ()),
        hosts=document.get("hosts"),
        vault=document.get("vault"),
    )


def check_hosts(saved: SavedPlan, now: dict[str, Any]) -> None:
    """Refuse unless the hosts plan made now is the saved one, node by node.

    Raises:
        StalePlanError: naming the nodes whose plan changed.
    """
    before = {n["node"]: n for n in (saved.hosts or {}).get("nodes", [])}
    after = {n["node"]: n for n in _as_saved(now).get("nodes", [])}
    changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
    if changed:
        raise StalePlanError(str(saved.path), f"the plan of {', '.join(changed)} changed")


def check_vault(saved: SavedPlan, now: dict[str, Any]) -> None:
    """Refuse unless the Vault steps planned now are the saved ones (warnings may differ).

    Raises:
        StalePlanError: saying how the steps differ.
    """
    vault, now = saved.vault or {}, _as_saved(now)
    before, after = vault.get("steps", []), now.get("steps", [])
    if vault.get("address") != now.get("address"):
        why = f"Vault is {now.get('address')} now, not {vault.get('address')},"
    elif len(before) != len(after):
        why = f"Vault needs {len(after)} step(s) now, not {len(before)},"
    else:
        changed = next((a for b, a in zip(before, after, strict=True) if a != b), None)
        if changed is None:
            return
        why = f"the step {changed['action']} {changed['kind']} {changed['name']} changed"
    raise StalePlanError(str(saved.path), why)


def _as_saved(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as it reads back from a plan file (tuples become lists, keys strings), so
    that a plan made now compares equal to the same plan saved."""
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded

"""The ownership half of the Vault plan (pure): which recorded objects are gone, which a prune
may delete and what that destroys, which are kept and why, and what the record becomes.

picluster deletes only what it created and still owns exactly as it left it: an object changed
or recreated by hand since (its fingerprint differs from the record's) is reported and kept,
and a secrets engine that holds any key is never unmounted, unless the user names it with
``--destroy-engine``. An entry whose object is gone is dropped from the record.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from .connection import api_path
from .ownership import (
    KINDS,
    MOUNT,
    Ownership,
    fields_fingerprint,
    mount_fingerprint,
    text_fingerprint,
)
from .vault_desired import ROLE_FIELDS, Desired
from .vault_model import LABELS, Current, Step

MOUNTS = ("secrets_engine", "auth_method")
# Deletions run in this order: nothing goes while something may still refer to it.
ORDER = {"kubernetes_role": 0, "auth_method": 1, "policy": 2, "secrets_engine": 3}
# What deleting each kind destroys, shown on its line of the plan.
DESTROYS = {
    "kubernetes_role": "no new login with it",
    "auth_method": "every role in it goes, and every token it issued is revoked",
    "policy": "tokens that carry it lose what it grants",
}


@dataclass
class Owned:
    """The record before and after the plan, and the deletions (when pruning)."""

    before: Ownership  # as read, less the entries whose object is gone
    after: Ownership  # once the plan ran; None fingerprints: mounts this plan makes
    deletes: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def settle(
    desired: Desired,
    current: Current,
    work: list[Step],
    *,
    prune: bool,
    destroy: Collection[str] = (),
) -> Owned:
    """Decide the ownership side of a plan whose creates and updates are ``work``."""
    record = current.record or Ownership()
    before = record.copy()
    for kind in KINDS:
        for name in list(before.objects[kind]):
            if _now(kind, name, current) is _GONE:
                del before.objects[kind][name]
    after = before.copy()
    notes: list[str] = []
    stepped = {(s.kind, s.name): s for s in work}
    for kind, name in [(k, n) for k in KINDS for n in _declared(k, desired)]:
        step = stepped.get((kind, name))
        if step is not None and step.action == "create":
            after.objects[kind][name] = step.fingerprint
        elif after.owns(kind, name):  # owned and still declared: as it is after this apply
            now, recorded = _now(kind, name, current), after.objects[kind][name]
            if kind in MOUNTS and recorded is not None and now != recorded:
                # Unmounted and mounted again by hand: not the mount picluster made.
                del after.objects[kind][name]
                notes.append(
                    f"{LABELS[kind]} {name} was mounted anew by hand since picluster created it; "
                    "picluster no longer counts it as its own"
                )
                continue
            changed = step.fingerprint if step is not None and step.fingerprint else None
            after.objects[kind][name] = changed or (now if isinstance(now, str) else None)
    out = Owned(before, after, notes=notes)
    _leaving(desired, current, out, prune=prune, destroy=set(destroy))
    _jwt(desired, work, out)
    return out


def _leaving(
    desired: Desired, current: Current, out: Owned, *, prune: bool, destroy: set[str]
) -> None:
    """Owned objects the spec no longer declares: deleted (with --prune), or noted and kept."""
    candidates = sorted(
        ((k, n) for k in KINDS for n in out.before.objects[k] if n not in _declared(k, desired)),
        key=lambda c: (ORDER[c[0]], c[1]),
    )
    gone_auth = set()
    deletable: list[tuple[str, str, str]] = []  # kind, name, what it destroys
    for kind, name in candidates:
        label = f"{LABELS[kind]} {name}"
        recorded, now = out.before.objects[kind][name], _now(kind, name, current)
        if recorded is not None and now != recorded:
            out.notes.append(
                f"{label} was created by picluster, but changed or made anew by hand since; "
                "kept (delete it by hand if it should go)"
            )
            continue
        if kind == "secrets_engine":
            path = name.removesuffix("/")
            keys = current.keys.get(path)
            if (keys is None or keys > 0) and path not in destroy:
                held = "keys it may hold cannot be counted" if keys is None else f"holds {_n(keys)}"
                out.notes.append(
                    f"{label} was created by picluster and is no longer in the spec, but {held}; "
                    f"kept: `--prune --destroy-engine {path}` unmounts it and destroys them"
                )
                continue
            what = "unmounts it" + (f" and destroys its {_n(keys)}" if keys else "")
            deletable.append((kind, name, what))
        else:
            deletable.append((kind, name, DESTROYS[kind]))
        if kind == "auth_method":
            gone_auth.add(name.removesuffix("/"))
    if not prune:
        out.notes += [
            f"{LABELS[k]} {n} was created by picluster and is no longer in the spec; "
            f"`--prune` deletes it ({what})"
            for k, n, what in deletable
        ]
        return
    for kind, name, what in deletable:
        if kind == "kubernetes_role" and name.rsplit("/", 1)[0] in gone_auth:
            continue  # it goes with its auth method
        out.deletes.append(Step("delete", kind, name, "DELETE", _path(kind, name), destroys=what))
        del out.after.objects[kind][name]


def _jwt(desired: Desired, work: list[Step], out: Owned) -> None:
    """The reviewer JWT's fingerprint is recorded once the config write that sends it ran."""
    for path in list(out.after.jwt):
        if not out.after.owns("auth_method", f"{path}/") and path != desired.auth_path:
            del out.after.jwt[path]
    if desired.auth_path is not None and any(s.kind == "kubernetes_config" for s in work):
        out.after.jwt.pop(desired.auth_path, None)
        if desired.jwt_sha256 is not None:
            out.after.jwt[desired.auth_path] = desired.jwt_sha256


def _n(keys: int) -> str:
    return f"{keys}{'+' if keys >= 1000 else ''} key{'s' if keys != 1 else ''}"


def _declared(kind: str, desired: Desired) -> set[str]:
    if kind == "secrets_engine":
        return {f"{p}/" for p in desired.engines}
    if kind == "auth_method":
        return {f"{desired.auth_path}/"} if desired.auth_path is not None else set()
    if kind == "policy":
        return set(desired.policies)
    return set(desired.roles)


class _Gone:
    """The object is not on the server."""


_GONE = _Gone()


def _now(kind: str, name: str, current: Current) -> str | _Gone | None:
    """The fingerprint the object has on the server now (None: it has none to read)."""
    if kind == "secrets_engine":
        mount = current.mounts.get(name.removesuffix("/"))
        return _GONE if mount is None or name == f"{MOUNT}/" else mount_fingerprint(mount)
    if kind == "auth_method":
        mount = current.auth.get(name.removesuffix("/"))
        return _GONE if mount is None else mount_fingerprint(mount)
    if kind == "policy":
        text = current.policies.get(name)
        return _GONE if text is None else text_fingerprint(text)
    role = current.roles.get(name)
    return _GONE if role is None else fields_fingerprint(role_fields(role))


def role_fields(role: dict[str, Any]) -> dict[str, Any]:
    """A role as the server answers it, cut to the fields picluster writes."""
    return {k: role.get(k, "" if k == "audience" else None) for k in ROLE_FIELDS}


def _path(kind: str, name: str) -> str:
    if kind == "secrets_engine":
        return api_path("sys/mounts", name.removesuffix("/"))
    if kind == "auth_method":
        return api_path("sys/auth", name.removesuffix("/"))
    if kind == "policy":
        return api_path("sys/policies/acl", name)
    auth, role = name.rsplit("/", 1)
    return api_path("auth", auth, "role", role)

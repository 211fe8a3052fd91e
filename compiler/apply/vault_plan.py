"""The Vault plan: desired state and current state in, the ordered steps out (pure: no I/O).

Ownership: picluster records the objects it created in a KV v2 document, ``picluster/ownership``,
on a mount of its own (``picluster/``) that no spec may declare (``ownership``). It lives in
Vault, so it survives a new checkout or another machine; it holds names, fingerprints and the
SHA-256 of the reviewer JWT, never a secret. An object that existed before picluster first
converged it is adopted (kept in line with the spec) but never recorded, so ``--prune`` deletes
only what picluster created (``vault_owned``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection
from typing import Any

from .. import hcl1
from ..inputs import normalised_pem
from . import ownership, vault_owned
from .connection import api_path
from .ownership import Ownership, fields_fingerprint, text_fingerprint
from .vault_desired import Desired, Engine, KVRead
from .vault_model import JWT_PLACEHOLDER, Action, Change, Current, Plan, Step


def normalised_policy(text: str) -> str:
    """Policy text as the server's HCL1 parser reads it, so that a header or a reformatting is
    no change and any change to a rule is one: comments *outside* strings and layout dropped,
    each string written one way (``"a#b"`` keeps its ``#``; ``"${x}"`` and ``"\\u0024{x}"``
    are one string).

    A JSON policy (the server reads text starting with ``{`` as JSON) and text this HCL1
    scanner does not read (a heredoc, a syntax error) are compared as they are.
    """
    if text.lstrip().startswith("{"):
        return text
    try:
        return hcl1.canonical(text)
    except ValueError:
        return text


def engine_of(mount: dict[str, Any]) -> tuple[str, int | None]:
    """A mount's (type, KV version): ``kv-v2`` and ``kv`` with ``version: 2`` are one thing."""
    kind = str(mount.get("type", ""))
    options = mount.get("options") or {}
    if kind == "kv-v2":
        return "kv", 2
    if kind == "kv":
        # A KV mount made without options answers ``options: {}``: version 1.
        return "kv", 2 if str(options.get("version")) == "2" else 1
    return kind, None


def plan(
    desired: Desired,
    current: Current,
    *,
    prune: bool = False,
    destroy: Collection[str] = (),
) -> Plan:
    """The steps that take ``current`` to ``desired``, in the order they must run.

    Args:
        desired: what the spec declares.
        current: the server as read.
        prune: also delete what picluster created and the spec no longer declares.
        destroy: secrets engine paths a prune may unmount although they hold keys.
    """
    out = Plan()
    work = [
        *_engines(desired, current, out),
        *_policies(desired, current),
        *_auth(desired, current, out),
        *_config(desired, current),
        *_roles(desired, current),
    ]
    owned = vault_owned.settle(desired, current, work, prune=prune, destroy=destroy)
    out.notes.extend(owned.notes)
    work += owned.deletes

    steps: list[Step] = []
    read = current.record or Ownership()
    records = owned.after.body() != read.body()
    if records and ownership.MOUNT not in current.mounts:
        steps.append(
            Step(
                "create",
                "secrets_engine",
                f"{ownership.MOUNT}/",
                "POST",
                f"sys/mounts/{ownership.MOUNT}",
                {
                    "type": "kv",
                    "description": "picluster: which objects picluster created; do not edit",
                    "options": {"version": "2"},
                },
            )
        )
    steps += work
    if records:
        # Also written after each create and each delete, as the executor goes (ownership
        # is recorded once an object exists, and only then); this is the settled record.
        steps.append(
            Step(
                "update" if current.record is not None else "create",
                "ownership_record",
                ownership.NAME,
                "POST",
                ownership.PATH,
                changes=_record_changes(read, owned.after),
            )
        )
    out.steps.extend(steps)
    out.warnings.extend(_kv_warnings(desired.kv_reads, current.kv))
    return dataclasses.replace(out, record_before=owned.before, record_after=owned.after)


def _record_changes(before: Ownership, after: Ownership) -> tuple[Change, ...]:
    """How many objects the record names before and after, and how many fingerprints change."""
    changes = []
    if before.count() != after.count():
        changes.append(Change("objects", before.count(), after.count()))
    refreshed = sum(
        1
        for kind, entries in after.objects.items()
        for name, mark in entries.items()
        if name in before.objects[kind] and before.objects[kind][name] != mark
    )
    if refreshed:
        changes.append(Change("fingerprints", None, f"({refreshed} updated)"))
    return tuple(changes)


def _engines(desired: Desired, current: Current, out: Plan) -> list[Step]:
    steps = []
    if ownership.MOUNT in desired.engines:
        out.conflicts.append(f"secrets engine {ownership.MOUNT}/: reserved for picluster's record")
    for path, want in sorted(desired.engines.items()):
        if path == ownership.MOUNT:
            continue
        body = {"description": want.description, "options": {"version": str(want.version)}}
        mount = current.mounts.get(path)
        if mount is None:
            changes: tuple[Change, ...] = (Change("type", None, f"kv v{want.version}"),)
            if want.description:
                changes += (Change("description", None, want.description),)
            steps.append(
                Step(
                    "create",
                    "secrets_engine",
                    f"{path}/",
                    "POST",
                    api_path("sys/mounts", path),
                    {"type": want.type, **body},
                    changes,
                )
            )
            continue
        kind, version = engine_of(mount)
        if kind != want.type:
            out.conflicts.append(
                f"secrets engine {path}/: mounted as {kind!r}, the spec wants kv; picluster "
                "will not replace it (that would destroy its data)"
            )
            continue
        if version == 2 and want.version == 1:
            out.conflicts.append(
                f"secrets engine {path}/: KV version 2 cannot go back to version 1 in place"
            )
            continue
        changes = _engine_changes(want, version, str(mount.get("description") or ""))
        if changes:
            steps.append(
                Step(
                    "update",
                    "secrets_engine",
                    f"{path}/",
                    "POST",
                    api_path("sys/mounts", path, "tune"),
                    body,
                    changes,
                )
            )
    return steps


def _engine_changes(want: Engine, version: int | None, description: str) -> tuple[Change, ...]:
    changes = []
    if version != want.version:  # 1 -> 2: Vault upgrades a KV mount in place
        changes.append(Change("version", version, want.version))
    if description != want.description:
        changes.append(Change("description", description, want.description))
    return tuple(changes)


def _policies(desired: Desired, current: Current) -> list[Step]:
    steps = []
    for name, text in sorted(desired.policies.items()):
        have = current.policies.get(name)
        if have is not None and normalised_policy(have) == normalised_policy(text):
            continue
        action: Action = "create" if have is None else "update"
        steps.append(
            Step(
                action,
                "policy",
                name,
                "PUT",
                api_path("sys/policies/acl", name),
                {"policy": text},
                (Change("policy", have, text),),
                fingerprint=text_fingerprint(text),
            )
        )
    return steps


def _auth(desired: Desired, current: Current, out: Plan) -> list[Step]:
    path = desired.auth_path
    if path is None:
        return []
    mount = current.auth.get(path)
    if mount is None:
        return [
            Step(
                "create",
                "auth_method",
                f"{path}/",
                "POST",
                api_path("sys/auth", path),
                {"type": "kubernetes"},
                (Change("type", None, "kubernetes"),),
            )
        ]
    if mount.get("type") != "kubernetes":
        out.conflicts.append(
            f"auth method {path}/: enabled as {mount.get('type')!r}, the spec wants kubernetes"
        )
    return []


def _config(desired: Desired, current: Current) -> list[Step]:
    path, want = desired.auth_path, desired.k8s_config
    if path is None or want is None:
        return []
    have = current.k8s_config if path in current.auth else None
    changes = []
    for key, value in want.items():
        before = None if have is None else have.get(key)
        if key == "kubernetes_ca_cert":
            if _pem(before) != _pem(value):
                changes.append(Change(key, _ca_shown(before), _ca_shown(value)))
        elif key == "pem_keys":
            if sorted(before or []) != sorted(value):
                changes.append(Change(key, before, value))
        elif before != value:
            changes.append(Change(key, before, value))
    seen = (current.record or Ownership()).jwt.get(path)
    jwt_change = _jwt_change(desired.jwt_sha256, have, seen)
    if jwt_change:
        changes.append(jwt_change)
    if have is not None and not changes:
        return []
    jwt = JWT_PLACEHOLDER if desired.jwt_sha256 is not None else ""
    # Every field, every time: Vault resets the fields a config write leaves out.
    body = {**want, "token_reviewer_jwt": jwt}
    action: Action = "create" if have is None else "update"
    return [
        Step(
            action,
            "kubernetes_config",
            f"auth/{path}/config",
            "POST",
            api_path("auth", path, "config"),
            body,
            tuple(changes),
        )
    ]


def _jwt_change(want: str | None, have: dict[str, Any] | None, seen: str | None) -> Change | None:
    """A JWT change, judged by fingerprint: Vault never returns the JWT itself."""
    key = "token_reviewer_jwt"
    is_set = bool(have and have.get("token_reviewer_jwt_set", seen is not None))
    if want is None:
        return Change(key, "(set)", "(unset)") if is_set else None
    if not is_set:
        return Change(key, "(unset)", "(sensitive)")
    if seen != want:  # rotated, or set by someone else: write it once, then it is known
        return Change(key, "(sensitive, not the spec's)", "(sensitive)")
    return None


def _pem(value: Any) -> bytes | None:
    return normalised_pem(value) if isinstance(value, str) and value.strip() else None


def _ca_shown(value: Any) -> str | None:
    pem = _pem(value)
    if pem is None:
        return None
    count = pem.count(b"-----BEGIN CERTIFICATE-----")
    return f"{count} certificate(s), sha256 {hashlib.sha256(pem).hexdigest()[:16]}"


def _roles(desired: Desired, current: Current) -> list[Step]:
    steps = []
    for name, want in sorted(desired.roles.items()):
        have = current.roles.get(name)
        changes = []
        for key, value in want.items():
            before = None if have is None else have.get(key, "" if key == "audience" else None)
            same = (
                sorted(before or []) == sorted(value)
                if isinstance(value, list)
                else before == value
            )
            if not same:
                changes.append(Change(key, before, value))
        if have is not None and not changes:
            continue
        auth_path, role = name.rsplit("/", 1)
        action: Action = "create" if have is None else "update"
        steps.append(
            Step(
                action,
                "kubernetes_role",
                name,
                "POST",
                api_path("auth", auth_path, "role", role),
                dict(want),
                tuple(changes),
                fingerprint=fields_fingerprint(want),
            )
        )
    return steps


def _kv_warnings(reads: list[KVRead], kv: dict[str, bool | None]) -> list[str]:
    warnings = []
    for read in reads:
        exists = kv.get(f"{read.mount}/{read.key}")
        if exists is False:
            warnings.append(
                f"{read.where}: warning: {read.mount}/{read.key} does not exist in Vault; "
                f"ExternalSecret {read.secret} cannot sync until it is written"
            )
        elif exists is None:
            warnings.append(
                f"{read.where}: warning: cannot check {read.mount}/{read.key} "
                "(the token may not read its metadata)"
            )
    return list(dict.fromkeys(warnings))

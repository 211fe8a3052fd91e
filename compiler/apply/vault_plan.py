"""The Vault plan: desired state and current state in, the ordered steps out (pure: no I/O).

Ownership: picluster records the objects it created in a KV v2 document, ``picluster/ownership``,
on a mount of its own (``picluster/``) that no spec may declare. It lives in Vault, so it
survives a new checkout or another machine; it holds names and the SHA-256 of the reviewer JWT,
never a secret. An object that existed before picluster first converged it is adopted (kept in
line with the spec) but never recorded, so ``--prune`` deletes only what picluster created.
Creates are recorded *before* they run, so an apply cut short never leaves an object picluster
made unrecorded; deletes and the JWT fingerprint are recorded after they succeed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import hcl1
from ..inputs import normalised_pem
from .vault_desired import Desired, Engine, KVRead
from .vault_model import (
    JWT_PLACEHOLDER,
    KINDS,
    RECORD_FORMAT,
    RECORD_MOUNT,
    RECORD_PATH,
    Action,
    Change,
    Current,
    Plan,
    Step,
)


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
        return "kv", 2 if str(options.get("version", "1")) == "2" else 1
    return kind, None


def ownership(record: dict[str, Any] | None) -> tuple[dict[str, set[str]], dict[str, str]]:
    """The owned names per kind, and the JWT fingerprints per auth path, of a record."""
    record = record or {}
    objects = record.get("objects") or {}
    owned = {kind: set(objects.get(kind) or []) for kind in KINDS}
    return owned, dict(record.get("jwt_sha256") or {})


def record_body(owned: dict[str, set[str]], jwt: dict[str, str]) -> dict[str, Any]:
    objects = {kind: sorted(owned[kind]) for kind in KINDS if owned[kind]}
    return {"data": {"format": RECORD_FORMAT, "objects": objects, "jwt_sha256": jwt}}


def plan(desired: Desired, current: Current, *, prune: bool = False) -> Plan:
    """The steps that take ``current`` to ``desired``, in the order they must run."""
    out = Plan()
    owned, jwt_seen = ownership(current.record)
    work: list[Step] = []
    work += _engines(desired, current, out)
    work += _policies(desired, current)
    work += _auth(desired, current, out)
    work += _config(desired, current, jwt_seen)
    work += _roles(desired, current)
    deletes = _deletes(desired, current, owned)
    if prune:
        work += deletes
    else:
        out.pruneable.extend((s.kind, s.name) for s in deletes)

    created = [s for s in work if s.action == "create" and s.kind in KINDS]
    deleted = [s for s in work if s.action == "delete"]
    intent = {k: owned[k] | {s.name for s in created if s.kind == k} for k in KINDS}
    final = {k: intent[k] - {s.name for s in deleted if s.kind == k} for k in KINDS}
    jwt_final = dict(jwt_seen)
    if desired.auth_path is not None and any(s.kind == "kubernetes_config" for s in work):
        jwt_final.pop(desired.auth_path, None)
        if desired.jwt_sha256 is not None:
            jwt_final[desired.auth_path] = desired.jwt_sha256

    steps: list[Step] = []
    # The record changes before the creates (ownership first) and after the deletes and the
    # JWT write (only what succeeded); a rerun of a cut-short apply finds its creates recorded.
    grows, settles = intent != owned, (final, jwt_final) != (intent, jwt_seen)
    if (grows or settles) and RECORD_MOUNT not in current.mounts:
        steps.append(
            Step(
                "create",
                "secrets_engine",
                f"{RECORD_MOUNT}/",
                "POST",
                f"sys/mounts/{RECORD_MOUNT}",
                {
                    "type": "kv",
                    "description": "picluster: which objects picluster created; do not edit",
                    "options": {"version": "2"},
                },
            )
        )
    action: Action = "update" if current.record is not None else "create"
    if grows:
        steps.append(_record(action, intent, jwt_seen))
        action = "update"
    steps += work
    if settles:
        steps.append(_record(action, final, jwt_final))
    out.steps.extend(steps)
    out.warnings.extend(_kv_warnings(desired.kv_reads, current.kv))
    return out


def _record(action: Action, owned: dict[str, set[str]], jwt: dict[str, str]) -> Step:
    return Step(
        action,
        "ownership_record",
        "picluster/ownership",
        "POST",
        RECORD_PATH,
        record_body(owned, jwt),
    )


def _engines(desired: Desired, current: Current, out: Plan) -> list[Step]:
    steps = []
    if RECORD_MOUNT in desired.engines:
        out.conflicts.append(f"secrets engine {RECORD_MOUNT}/: reserved for picluster's record")
    for path, want in sorted(desired.engines.items()):
        if path == RECORD_MOUNT:
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
                    f"sys/mounts/{path}",
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
                    f"sys/mounts/{path}/tune",
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
                f"sys/policies/acl/{name}",
                {"policy": text},
                (Change("policy", have, text),),
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
                f"sys/auth/{path}",
                {"type": "kubernetes"},
                (Change("type", None, "kubernetes"),),
            )
        ]
    if mount.get("type") != "kubernetes":
        out.conflicts.append(
            f"auth method {path}/: enabled as {mount.get('type')!r}, the spec wants kubernetes"
        )
    return []


def _config(desired: Desired, current: Current, jwt_seen: dict[str, str]) -> list[Step]:
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
    jwt_change = _jwt_change(desired.jwt_sha256, have, jwt_seen.get(path))
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
            f"auth/{path}/config",
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
        auth_path, role = name.split("/", 1)
        action: Action = "create" if have is None else "update"
        steps.append(
            Step(
                action,
                "kubernetes_role",
                name,
                "POST",
                f"auth/{auth_path}/role/{role}",
                dict(want),
                tuple(changes),
            )
        )
    return steps


def _deletes(desired: Desired, current: Current, owned: dict[str, set[str]]) -> list[Step]:
    """Objects picluster created that the spec no longer declares: roles, auth methods,
    policies, then engines (nothing is removed while something may still refer to it)."""
    gone_auth = sorted(
        p
        for p in owned["auth_method"]
        if p.rstrip("/") != desired.auth_path and p.rstrip("/") in current.auth
    )
    steps = [
        Step(
            "delete",
            "kubernetes_role",
            name,
            "DELETE",
            "auth/{}/role/{}".format(*name.split("/", 1)),
        )
        for name in sorted(owned["kubernetes_role"])
        if name not in desired.roles
        and name in current.roles
        and name.split("/", 1)[0] not in {p.rstrip("/") for p in gone_auth}
    ]
    steps += [
        Step("delete", "auth_method", p, "DELETE", f"sys/auth/{p.rstrip('/')}") for p in gone_auth
    ]
    steps += [
        Step("delete", "policy", name, "DELETE", f"sys/policies/acl/{name}")
        for name in sorted(owned["policy"])
        if name not in desired.policies and name in current.policies
    ]
    steps += [
        Step("delete", "secrets_engine", p, "DELETE", f"sys/mounts/{p.rstrip('/')}")
        for p in sorted(owned["secrets_engine"])
        if p.rstrip("/") not in desired.engines and p.rstrip("/") in current.mounts
    ]
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

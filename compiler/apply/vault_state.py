"""The server's current state, read through hvac: only what a plan compares, never a secret."""

from __future__ import annotations

from typing import Any

from ..errors import VaultError
from . import ownership
from .connection import Connection, api_path
from .vault_desired import Desired
from .vault_model import Current

MAX_KEYS = 1000  # counting an engine's keys stops here: one is enough to keep it


def read(conn: Connection, desired: Desired) -> Current:
    """Everything the spec declares or picluster recorded as its own, as the server has it.

    The ownership record is read and checked before any name from it is used in a request.

    Raises:
        VaultError: the server could not be read (the first failure, as one line).
        RecordError: the ownership record is not one picluster wrote.
    """
    mounts = _mounts(conn.read("sys/mounts") or {})
    auth = _mounts(conn.read("sys/auth") or {})
    record = None
    if ownership.MOUNT in mounts:
        answer = conn.read(ownership.PATH)
        record = ownership.parse(answer.get("data")) if answer else None
    owned = record or ownership.Ownership()

    policies = {}
    for name in sorted(set(desired.policies) | set(owned.objects["policy"])):
        found = conn.read(api_path("sys/policies/acl", name))
        if found is not None:
            policies[name] = str(found.get("policy", ""))

    config = None
    if desired.auth_path is not None and desired.auth_path in auth:
        config = conn.read(api_path("auth", desired.auth_path, "config")) or None

    roles: dict[str, dict[str, Any]] = {}
    wanted = set(desired.roles) | set(owned.objects["kubernetes_role"])
    for path in sorted({name.rsplit("/", 1)[0] for name in wanted}):
        if auth.get(path, {}).get("type") != "kubernetes":
            continue
        existing = set(conn.list(api_path("auth", path, "role")))
        for name in sorted(n for n in wanted if n.rsplit("/", 1)[0] == path):
            role = name.rsplit("/", 1)[1]
            if role in existing:
                roles[name] = conn.read(api_path("auth", path, "role", role)) or {}

    # What a prune would unmount: how many keys each such engine holds.
    leaving = [
        p.rstrip("/")
        for p in owned.objects["secrets_engine"]
        if p.rstrip("/") not in desired.engines and p.rstrip("/") in mounts
    ]
    keys = {p: _count_keys(conn, p, mounts[p]) for p in sorted(leaving)}
    kv = _kv(conn, desired, mounts)
    return Current(mounts, auth, policies, config, roles, record, kv, keys)


def _count_keys(conn: Connection, path: str, mount: dict[str, Any]) -> int | None:
    """How many keys the engine at ``path`` holds (at most MAX_KEYS), None when the token may
    not list them."""
    from .vault_plan import engine_of

    version = engine_of(mount)[1]
    root = [path, "metadata"] if version == 2 else [path]
    count, folders = 0, [root]
    try:
        while folders and count < MAX_KEYS:
            folder = folders.pop()
            for key in conn.list(api_path(*folder)):
                inner = key.rstrip("/")
                if key.endswith("/") and inner and inner not in (".", "..") and "/" not in inner:
                    folders.append([*folder, inner])
                else:
                    count += 1  # a key, or a name no folder has: it holds data either way
    except VaultError as exc:
        if exc.status == 403:
            return None
        raise
    return min(count, MAX_KEYS)


def _mounts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """sys/mounts or sys/auth keyed by path without the trailing '/'."""
    return {
        path.rstrip("/"): dict(mount)
        for path, mount in data.items()
        if isinstance(mount, dict) and "type" in mount
    }


def _kv(
    conn: Connection, desired: Desired, mounts: dict[str, dict[str, Any]]
) -> dict[str, bool | None]:
    """Whether each KV key an ExternalSecret reads exists: its metadata (KV v2) or its name in
    the parent's listing (KV v1); never a secret value."""
    found: dict[str, bool | None] = {}
    for read in desired.kv_reads:
        key = f"{read.mount}/{read.key}"
        if key in found:
            continue
        if read.mount not in mounts:
            found[key] = False
            continue
        try:
            if read.version == 2:
                found[key] = conn.read(api_path(read.mount, "metadata", read.key)) is not None
            else:
                parent, _, leaf = read.key.rpartition("/")
                listed = conn.list(api_path(read.mount, parent) if parent else read.mount)
                found[key] = leaf in listed
        except VaultError as exc:
            if exc.status != 403:
                raise
            found[key] = None  # not allowed to look: say so, do not fail the plan
    return found

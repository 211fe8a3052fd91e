"""The server's current state, read through hvac: only what a plan compares, never a secret."""

from __future__ import annotations

from typing import Any

from ..errors import ApplyError
from .connection import Connection
from .vault_desired import Desired
from .vault_model import RECORD_MOUNT, RECORD_PATH, Current
from .vault_plan import ownership


def read(conn: Connection, desired: Desired) -> Current:
    """Everything the spec declares or picluster recorded as its own, as the server has it.

    Raises:
        ApplyError: the server could not be read (the first failure, as one line).
    """
    mounts = _mounts(conn.read("sys/mounts") or {})
    auth = _mounts(conn.read("sys/auth") or {})
    record = None
    if RECORD_MOUNT in mounts:
        answer = conn.read(RECORD_PATH)
        record = dict(answer.get("data") or {}) if answer else None
    owned, _ = ownership(record)

    policies = {}
    for name in sorted(set(desired.policies) | owned["policy"]):
        found = conn.read(f"sys/policies/acl/{name}")
        if found is not None:
            policies[name] = str(found.get("policy", ""))

    config = None
    if desired.auth_path is not None and desired.auth_path in auth:
        config = conn.read(f"auth/{desired.auth_path}/config") or None

    roles: dict[str, dict[str, Any]] = {}
    wanted = set(desired.roles) | owned["kubernetes_role"]
    for path in sorted({name.split("/", 1)[0] for name in wanted}):
        if auth.get(path, {}).get("type") != "kubernetes":
            continue
        existing = set(conn.list(f"auth/{path}/role"))
        for name in sorted(n for n in wanted if n.startswith(f"{path}/")):
            role = name.split("/", 1)[1]
            if role in existing:
                roles[name] = conn.read(f"auth/{path}/role/{role}") or {}

    return Current(mounts, auth, policies, config, roles, record, _kv(conn, desired, mounts))


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
                found[key] = conn.read(f"{read.mount}/metadata/{read.key}") is not None
            else:
                parent, _, leaf = read.key.rpartition("/")
                listed = conn.list(f"{read.mount}/{parent}" if parent else read.mount)
                found[key] = leaf in listed
        except ApplyError as exc:
            if "(403)" not in str(exc):
                raise
            found[key] = None  # not allowed to look: say so, do not fail the plan
    return found

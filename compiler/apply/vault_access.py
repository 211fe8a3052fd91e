"""The plan's access lines: reads what ``compiler.access.live`` compares (read-only)."""

from __future__ import annotations

from ..access.live import Lines, Live, compare
from ..errors import VaultError
from ..model import Model
from ..yamlio import Document
from .connection import Connection, api_path
from .vault_model import Current, Plan


def add(plan: Plan, conn: Connection, model: Model, current: Current, doc: Document | None) -> None:
    """Add to ``plan``'s notes what fails now and is fixed by the apply, and to its warnings
    what will still fail after it."""
    found = lines(conn, model, current, doc)
    plan.notes.extend(found.notes)
    plan.warnings.extend(found.warnings)


def lines(conn: Connection, model: Model, current: Current, doc: Document | None) -> Lines:
    """Which ExternalSecret (and Prometheus) fails now and after the apply.

    Besides what the plan read: the policies the server's roles carry that the spec does not
    name, and the server's own ``default`` policy (a 403 on either is not a failure of the
    plan: that policy is then unknown, and said so).

    Raises:
        VaultError: the server could not be read (other than 403).
    """
    texts = dict(current.policies)
    carried = {str(p) for role in current.roles.values() for p in role.get("token_policies") or []}
    for name in sorted(carried - set(texts) - {"default", "root"}):
        found = _read(conn, name)
        if found is not None:
            texts[name] = found
    return compare(model, Live(texts, current.roles, _read(conn, "default")), doc)


def _read(conn: Connection, name: str) -> str | None:
    try:
        found = conn.read(api_path("sys/policies/acl", name))
    except VaultError as exc:
        if exc.status == 403:
            return None
        raise
    return str(found.get("policy", "")) if found is not None else None

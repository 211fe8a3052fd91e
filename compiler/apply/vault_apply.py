"""The executor: runs a plan's steps in order and reports each one; it never prints.

Ownership is recorded once an object exists, and only then: after each create the record is
written with the new object and its fingerprint (a mount's accessor is read back, since Vault
makes it), after each delete without the object, and the settled record last. An apply cut
short by a 403, a lost server or a kill leaves a record that names nothing picluster did not
make.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ApplyError, VaultError
from . import ownership
from .connection import Connection, api_path
from .ownership import KINDS, Ownership, mount_fingerprint
from .plan_output import headline
from .vault_model import JWT_PLACEHOLDER, Plan, Step

UPGRADE_WAIT = 30.0  # seconds a new KV v2 mount may take to become writable
_UPGRADING = "Upgrading from non-versioned to versioned data"

Progress = Callable[[int, int, Step], None]
"""Called with (step number from 1, number of steps, step) before each step runs."""


def execute(conn: Connection, plan: Plan, jwt: str | None, progress: Progress) -> None:
    """Send each step's request, in order; stop at the first failure.

    Raises:
        ApplyError: one line naming the step that failed and why; the steps before it are done
            (and recorded), so a rerun plans only what is left.
    """
    if plan.conflicts:
        raise ApplyError(
            f"{conn.address}: nothing applied: {len(plan.conflicts)} conflict(s), the first: "
            f"{plan.conflicts[0]}"
        )
    live = plan.record_before.copy()
    total = len(plan.steps)
    for number, step in enumerate(plan.steps, 1):
        progress(number, total, step)
        try:
            if step.kind == "ownership_record":
                _write_record(conn, _settled(plan, live))
                continue
            conn.call(step.method, step.path, step.capability, _body(step, jwt))
            if _owned_kind(step) and step.action in ("create", "delete"):
                _record(conn, live, step)
        except ApplyError as exc:
            raise ApplyError(
                f"apply stopped at step {number} of {total} ({headline(step)}): {exc}"
            ) from None


def _owned_kind(step: Step) -> bool:
    return step.kind in KINDS and step.name != f"{ownership.MOUNT}/"


def _record(conn: Connection, live: Ownership, step: Step) -> None:
    """Write the record with ``step`` done: a create gains its object, a delete loses it."""
    if step.action == "delete":
        live.objects[step.kind].pop(step.name, None)
    else:
        live.objects[step.kind][step.name] = step.fingerprint or _accessor(conn, step)
    _write_record(conn, live)


def _write_record(conn: Connection, record: Ownership) -> None:
    """Write the record. A KV v2 mount just made answers 400 for a moment while it upgrades
    itself ("Upgrading from non-versioned to versioned data"): wait for it, a bounded while."""
    deadline = time.monotonic() + UPGRADE_WAIT
    while True:
        try:
            conn.call("POST", ownership.PATH, "update", record.body())
            return
        except VaultError as exc:
            upgrading = exc.status == 400 and any(_UPGRADING in e for e in exc.errors)
            if not upgrading or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _accessor(conn: Connection, step: Step) -> str | None:
    """The fingerprint of a mount just made: the accessor Vault gave it."""
    base = "sys/mounts" if step.kind == "secrets_engine" else "sys/auth"
    try:
        mount = conn.read(api_path(base, step.name.rstrip("/")))
    except VaultError:
        return None  # recorded without one: trusted as made by picluster
    return mount_fingerprint(mount or {})


def _settled(plan: Plan, live: Ownership) -> Ownership:
    """The record the plan settles on, with the accessors of the mounts made in this run."""
    final = plan.record_after.copy()
    for kind, entries in final.objects.items():
        for name, mark in entries.items():
            if mark is None and live.objects[kind].get(name):
                entries[name] = live.objects[kind][name]
    return final


def _body(step: Step, jwt: str | None) -> dict[str, Any] | None:
    """The step's request body with the JWT put in (it is kept out of the plan itself)."""
    if step.body is None or step.body.get("token_reviewer_jwt") != JWT_PLACEHOLDER:
        return step.body
    if jwt is None:  # the planner only asks for it when the spec names a JWT source
        raise ApplyError(f"{step.path}: the token reviewer JWT was not read")
    return {**step.body, "token_reviewer_jwt": jwt}

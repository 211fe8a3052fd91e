"""The executor: runs a plan's steps in order and reports each one; it never prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ApplyError
from .connection import Connection
from .plan_output import headline
from .vault_model import JWT_PLACEHOLDER, Plan, Step

Progress = Callable[[int, int, Step], None]
"""Called with (step number from 1, number of steps, step) before each step runs."""


def execute(conn: Connection, plan: Plan, jwt: str | None, progress: Progress) -> None:
    """Send each step's request, in order; stop at the first failure.

    Raises:
        ApplyError: one line naming the step that failed and why; the steps before it are done,
            so a rerun plans only what is left.
    """
    if plan.conflicts:
        raise ApplyError(
            f"{conn.address}: nothing applied: {len(plan.conflicts)} conflict(s), the first: "
            f"{plan.conflicts[0]}"
        )
    total = len(plan.steps)
    for number, step in enumerate(plan.steps, 1):
        progress(number, total, step)
        try:
            conn.call(step.method, step.path, step.capability, _body(step, jwt))
        except ApplyError as exc:
            raise ApplyError(
                f"apply stopped at step {number} of {total} ({headline(step)}): {exc}"
            ) from None


def _body(step: Step, jwt: str | None) -> dict[str, Any] | None:
    """The step's request body with the JWT put in (it is kept out of the plan itself)."""
    if step.body is None or step.body.get("token_reviewer_jwt") != JWT_PLACEHOLDER:
        return step.body
    if jwt is None:  # the planner only asks for it when the spec names a JWT source
        raise ApplyError(f"{step.path}: the token reviewer JWT was not read")
    return {**step.body, "token_reviewer_jwt": jwt}

"""A Vault plan as text for people and JSON for machines; the JWT is never in either."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .vault_model import LABELS, Change, Plan, Step
from .vault_plan import normalised_policy

SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def summary(plan: Plan) -> str:
    return (
        f"{plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete"
    )


def headline(step: Step) -> str:
    """``+ policy readonly``: the action's symbol, the kind and the name."""
    return f"{SYMBOLS[step.action]} {LABELS[step.kind]} {step.name}"


def text(plan: Plan, address: str) -> list[str]:
    """The plan as lines: a summary, each step and its changes, then notes and warnings."""
    if plan.steps:
        lines = [f"Vault {address}: {summary(plan)}"]
    else:
        lines = [f"Vault {address}: no changes; the server matches the spec"]
    for step in plan.steps:
        destroys = f" ({step.destroys})" if step.destroys else ""
        lines.append(f"  {headline(step)}{destroys}")
        lines += [f"      {line}" for change in step.changes for line in _change(step, change)]
    lines += [f"  note: {note}" for note in plan.notes]
    lines += [f"error: {conflict}" for conflict in plan.conflicts]
    return lines + plan.warnings


def _change(step: Step, change: Change) -> list[str]:
    if step.kind == "policy" and change.before is not None:
        before = normalised_policy(str(change.before)).splitlines()
        after = normalised_policy(str(change.after)).splitlines()
        diff = difflib.unified_diff(before, after, lineterm="", n=0)
        return [line for line in diff if not line.startswith(("---", "+++", "@@"))]
    if step.kind == "policy":
        return []
    if step.action == "create":
        return [f"{change.field}: {_shown(change.after)}"]
    return [f"{change.field}: {_shown(change.before)} -> {_shown(change.after)}"]


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and value.startswith("("):
        return value
    return json.dumps(value)


def as_json(plan: Plan, address: str) -> str:
    """The plan as one JSON document (stable key order)."""
    return json.dumps(as_document(plan, address), indent=2, sort_keys=True) + "\n"


def as_document(plan: Plan, address: str) -> dict[str, Any]:
    """The plan as JSON-able data: what ``--output json`` prints and a saved plan holds."""
    return {
        "target": "vault",
        "address": address,
        "summary": {a: plan.count(a) for a in ("create", "update", "delete")},
        "steps": [
            {
                "action": s.action,
                "kind": s.kind,
                "name": s.name,
                "request": {"method": s.method, "path": s.path},
                "changes": [
                    {"field": c.field, "before": c.before, "after": c.after} for c in s.changes
                ],
                **({"destroys": s.destroys} if s.destroys else {}),
            }
            for s in plan.steps
        ],
        "notes": plan.notes,
        "conflicts": plan.conflicts,
        "warnings": plan.warnings,
    }

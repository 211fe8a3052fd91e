"""Plans and what apply did, as text for people and JSON for machines: the hosts side and the
Vault side, one module; no secret is in either (file contents, the JWT, the token)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .hosts_plan import DesiredFile, Directory, FileChange, HostsPlan, NodePlan
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
    return lines + said(plan)


def said(plan: Plan) -> list[str]:
    """What the plan says besides its steps: notes, conflicts, warnings."""
    return [
        *(f"  note: {note}" for note in plan.notes),
        *(f"error: {conflict}" for conflict in plan.conflicts),
        *plan.warnings,
    ]


def vault_applied(plan: Plan, address: str) -> list[str]:
    """What an apply that ran ``plan`` says at its end."""
    if not plan.steps:
        return text(plan, address)
    return [f"Vault {address}: applied: {summary(plan)}", *said(plan)]


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


# --- the hosts side ---------------------------------------------------------------------------


def hosts_text(plan: HostsPlan) -> list[str]:
    """Each node's plan: a headline, then one line per step; the restart order; the notes."""
    lines = [line for n in plan.nodes for line in node_text(n)]
    if len(plan.order) > 1:  # one server restarting has no order to show
        upgrade = any(n.upgrade for n in plan.nodes)
        turns = ", ".join(
            f"{t.node} ({t.state}{', ' + t.version if t.version and upgrade else ''})"
            for t in plan.order
        )
        what = "upgrade" if upgrade else "restart"
        lines.append(
            f"{what} order: {turns}; one at a time, each back unsealed and a healthy raft "
            "voter before the next"
        )
    lines += [f"note: {note}" for note in plan.notes]
    return lines or ["hosts: no changes"]


def hosts_applied(plan: HostsPlan, restarted: list[str]) -> str:
    """What an apply that ran ``plan`` says at its end."""
    if not plan.changed:
        return "hosts: no changes; every node matches the spec"
    if restarted:
        return f"hosts: applied; restarted on {', '.join(restarted)}"
    return "hosts: applied; nothing needed a restart"


def hosts_document(plan: HostsPlan) -> dict[str, Any]:
    """The hosts plan as JSON-able data (hashes and paths; never file contents).

    The restart order is shown, but a saved plan need not match it (``check_hosts`` compares
    the nodes): it follows the servers' roles, which change with every restart of the active
    node.
    """
    return {
        "nodes": [node_document(n) for n in plan.nodes],
        "order": [{"node": t.node, "state": t.state, "version": t.version} for t in plan.order],
        "notes": plan.notes,
    }


def node_text(n: NodePlan) -> list[str]:
    head = (
        f"{n.node} ({n.target}): {n.count('create')} to create, "
        f"{n.count('update') + n.count('attrs')} to change, "
        f"{n.count('remove')} to remove"
    )
    if not n.changed:
        return [f"{head}; up to date"]
    if n.restart:
        head += f"; {'upgrade and ' if n.upgrade else ''}restart {', '.join(n.restart)}"
    elif n.reload:
        head += f"; reload {', '.join(n.reload)}"
    lines = [head]
    lines += [f"  + user {u}" for u in n.users]
    for d in n.dirs:
        sign = "+" if d.action == "create" else "~"
        lines.append(f"  {sign} dir {d.dir.path} {_attrs(d.dir)}{_paren(d.detail)}")
    for c in n.files:
        sign = {"create": "+", "update": "~", "attrs": "~", "remove": "-"}[c.action]
        attrs = f" {_attrs(c.file)}" if c.file and c.action == "create" else ""
        lines.append(f"  {sign} {c.path}{attrs}{_paren(c.detail)}")
    lines += [f"  * systemctl disable {u}" for u in n.disable]
    if n.daemon_reload:
        lines.append("  * systemctl daemon-reload")
    if n.enable:
        lines.append(f"  * systemctl enable {' '.join(n.enable)}")
    lines += [f"  * systemctl restart {u}{_left(n, f'restart {u}')}" for u in n.restart]
    lines += [f"  * systemctl reload {u}{_left(n, f'reload {u}')}" for u in n.reload]
    lines += [
        f"  * systemctl restart {u} (new unseal keys){_left(n, f'unseal {u}')}" for u in n.unseal
    ]
    return lines


def _left(n: NodePlan, step: str) -> str:
    """Marks a step an earlier apply made necessary but did not finish."""
    return " (left pending by an earlier apply)" if step in n.pending else ""


def node_document(n: NodePlan) -> dict[str, Any]:
    return {
        "node": n.node,
        "target": n.target,
        "users": n.users,
        "dirs": [
            {
                "action": d.action,
                "path": d.dir.path,
                "mode": f"{d.dir.mode:04o}",
                "owner": d.dir.owner,
                "group": d.dir.group,
            }
            for d in n.dirs
        ],
        "files": [_file_dict(c) for c in n.files],
        "daemon_reload": n.daemon_reload,
        "enable": n.enable,
        "disable": n.disable,
        "restart": n.restart,
        "reload": n.reload,
        "unseal": n.unseal,
        "pending": n.pending,
    }


def _attrs(f: DesiredFile | Directory) -> str:
    return f"{f.mode:04o} {f.owner}:{f.group}"


def _paren(detail: str) -> str:
    return f" ({detail})" if detail else ""


def _file_dict(c: FileChange) -> dict[str, Any]:
    out: dict[str, Any] = {"action": c.action, "path": c.path}
    if c.file is not None:
        out |= {"sha256": c.file.sha256, "mode": f"{c.file.mode:04o}", "owner": c.file.owner,
                "group": c.file.group, "source": c.file.source}  # fmt: skip
    if c.detail:
        out["detail"] = c.detail
    return out

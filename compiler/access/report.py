"""``picluster access``: who can do what, from the spec alone.

For every service account and namespace a role binds: the role, the token's policies, and the
capabilities on every KV path its consumers read and on ``sys/metrics``. Flagged: roles no
generated consumer uses, and grants broader than any consumer needs (writes or ``list`` where
only ``read`` is used, a glob over a whole mount). Text, JSON and a Mermaid graph; every list in
a fixed order. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .. import collector
from ..model import Model
from ..spec import Spec
from .acl import ACL, DEFAULT, Grant
from .checks import role_acls
from .consumers import prometheus_metrics
from .usage import Login, logins, reads

FlagKind = Literal["unused-role", "more-than-read", "whole-mount", "unused-grant"]
WRITES = ("create", "update", "patch", "delete", "list", "scan", "sudo")


@dataclass(frozen=True)
class PathAccess:
    """What a token may do on one path, and who needs what there."""

    path: str
    capabilities: tuple[str, ...]  # as sys/capabilities answers: ["deny"] when nothing
    needs: str  # the capability the consumers need ("" when none reads it)
    readers: tuple[str, ...]  # "ExternalSecret ns/name", "Prometheus"
    allowed: bool


@dataclass(frozen=True)
class Identity:
    namespace: str
    account: str
    role: str
    policies: tuple[str, ...]
    consumers: tuple[str, ...]  # "store 'x'", "Prometheus"
    paths: tuple[PathAccess, ...]


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    role: str
    message: str


@dataclass(frozen=True)
class Report:
    identities: tuple[Identity, ...]
    flags: tuple[Flag, ...]


def build(model: Model) -> Report:
    """The access report of a valid spec."""
    with collector.paused():
        return _build(model)


def _build(model: Model) -> Report:
    spec = model.spec
    auth = spec.vault.kubernetes_auth
    if auth is None:
        return Report((), ())
    every = logins(model)
    acls = role_acls(spec)
    # (namespace, account, role) -> what its consumers read: path -> (capability, readers)
    wanted: dict[tuple[str, str, str], dict[str, tuple[str, list[str]]]] = defaultdict(dict)
    users: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for login in every:
        users[_key(login)].add(login.who)
    for read in reads(model, every):
        reader = f"ExternalSecret {read.secret}" if read.secret else "Prometheus"
        _, readers = wanted[_key(read.login)].setdefault(
            read.request.probe, (read.request.capability, [])
        )
        readers.append(reader)
    metrics = prometheus_metrics()
    identities = []
    for role_name, role in sorted(auth.roles.items()):
        acl = acls.get(role_name)
        for namespace in role.namespaces:
            for account in role.service_accounts:
                key = (namespace, account, role_name)
                paths = dict(sorted(wanted.get(key, {}).items()))
                paths.setdefault(metrics.path, ("", []))
                identities.append(
                    Identity(
                        namespace,
                        account,
                        role_name,
                        acl.policies if acl is not None else tuple(role.policies),
                        tuple(sorted(users.get(key, ()))),
                        tuple(_access(acl, p, need, rs) for p, (need, rs) in paths.items()),
                    )
                )
    identities.sort(key=lambda i: (i.namespace, i.account, i.role))
    flags = _unused_roles(spec, every) + _broad(spec, every, acls, wanted)
    return Report(tuple(identities), tuple(flags))


def _key(login: Login) -> tuple[str, str, str]:
    return (login.namespace, login.account, login.role)


def _access(acl: ACL | None, path: str, needs: str, readers: list[str]) -> PathAccess:
    if acl is None:
        return PathAccess(path, (), needs, tuple(sorted(set(readers))), False)
    decision = acl.decide(path, listing=needs in ("list", "scan"))
    allowed = bool(needs) and decision.allows(needs)
    return PathAccess(path, tuple(decision.answer()), needs, tuple(sorted(set(readers))), allowed)


def _unused_roles(spec: Spec, every: list[Login]) -> list[Flag]:
    auth = spec.vault.kubernetes_auth
    assert auth is not None  # noqa: S101 -- build() returns early without it
    used = {login.role for login in every}
    return [
        Flag(
            "unused-role",
            name,
            f"role {name!r} is used by no store and not by Prometheus "
            "(an application outside the spec may still log in with it)",
        )
        for name in sorted(auth.roles)
        if name not in used
    ]


def _broad(
    spec: Spec,
    every: list[Login],
    acls: dict[str, ACL],
    wanted: dict[tuple[str, str, str], dict[str, tuple[str, list[str]]]],
) -> list[Flag]:
    """For each used role, each rule of the spec's policies against what its consumers need."""
    mounts = [e.path for e in spec.vault.secrets_engines]
    out: list[Flag] = []
    for role in sorted({login.role for login in every}):
        acl = acls.get(role)
        if acl is None:
            continue
        # What each deciding pattern is needed for, over every identity of the role.
        needed: dict[Grant, set[str]] = defaultdict(set)
        for (_, _, name), paths in wanted.items():
            if name != role:
                continue
            for path, (capability, _) in paths.items():
                grant = acl.decide(path, listing=capability in ("list", "scan")).grant
                if grant is not None:
                    needed[grant].add(capability)
        for grant in acl.grants:
            policies = [p for p in grant.policies if p != DEFAULT or p in spec.vault.policies]
            if not policies or grant.denied:
                continue
            where = f"{grant.pattern!r} in {_policies(policies)}"
            mount = _whole_mount(grant, mounts)
            if mount is not None:
                out.append(
                    Flag(
                        "whole-mount",
                        role,
                        f"role {role!r}: {where} covers the whole mount {mount!r}; its "
                        "consumers read only the paths listed for it",
                    )
                )
            uses = needed.get(grant)
            if uses is None:
                if mount is None:
                    out.append(
                        Flag(
                            "unused-grant",
                            role,
                            f"role {role!r}: {where} grants what none of its consumers reads",
                        )
                    )
                continue
            extra = sorted(c for c in grant.capabilities - uses if c in WRITES)
            if extra:
                out.append(
                    Flag(
                        "more-than-read",
                        role,
                        f"role {role!r}: {where} grants {', '.join(extra)} where its "
                        f"consumers only {', '.join(sorted(uses))}",
                    )
                )
    return out


def _policies(names: list[str]) -> str:
    return ("policy " if len(names) == 1 else "policies ") + ", ".join(repr(n) for n in names)


def _whole_mount(grant: Grant, mounts: list[str]) -> str | None:
    """The mount a ``*`` pattern covers whole (``secret/*``, ``secret/data/*``), if any."""
    if grant.kind != "prefix":
        return None
    body = grant.pattern.removesuffix("*")
    if body == "":
        return "everything"
    for mount in mounts:
        if body in (f"{mount}/", mount, f"{mount}/data/", f"{mount}/metadata/"):
            return f"{mount}/"
    return None


# --- output ----------------------------------------------------------------------------------


def as_text(report: Report) -> list[str]:
    """The report for people: one block per identity, then what is flagged."""
    lines: list[str] = []
    for ident in report.identities:
        lines.append(
            f"{ident.namespace}/{ident.account}: role {ident.role}, "
            f"policies {', '.join(ident.policies)}"
        )
        lines.append(f"  used by: {', '.join(ident.consumers) or 'nothing in the spec'}")
        width = max(len(p.path) for p in ident.paths)
        for access in ident.paths:
            caps = ", ".join(access.capabilities) or "(unknown)"
            line = f"  {access.path.ljust(width)}  {caps}"
            if access.needs:
                verdict = "ok" if access.allowed else "REFUSED"
                line += f"  [{access.needs} needed by {', '.join(access.readers)}: {verdict}]"
            lines.append(line)
    if report.flags:
        lines.append(f"flagged ({len(report.flags)}):")
        lines += [f"  {flag.kind}: {flag.message}" for flag in report.flags]
    else:
        lines.append("flagged: nothing")
    return lines


def as_json(report: Report) -> str:
    """The report as one JSON document (stable key order)."""
    document: dict[str, Any] = asdict(report)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def as_mermaid(report: Report) -> list[str]:
    """A Mermaid flowchart (GitHub renders a ```mermaid block): service accounts log in with
    roles, roles carry policies, and each policy's rule grants the paths consumers read; a
    flagged role is drawn in red, a refused path as a dashed edge."""
    ids: dict[str, str] = {}

    def node(kind: str, name: str) -> str:
        key = f"{kind}:{name}"
        if key not in ids:
            ids[key] = f"{kind}{len(ids)}"
        return ids[key]

    flagged = {flag.role for flag in report.flags}
    lines = ["flowchart LR"]
    declared: list[str] = []
    edges: list[str] = []
    seen_edges: set[str] = set()

    def edge(text: str) -> None:
        if text not in seen_edges:
            seen_edges.add(text)
            edges.append(text)

    def declare(kind: str, name: str, label: str, shape: str = "[]") -> str:
        ident = node(kind, name)
        line = f"  {ident}{shape[0]}{_label(label)}{shape[1]}"
        if line not in declared:
            declared.append(line)
        return ident

    for ident in report.identities:
        account = declare(
            "sa", f"{ident.namespace}/{ident.account}", f"{ident.namespace}/{ident.account}"
        )
        role = declare("role", ident.role, f"role {ident.role}", "()")
        edge(f"  {account} -->|logs in| {role}")
        for policy in ident.policies:
            edge(f"  {role} --> {declare('policy', policy, f'policy {policy}', '[]')}")
        for access in ident.paths:
            if not access.needs:
                continue
            path = declare("path", access.path, access.path, "[]")
            arrow = "-->" if access.allowed else "-.->"
            verdict = access.needs if access.allowed else f"{access.needs} refused"
            edge(f"  {role} {arrow}|{_label(verdict)}| {path}")
    lines += declared + edges
    lines.append("  classDef flagged stroke:#d00,stroke-width:2px")
    marked = sorted({node("role", r) for r in flagged if f"role:{r}" in ids})
    if marked:
        lines.append(f"  class {','.join(marked)} flagged")
    return lines


_UNSAFE = re.compile(r'["<>{}\[\]()|#;`]')


def _label(text: str) -> str:
    """A node label Mermaid reads as text: quoted, its special characters as entities."""
    return '"' + _UNSAFE.sub(lambda m: f"#{ord(m.group())};", text) + '"'


def flagged_summary(report: Report) -> str:
    """One line for ``--strict``: how much is flagged."""
    return f"{len(report.flags)} flagged (roles nobody uses, grants broader than needed)"

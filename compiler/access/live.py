"""Who can read what on the live server, now and once the apply has run: the plan's lines.

Now: the roles and policies as the server holds them (its own ``default`` included). After:
the spec's roles and policies, with the server's ``default`` unless the spec rewrites it. Each
ExternalSecret and Prometheus is decided both ways; what fails is said, located for what will
still fail after the apply. Pure: the caller reads the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Model
from ..yamlio import Document, dotted
from .acl import ACL, RuleLike, compile_acl, sanitize
from .builtin import DEFAULT_RULES
from .policy_text import parse
from .usage import Login, Read, logins, reads


@dataclass(frozen=True)
class Live:
    """The server as read for this: policy texts by name, roles by ``path/name``."""

    policies: Mapping[str, str]
    roles: Mapping[str, Mapping[str, Any]]
    default: str | None = None  # sys/policies/acl/default; None when it could not be read


@dataclass
class Lines:
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compare(model: Model, live: Live, doc: Document | None = None) -> Lines:
    """What fails now and after the apply, one line per ExternalSecret (and Prometheus)."""
    out = Lines()
    spec = model.spec
    auth = spec.vault.kubernetes_auth
    if auth is None:
        return out
    parsed: dict[str, list[RuleLike]] = {}
    unread: list[str] = []
    for name, text in sorted(live.policies.items()):
        rules = parse(text)
        if rules is None:
            unread.append(name)
        else:
            parsed[name] = list(rules)
    default = parse(live.default) if live.default is not None else None
    builtin: dict[str, Sequence[RuleLike]] = {"default": default or list(DEFAULT_RULES)}
    if live.default is None or default is None:
        out.notes.append(
            "access: the server's default policy could not be read; OpenBao's is assumed"
        )
    if unread:
        out.notes.append(
            "access: policies in a layout picluster does not read are taken as granting "
            "nothing: " + ", ".join(unread)
        )
    now: dict[str, ACL | None] = {}
    after: dict[str, ACL] = {}
    for name, role in auth.roles.items():
        after[name] = compile_acl(
            spec.vault.policies, sanitize(role.policies, add_default=True), builtin=builtin
        )
        there = live.roles.get(f"{auth.path}/{name}")
        if there is None:
            now[name] = None  # not on the server yet: nothing reads with it now
            continue
        names = [str(p) for p in there.get("token_policies") or []]
        with_default = not there.get("token_no_default_policy", False)
        now[name] = compile_acl(parsed, sanitize(names, add_default=with_default), builtin=builtin)
    failing: dict[str, tuple[Login, list[tuple[Read, str | None, str | None]]]] = {}
    for read in reads(model, logins(model)):
        was = _fails(now.get(read.login.role), read)
        will = _fails(after[read.login.role], read) if read.login.role in after else None
        if was is None and will is None:
            continue
        who = f"ExternalSecret {read.secret}" if read.secret else "Prometheus"
        failing.setdefault(who, (read.login, []))[1].append((read, was, will))
    for who, (login, found) in failing.items():
        first_read, was, will = found[0]
        others = len({r.request.path for r, _, _ in found}) - 1
        more = f" (and {others} more)" if others else ""
        path = first_read.request.path
        named = f"role {login.role!r}"
        if will is None:
            out.notes.append(
                f"access: {who} cannot read {path}{more} now ({named}: {was}); "
                "it can after the apply"
            )
            continue
        where = _where(doc, first_read)
        when = "now or after the apply" if was is not None else "after the apply (it can now)"
        out.warnings.append(
            f"{where}warning: {who} cannot read {path}{more} {when} ({named}: {will})"
        )
    return out


def _fails(acl: ACL | None, read: Read) -> str | None:
    """Why ``read`` is refused by ``acl``; None when allowed, uncertain, or no ACL."""
    if acl is None:
        return None
    decision = read.request.decide(acl)
    if decision.allows(read.request.capability) or not decision.certain:
        return None
    return decision.reason(read.request.capability)


def _where(doc: Document | None, read: Read) -> str:
    if doc is None:
        return f"{dotted(read.loc)}: "
    return str(doc.problem(read.loc, ""))  # "FILE:LINE:COL: dotted.path: "

"""What ``validate`` proves with the access model: every consumer can read what it reads.

Each ExternalSecret entry is decided for its store's role (the role's policies and ``default``,
as a login gets them), and so is Prometheus' read of ``sys/metrics`` and each client's upkeep of
its own token; a request refused is a problem located at the entry, naming the API path, why
(the rule that decides) and the rule that would grant it. Also: a remote key that starts with
the store's mount (a warning: ESO drops the mount), an audience a consumer's token cannot carry,
and a login Vault could not review. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import collector
from ..errors import Problem
from ..model import Model
from ..spec import Spec
from ..yamlio import Document, Loc
from .acl import ACL, DEFAULT, compile_acl, sanitize
from .builtin import BUILTIN_POLICIES
from .consumers import Request
from .usage import API_SERVER_AUDIENCES, ESO, PROMETHEUS, Login, Read, logins, reads, upkeep

TYPO_CANDIDATES = 64  # a role with more rules than this gets no typo hint
TYPO_RATIO = 0.8  # difflib's similarity of two folder names taken for a typo


@dataclass
class Found:
    """What the access checks found: located problems and warnings."""

    problems: list[tuple[Loc, str]] = field(default_factory=list)
    warnings: list[tuple[Loc, str]] = field(default_factory=list)


def problems(model: Model, doc: Document) -> list[Problem]:
    """Every access problem of the model's spec, located."""
    return [doc.problem(loc, message) for loc, message in model.access.problems]


def warnings(model: Model, doc: Document) -> list[Problem]:
    """What may fail at run time but cannot be proven from the spec, located."""
    return [doc.problem(loc, f"warning: {m}") for loc, m in model.access.warnings]


def decide(model: Model) -> Found:
    """Every access finding of the model's spec (``Model.access`` keeps it: validate asks for
    the problems and then the warnings of the same model)."""
    with collector.paused():
        return _check(model)


def role_acls(spec: Spec, roles: Iterable[str] | None = None) -> dict[str, ACL]:
    """The ACL of a token of each role (of ``roles``, default all) whose policies are all
    known: a role naming a policy the spec lacks has its own problem, and deciding without
    that policy would mislead."""
    auth = spec.vault.kubernetes_auth
    if auth is None:
        return {}
    policies = spec.vault.policies
    out = {}
    for name in auth.roles if roles is None else dict.fromkeys(roles):
        role = auth.roles.get(name)
        if role is None:
            continue
        names = sanitize(role.policies, add_default=True)
        if all(p in policies or p in BUILTIN_POLICIES for p in names):
            out[name] = compile_acl(policies, names)
    return out


def _check(model: Model) -> Found:
    spec = model.spec
    found = Found()
    every = logins(model)
    acls = role_acls(spec, (login.role for login in every))
    engines = {e.path: e.version for e in spec.vault.secrets_engines}
    for read in reads(model, every):
        if read.mount is not None and engines.get(read.mount) != read.version:
            continue  # no such engine, or another version: crossref says so
        if read.key is not None and read.mount is not None:
            _mount_prefix(read, read.mount, read.key, found)
        acl = acls.get(read.login.role)
        if acl is not None:
            _decide(spec, acl, read.login, read.request, read.loc, found, read=read)
    upkept: set[tuple[str, str]] = set()
    for login in every:
        acl = acls.get(login.role)
        if acl is not None and (login.consumer, login.role) not in upkept:
            upkept.add((login.consumer, login.role))
            for request in upkeep(login):
                _decide(spec, acl, login, request, login.loc, found)
    _audiences(spec, every, found)
    _token_review(spec, found)
    return found


def _decide(
    spec: Spec,
    acl: ACL,
    login: Login,
    request: Request,
    loc: Loc,
    found: Found,
    *,
    read: Read | None = None,
) -> None:
    decision = request.decide(acl)
    if decision.allows(request.capability):
        return
    who = f"role {login.role!r}" + (f" (store {login.name!r})" if login.consumer == ESO else "")
    cannot = f"{who} cannot {request.capability} {request.path}"
    if not decision.certain:
        found.warnings.append((loc, f"{cannot} unless a templated rule grants it at login"))
        return
    why = decision.reason(request.capability)
    if read is None:
        why += f" ({request.what})"
    elif login.consumer == PROMETHEUS:
        why += "; Prometheus could not scrape Vault"
    from .propose import propose  # only a refusal needs it

    proposal = propose(acl, spec.vault.policies, request.probe, request.capability)
    fix = f"; {proposal}" if proposal is not None else ""
    found.problems.append((loc, f"{cannot}: {why}{fix}{_v1_hint(acl, read)}"))


def _v1_hint(acl: ACL, read: Read | None) -> str:
    """The classic KV v2 mistake: a rule for ``<mount>/<key>`` (the v1 layout) that grants the
    read ESO would have made on KV v1, never the one it makes under ``<mount>/data/``."""
    if read is None or read.version != 2 or read.mount is None or read.key is None:
        return ""
    v1 = acl.decide(f"{read.mount}/{read.key}", listing=False)
    if v1.grant is None or not v1.allows("read"):
        return _typo_hint(acl, read.request.path)
    return (
        f" (the rule {v1.grant.pattern!r} has no data/: on a KV v2 mount the data is read "
        f"under {read.mount + '/data/'!r})"
    )


def _typo_hint(acl: ACL, path: str) -> str:
    """A rule of the spec's that names ``path`` but for one misspelt folder
    (``kv/data/imich/*`` for ``kv/data/immich/db``); folders that differ only in their
    digits (``app-0``, ``app-1``) are different folders, not a typo."""
    patterns = [g.pattern for g in acl.grants if any(p != DEFAULT for p in g.policies)]
    if len(patterns) > TYPO_CANDIDATES:
        return ""  # a hint, not a proof: not worth a quadratic search of a thousand rules
    from difflib import SequenceMatcher  # only a refusal needs it

    parts = path.split("/")
    for pattern in patterns:
        folders = pattern.removesuffix("*").rstrip("/").split("/")
        if len(folders) > len(parts):
            continue
        # As many parts as it has folders (no longer, above): a folder is compared with its own.
        wrong = [(a, parts[i]) for i, a in enumerate(folders) if a != parts[i]]
        if len(wrong) != 1:
            continue
        written, meant = wrong[0]
        if _digits_out(written) == _digits_out(meant):
            continue
        if SequenceMatcher(None, written, meant).ratio() >= TYPO_RATIO:
            return f" (the rule {pattern!r} is close: {written!r} for {meant!r}?)"
    return ""


def _digits_out(word: str) -> list[str]:
    return [c for c in word if not c.isdigit()]


def _mount_prefix(read: Read, mount_path: str, key: str, found: Found) -> None:
    """ESO's buildPath drops a leading ``<mount>/`` from a key when the store names its mount
    (providers/v1/vault/client_get.go; its own comment calls this a bug for secrets stored
    under a folder named like the mount), so ``kv/gitea/db`` on mount ``kv`` reads
    ``kv/data/gitea/db``."""
    mount = mount_path + "/"
    if not key.startswith(mount):
        return
    meant = key.removeprefix(mount)
    if read.version == 2:
        meant = meant.removeprefix("data/")
    found.warnings.append(
        (
            read.loc,
            f"the key {key!r} starts with the store's mount {mount_path!r}: ESO drops it "
            f"and reads {read.request.path}, never a key {key!r} inside the mount; "
            f"did you mean {meant!r}?",
        )
    )


def _audiences(spec: Spec, every: list[Login], found: Found) -> None:
    """A role's ``audience`` is checked by Vault against the token a consumer sends."""
    auth = spec.vault.kubernetes_auth
    if auth is None:
        return
    said: set[str] = set()
    for login in every:
        wanted = auth.roles[login.role].audience
        if wanted is None or login.role in said:
            continue
        if login.audiences is not None:
            sends = f"a token for {', '.join(repr(a) for a in login.audiences)}"
            ok = wanted in login.audiences
        else:
            ok = wanted in API_SERVER_AUDIENCES
            sends = "the pod's own service account token, whose audience is the API server's"
            sends += f" ({' or '.join(repr(a) for a in API_SERVER_AUDIENCES)} by default)"
        if ok:
            continue
        said.add(login.role)
        found.problems.append(
            (
                ("vault", "kubernetes_auth", "roles", login.role, "audience"),
                f"role {login.role!r} wants audience {wanted!r}, but {login.who} logs in with "
                f"{sends}: Vault would refuse every login; remove the audience",
            )
        )


def _token_review(spec: Spec, found: Found) -> None:
    """Without a reviewer JWT Vault reviews each login with the logging-in token itself, so
    each account that logs in must be allowed to create TokenReviews (token_review.go of the
    kubernetes auth plugin). The generated manifests bind every such account to
    system:auth-delegator; with no kubernetes section nothing is generated."""
    auth = spec.vault.kubernetes_auth
    if auth is None or auth.token_reviewer_jwt is not None or spec.kubernetes is not None:
        return
    found.warnings.append(
        (
            ("vault", "kubernetes_auth"),
            "without token_reviewer_jwt, Vault reviews each login with the logging-in token "
            "itself, so every service account that logs in needs the ClusterRole "
            "system:auth-delegator; with no kubernetes section picluster generates no "
            "binding: bind them yourself, or set token_reviewer_jwt",
        )
    )

"""Vault's ACL semantics: which capabilities a set of policies gives a token on an API path.

A port of OpenBao's ``NewACL``, ``AllowOperation`` and ``CheckAllowedFromNonExactPaths``
(``internal/vault/policy/acl.go``; ``vault/policy/acl.go`` up to v2.6, the same code) and of
the path parsing in ``parsePaths`` (``policy.go``). Vault's ``vault/acl.go`` has the same
algorithm; the priority rules are documented in "Policies", *Priority matching*:
https://developer.hashicorp.com/vault/docs/concepts/policies#priority-matching and
https://openbao.org/docs/concepts/policies/#policy-syntax. The property test in
``tests/integration/test_access_server.py`` holds this module to the real server's
``sys/capabilities``.

Not modelled: parameter constraints, wrapping TTLs, MFA, control groups, path expiration,
namespaces, identity (entity and group) policies. Templated paths (``{{identity...}}``) are
kept aside as *undecidable*: they never grant here, and a decision they could change says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple, Protocol

from .builtin import BUILTIN_POLICIES, PolicyRule

Kind = Literal["exact", "prefix", "segments"]

ROOT = "root"
DENY = "deny"
DEFAULT = "default"

# How a non-exact match ranks against another; see _priority.
Priority = tuple[int, bool, int, int, bytes]


class RuleLike(Protocol):
    """A policy rule: what ``compiler.spec.vault.Rule`` holds (or anything alike)."""

    @property
    def path(self) -> str: ...

    @property
    def capabilities(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Source:
    """What one policy's rule(s) for a pattern say."""

    policy: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """One pattern of the ACL, with the capabilities merged from every policy that names it.

    The server unions the capabilities of the same pattern across policies, except that a
    ``deny`` in any of them leaves ``deny`` alone (``NewACL``).
    """

    pattern: str  # as the server keys it: one leading '/' dropped, a trailing '*' kept
    kind: Kind
    capabilities: frozenset[str]
    sources: tuple[Source, ...]

    @property
    def denied(self) -> bool:
        return DENY in self.capabilities

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(s.policy for s in self.sources)

    def granting(self, capability: str) -> tuple[str, ...]:
        """The policies whose rule for this pattern names ``capability`` (or ``deny``)."""
        wanted = DENY if self.denied else capability
        return tuple(s.policy for s in self.sources if wanted in s.capabilities)

    def __str__(self) -> str:
        names = ", ".join(repr(p) for p in self.policies)
        return f"{self.pattern!r} in {'policy' if len(self.sources) == 1 else 'policies'} {names}"


@dataclass(frozen=True)
class Templated:
    """A rule whose path holds an identity template: the server fills it per token."""

    policy: str
    pattern: str
    capabilities: tuple[str, ...]
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def could_match(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None


@dataclass(frozen=True)
class Refused:
    """A policy the server would refuse to store (so a token carrying it gets nothing)."""

    policy: str
    pattern: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """What a token may do on ``path``, and which pattern decided it."""

    path: str
    capabilities: frozenset[str]  # granted; empty when denied or when nothing matches
    grant: Grant | None = None  # the winning pattern; None when nothing matches (or root)
    root: bool = False
    undecided: tuple[Templated, ...] = ()  # templated rules that might match this path

    @property
    def certain(self) -> bool:
        """False when a templated rule, once filled in, could change the answer."""
        return not self.undecided

    def allows(self, capability: str) -> bool:
        return self.root or (capability != DENY and capability in self.capabilities)

    def answer(self) -> list[str]:
        """The answer ``sys/capabilities`` gives: ``["root"]``, ``["deny"]`` or the sorted
        capabilities (``Capabilities`` in acl.go, sorted in ``Core.Capabilities``)."""
        if self.root:
            return [ROOT]
        return sorted(self.capabilities) or [DENY]

    def explain(self, capability: str) -> str:
        """One line: why ``capability`` is or is not granted on the path."""
        if self.root:
            return "the root policy allows everything"
        verdict = "granted" if self.allows(capability) else "not granted"
        return f"{capability!r} on {self.path!r} {verdict}: {self.reason(capability)}"

    def reason(self, capability: str) -> str:
        """Why ``capability`` is or is not granted, without naming the path."""
        if self.root:
            return "the root policy allows everything"
        if self.grant is None:
            why = "no rule matches"
        elif self.grant.denied:
            why = f"denied by {self.grant}"
        elif self.allows(capability):
            names = ", ".join(repr(p) for p in self.grant.granting(capability))
            why = f"by {self.grant.pattern!r} in {names}"
        else:
            shown = ", ".join(sorted(self.grant.capabilities)) or "none"
            why = f"{self.grant} decides, with only: {shown}"
        if self.undecided:
            why += "; templated rules may change this: " + ", ".join(
                repr(t.pattern) for t in self.undecided
            )
        return why


class _Wildcard(NamedTuple):
    """A ``+`` pattern, pre-split for matching (the loop in CheckAllowedFromNonExactPaths)."""

    grant: Grant
    parts: tuple[str, ...]
    is_prefix: bool
    priority: Priority


def _priority(first: int, is_prefix: bool, wildcards: int, wc_path: str) -> Priority:
    """Bigger wins, in the order of the ``less`` function of CheckAllowedFromNonExactPaths:
    a later first ``+``/``*``; not ending in ``*``; fewer ``+`` segments; longer; greater
    lexicographically. Lengths and positions are in bytes, as Go's are."""
    raw = wc_path.encode()
    return (first, not is_prefix, -wildcards, len(raw), raw)


@dataclass(frozen=True)
class ACL:
    """The compiled ACL of one token. Build it with :func:`compile_acl`."""

    policies: tuple[str, ...]  # the token's policies, as the server sanitises them
    exact: Mapping[str, Grant]
    prefix: tuple[tuple[str, Priority, Grant], ...]  # key, priority, grant
    wildcards: tuple[_Wildcard, ...]
    templated: tuple[Templated, ...] = ()
    refused: tuple[Refused, ...] = ()
    missing: tuple[str, ...] = ()  # names the token carries that no policy defines
    is_root: bool = False

    @property
    def grants(self) -> tuple[Grant, ...]:
        """Every pattern of the ACL, merged (for reports of what a token can do)."""
        out = [*self.exact.values(), *(g for _, _, g in self.prefix)]
        out += [w.grant for w in self.wildcards]
        return tuple(sorted(out, key=lambda g: (g.pattern, g.kind)))

    def decide(self, path: str, *, listing: bool = True) -> Decision:
        """The token's capabilities on ``path``.

        ``listing=True`` is what ``sys/capabilities`` answers (it asks as a LIST, which also
        tries ``path`` without its trailing ``/``); a real request other than LIST or SCAN
        on a path that ends in ``/`` is checked with ``listing=False``.
        """
        if self.is_root:
            return Decision(path, frozenset(), root=True)
        grant = self._lookup(path.lstrip("/"), listing)
        undecided = tuple(t for t in self.templated if t.could_match(path.lstrip("/")))
        if grant is None or grant.denied:
            return Decision(path, frozenset(), grant, undecided=undecided)
        return Decision(path, grant.capabilities, grant, undecided=undecided)

    def allows(self, path: str, capability: str) -> bool:
        """Whether a request needing ``capability`` on ``path`` is allowed."""
        return self.decide(path, listing=capability in ("list", "scan")).allows(capability)

    def matches(self, path: str, *, listing: bool = True) -> tuple[Grant, ...]:
        """Every pattern that matches ``path``: the one that decides first, then the ones it
        outranks, in the order the server would have fallen back to them (to say why a
        rule is not the one that applies)."""
        if self.is_root:
            return ()
        found: list[Grant] = []
        for where, exact_only in _stages(path.lstrip("/"), listing):
            if exact_only:
                found += [g] if (g := self.exact.get(where)) else []
            else:
                found += [g for _, g in sorted(self._ranked(where), key=_first, reverse=True)]
        return tuple(dict.fromkeys(found))

    def _lookup(self, path: str, listing: bool) -> Grant | None:
        for where, exact_only in _stages(path, listing):
            grant = self.exact.get(where) if exact_only else self._non_exact(where)
            if grant is not None:
                return grant
        return None

    def _non_exact(self, path: str) -> Grant | None:
        # CheckAllowedFromNonExactPaths: the longest '*' prefix (a radix tree's
        # LongestPrefix) and every matching '+' pattern compete; the highest priority wins.
        ranked = self._ranked(path)
        return max(ranked, key=_first)[1] if ranked else None

    @cached_property
    def _by_prefix(self) -> dict[str, tuple[Priority, Grant]]:
        # Every '*' key a path starts with is one of the path's own prefixes: looking those
        # up is linear in the path, not in the number of rules (1000 policies of one role).
        return {key: (p, g) for key, p, g in self.prefix}

    @cached_property
    def _prefix_lengths(self) -> tuple[int, ...]:
        return tuple(sorted({len(key) for key in self._by_prefix}))

    def _ranked(self, path: str) -> list[tuple[Priority, Grant]]:
        index, size = self._by_prefix, len(path)
        out = [
            found
            for n in self._prefix_lengths
            if n <= size and (found := index.get(path[:n])) is not None
        ]
        if self.wildcards:
            parts = path.split("/")
            out += [(w.priority, w.grant) for w in self.wildcards if _segments_match(w, parts)]
        return out


def _first(ranked: tuple[Priority, Grant]) -> Priority:
    return ranked[0]


def _stages(path: str, listing: bool) -> list[tuple[str, bool]]:
    """Where AllowOperation looks, in order: (path, exact rules only?). An exact rule first,
    then the non-exact ones; a LIST (what sys/capabilities asks as) also tries the path
    without its trailing '/', after each of the two."""
    if not listing:
        return [(path, True), (path, False)]
    stages = [(path, True), (path.removesuffix("/"), True), (path, False)]
    if path.endswith("/"):
        stages.append((path[:-1], False))
    return stages


def _segments_match(wild: _Wildcard, parts: list[str]) -> bool:
    if len(parts) < len(wild.parts) or (not wild.is_prefix and len(parts) != len(wild.parts)):
        return False
    last = len(wild.parts) - 1
    for i, want in enumerate(wild.parts):
        if want == "+" or want == parts[i]:
            continue
        if wild.is_prefix and i == last and parts[i].startswith(want):
            continue
        return False
    return True


_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def refusal(pattern: str) -> str | None:
    """Why the server refuses a policy holding ``pattern`` (parsePaths), or None."""
    if "+*" in pattern:
        return "invalid use of wildcards ('+*' is forbidden)"
    return None


def is_templated(pattern: str) -> bool:
    return _TEMPLATE.search(pattern) is not None


def _kind(pattern: str) -> tuple[Kind, str]:
    """The tree the server files ``pattern`` in, and its key there (parsePaths)."""
    if pattern == "+" or "/+" in pattern or pattern.startswith("+/"):
        return "segments", pattern
    if pattern.endswith("*"):
        return "prefix", pattern[:-1]
    return "exact", pattern


@functools.lru_cache(maxsize=1024)
def _template_regex(pattern: str) -> re.Pattern[str]:
    """Paths the templated ``pattern`` could match once filled: a template becomes any text
    without '/' (the default blocks '/', '*' and '+' in substituted values)."""
    out = []
    body = pattern[:-1] if pattern.endswith("*") else pattern
    for i, piece in enumerate(_TEMPLATE.split(body)):
        if i:
            out.append("[^/]*")
        out.append("".join("[^/]*" if c == "+" else re.escape(c) for c in piece))
    return re.compile("".join(out) + (".*" if pattern.endswith("*") else ""))


def sanitize(names: Iterable[str], *, add_default: bool = False) -> tuple[str, ...]:
    """The token's policy names as the server stores them (SanitizePolicies in
    sdk/helper/policyutil): trimmed, lower-cased, no duplicates; ``root`` alone if present;
    ``default`` added when ``add_default`` (a login adds it unless the role sets
    ``token_no_default_policy``)."""
    out: dict[str, None] = {}  # ordered, and a role of a thousand policies stays linear
    for raw in names:
        name = raw.strip().lower()
        if name == ROOT:
            return (ROOT,)
        if name:
            out[name] = None
    if add_default:
        out[DEFAULT] = None
    return tuple(out)


def compile_acl(
    policies: Mapping[str, Sequence[RuleLike]],
    names: Iterable[str],
    *,
    builtin: Mapping[str, Sequence[RuleLike]] = BUILTIN_POLICIES,
) -> ACL:
    """The ACL of a token carrying the policies ``names``.

    Args:
        policies: policy name -> rules, as ``spec.vault.policies``; a name here replaces a
            built-in policy of the same name (``default`` can be rewritten; ``root`` cannot).
        names: the token's policies (for a role: :func:`sanitize` with ``add_default=True``).
        builtin: the server's own policies, used for names ``policies`` does not define.
    """
    token = sanitize(names)
    if token == (ROOT,):
        return ACL(token, {}, (), (), is_root=True)
    chosen: dict[tuple[Kind, str], list[tuple[Grant, object]]] = {}
    templated: list[Templated] = []
    refused: list[Refused] = []
    missing: list[str] = []
    for name in token:
        rules = policies.get(name, builtin.get(name))
        if rules is None:
            missing.append(name)  # the server ignores a policy it does not have
            continue
        fragment = _fragment(name, _snapshot(rules))
        refused += fragment.refused
        templated += fragment.templated
        for where, grant, compiled in fragment.entries:
            chosen.setdefault(where, []).append((grant, compiled))
    exact: dict[str, Grant] = {}
    prefix: list[tuple[str, Priority, Grant]] = []
    wildcards: list[_Wildcard] = []
    for (kind, key), found in chosen.items():
        # A pattern only one policy names keeps what that policy compiled to.
        grant, compiled = found[0] if len(found) == 1 else _merged([g for g, _ in found])
        if kind == "exact":
            exact[key] = grant
        elif kind == "prefix":
            assert isinstance(compiled, tuple)  # noqa: S101 -- a prefix's priority
            prefix.append((key, compiled, grant))
        else:
            assert isinstance(compiled, _Wildcard)  # noqa: S101 -- a '+' pattern's parts
            wildcards.append(compiled)
    return ACL(
        token,
        exact,
        tuple(prefix),
        tuple(wildcards),
        tuple(templated),
        tuple(refused),
        tuple(missing),
    )


# A built-in policy is a tuple of frozen rules: its snapshot is taken once (the tuple is kept
# here, so its id is never reused for another object).
_SNAPSHOTS: dict[int, tuple[Sequence[RuleLike], tuple[tuple[str, tuple[str, ...]], ...]]] = {}


def _snapshot(rules: Sequence[RuleLike]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The rules as plain data (a policy's text, for the fragment cache)."""
    if isinstance(rules, tuple):
        found = _SNAPSHOTS.get(id(rules))
        if found is not None and found[0] is rules:
            return found[1]
    taken = tuple((r.path, tuple(r.capabilities)) for r in rules)
    frozen = isinstance(rules, tuple) and all(isinstance(r, PolicyRule) for r in rules)
    if frozen and len(_SNAPSHOTS) < 64:
        _SNAPSHOTS[id(rules)] = (rules, taken)
    return taken


class _Fragment(NamedTuple):
    """One policy, compiled alone: what it refuses, its templated rules, and its patterns
    (each with what its tree needs: a prefix's priority, a '+' pattern's parts)."""

    refused: tuple[Refused, ...]
    templated: tuple[Templated, ...]
    entries: tuple[tuple[tuple[Kind, str], Grant, object], ...]


@functools.lru_cache(maxsize=4096)
def _fragment(name: str, rules: tuple[tuple[str, tuple[str, ...]], ...]) -> _Fragment:
    """Cached by the policy's text: a role's tokens share the default policy, and a report
    compiles a thousand roles."""
    bad = [(path, why) for path, _ in rules if (why := refusal(path.removeprefix("/")))]
    if bad:
        return _Fragment(tuple(Refused(name, p, why) for p, why in bad), (), ())
    merged: dict[tuple[Kind, str], tuple[str, set[str], list[Source]]] = {}
    templated: list[Templated] = []
    for path, caps in rules:
        _add(merged, templated, name, path, caps)
    entries = []
    for (kind, key), (pattern, have, sources) in merged.items():
        grant = Grant(pattern, kind, frozenset(have), _by_policy(sources))
        entries.append(((kind, key), grant, _compiled(kind, key, grant)))
    return _Fragment((), tuple(templated), tuple(entries))


def _compiled(kind: Kind, key: str, grant: Grant) -> object:
    if kind == "prefix":
        return _priority(len(key.encode()), True, 0, key)
    if kind == "segments":
        return _wildcard(grant)
    return None


def _merged(grants: list[Grant]) -> tuple[Grant, object]:
    """The same pattern in several policies of a token: capabilities unioned, except that a
    deny leaves deny alone (NewACL); the pattern as the first policy wrote it."""
    have: set[str] = set()
    for grant in grants:
        if DENY in have:
            break  # an explicit deny already there: nothing else is saved
        if grant.denied:
            have = {DENY}
        else:
            have |= grant.capabilities
    first = grants[0]
    sources = tuple(sorted((s for g in grants for s in g.sources), key=lambda s: s.policy))
    grant = Grant(first.pattern, first.kind, frozenset(have), sources)
    key = first.pattern[:-1] if first.kind == "prefix" else first.pattern
    return grant, _compiled(first.kind, key, grant)


def _add(
    merged: dict[tuple[Kind, str], tuple[str, set[str], list[Source]]],
    templated: list[Templated],
    policy: str,
    path: str,
    capabilities: tuple[str, ...],
) -> None:
    pattern, caps, kind, key = _parsed(path, capabilities)
    if kind is None:
        templated.append(Templated(policy, pattern, caps, _template_regex(pattern)))
        return
    entry = merged.setdefault((kind, key), (pattern, set(), []))
    have = entry[1]
    entry[2].append(Source(policy, caps))
    if DENY in have:
        return  # an explicit deny already there: nothing else is saved
    if DENY in caps:
        have.clear()
        have.add(DENY)
    else:
        have.update(caps)


@functools.lru_cache(maxsize=65536)
def _parsed(
    path: str, capabilities: tuple[str, ...]
) -> tuple[str, tuple[str, ...], Kind | None, str]:
    """A rule as parsePaths files it: its pattern, capabilities, tree and key there (no tree
    for a templated path). Cached: the default policy's rules are in every role's token."""
    # parsePaths strips exactly one leading '/'; request paths lose all of theirs.
    pattern = path.removeprefix("/")
    caps = (DENY,) if DENY in capabilities else capabilities  # parsePaths keeps deny alone
    if is_templated(pattern):
        return pattern, caps, None, pattern
    kind, key = _kind(pattern)
    return pattern, caps, kind, key


def _by_policy(sources: list[Source]) -> tuple[Source, ...]:
    """One Source per policy (a policy may repeat a pattern), in policy-name order."""
    if len(sources) == 1:  # the common case, without the merging
        only = sources[0].capabilities
        return (Source(sources[0].policy, only if DENY in only else tuple(sorted(set(only)))),)
    out: dict[str, list[str]] = {}
    for s in sources:
        caps = out.setdefault(s.policy, [])
        caps += [c for c in s.capabilities if c not in caps]
    return tuple(
        Source(p, (DENY,) if DENY in caps else tuple(sorted(caps)))
        for p, caps in sorted(out.items())
    )


def _wildcard(grant: Grant) -> _Wildcard:
    full = grant.pattern
    is_prefix = full.endswith("*")
    wc_path = full[:-1] if is_prefix else full
    parts = tuple(wc_path.split("/"))
    first = full.encode().index(b"+")  # the first '+' anywhere, even inside a segment
    wildcards = parts.count("+")
    return _Wildcard(grant, parts, is_prefix, _priority(first, is_prefix, wildcards, wc_path))

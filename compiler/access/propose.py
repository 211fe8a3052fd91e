"""The smallest policy change that would give a token a capability it lacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .acl import ACL, DEFAULT, DENY, Grant, RuleLike
from .builtin import PolicyRule

Change = Literal["add", "remove-deny"]


@dataclass(frozen=True)
class Proposal:
    """Grant ``capability`` on ``pattern`` in ``policies[0]`` (``add``), or drop the deny on
    ``pattern`` from each of ``policies`` (``remove-deny``). ``policies`` is empty when the
    token carries no policy of the spec to put the rule in."""

    change: Change
    capability: str
    pattern: str
    policies: tuple[str, ...]
    overrides: Grant | None = None  # a deny the new exact rule wins over

    def __str__(self) -> str:
        names = " or ".join(repr(p) for p in self.policies)
        if self.change == "remove-deny":
            return f"remove the deny on {self.pattern!r} from {names}"
        where = f"in policy {names}" if self.policies else "in a policy of the token"
        text = f"grant {self.capability!r} on {self.pattern!r} {where}"
        if self.overrides is not None:
            text += f" (it overrides the deny of {self.overrides} for this path only)"
        return text


def propose(
    acl: ACL, policies: Mapping[str, Sequence[RuleLike]], path: str, capability: str
) -> Proposal | None:
    """What would give ``acl``'s token ``capability`` on ``path``; None if it has it.

    The rule goes where it changes the least: the capability is added to the pattern that
    decides today (the same pattern in two policies merges, so any of the token's policies
    will do, and one that already names the pattern is preferred); when nothing matches, or
    a ``deny`` pattern decides, an exact rule for ``path`` is proposed (an exact path wins
    over every pattern); a ``deny`` on the exact path itself can only be removed.

    Args:
        acl: the token's ACL (:func:`compile_acl`).
        policies: the spec's policies (where a rule can be added).
        path: a concrete API path (an identity template in it would make the proposed
            exact rule a templated one, which grants nothing the model can see).
        capability: what the request needs.
    """
    listing = capability in ("list", "scan")
    decision = acl.decide(path, listing=listing)
    if decision.allows(capability):
        return None
    editable = tuple(p for p in acl.policies if p in policies and p != DEFAULT)
    grant = decision.grant
    exact = path.lstrip("/")
    if grant is None:
        return Proposal("add", capability, exact, editable[:1])
    if grant.denied:
        if grant.kind == "exact":
            return Proposal("remove-deny", capability, grant.pattern, grant.granting(DENY))
        return Proposal("add", capability, exact, editable[:1], overrides=grant)
    named = tuple(p for p in grant.policies if p in editable)
    return Proposal("add", capability, grant.pattern, (named or editable)[:1])


def applied(
    policies: Mapping[str, Sequence[RuleLike]], proposal: Proposal
) -> dict[str, list[RuleLike]]:
    """``policies`` with ``proposal`` made (to check it, or to show the policy after)."""
    out: dict[str, list[RuleLike]] = {name: list(rules) for name, rules in policies.items()}
    if proposal.change == "remove-deny":
        for name in proposal.policies:
            out[name] = [
                r
                for r in out[name]
                if not (r.path.removeprefix("/") == proposal.pattern and DENY in r.capabilities)
            ]
        return out
    for name in proposal.policies:
        out[name].append(PolicyRule(proposal.pattern, (proposal.capability,)))
    return out

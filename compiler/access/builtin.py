"""The server's own ``default`` policy, as rules the access model reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyRule:
    """A rule outside the spec (a built-in policy's, or a proposed one)."""

    path: str
    capabilities: tuple[str, ...]


def _rules(*pairs: tuple[str, str]) -> tuple[PolicyRule, ...]:
    return tuple(PolicyRule(path, tuple(caps.split())) for path, caps in pairs)


# OpenBao's ``DefaultPolicy`` (internal/vault/policy/policy_store.go, the same in
# vault/policy/policy_store.go of v2.6), in its order; checked against a live server's
# sys/policies/acl/default by the integration test. The server writes it once, when its
# storage is first unsealed, and never again: a server that began life on an older version,
# or a HashiCorp Vault, may hold a different one (plan can read the live one instead).
DEFAULT_RULES = _rules(
    ("auth/token/lookup-self", "read"),
    ("auth/token/renew-self", "update"),
    ("auth/token/revoke-self", "update"),
    ("sys/capabilities-self", "update"),
    ("identity/entity/id/{{identity.entity.id}}", "read"),
    ("identity/entity/name/{{identity.entity.name}}", "read"),
    ("sys/internal/ui/resultant-acl", "read"),
    ("sys/leases/renew", "update"),
    ("sys/leases/lookup", "update"),
    ("cubbyhole/*", "create read update delete list"),
    ("sys/wrapping/wrap", "update"),
    ("sys/wrapping/lookup", "update"),
    ("sys/wrapping/unwrap", "update"),
    ("sys/tools/hash", "update"),
    ("sys/tools/hash/*", "update"),
    ("identity/oidc/provider/+/authorize", "read update"),
)

BUILTIN_POLICIES: Mapping[str, tuple[PolicyRule, ...]] = {"default": DEFAULT_RULES}
"""Policies every server has without being told; ``root`` is special-cased, not a rule set."""

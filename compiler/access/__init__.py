"""The access model: what a token of the spec's policies may do, and what consumers need.

- ``acl``: Vault's ACL semantics (exact paths, ``*``, ``+``, priority, merge, deny, root).
- ``builtin``: the server's ``default`` policy.
- ``propose``: the rule that would grant a missing capability.
- ``consumers``: the API paths ESO and the injector's Prometheus token use.
- ``usage``: who logs in in a spec (each store, Prometheus), with which role and audience.
- ``checks``: what ``validate`` refuses and warns about (called from ``crossref``).
- ``live``: what ``plan`` says fails now and after the apply (``policy_text`` reads the
  server's policies back).
- ``report``: ``picluster access``.

Pure: no I/O. Typical use::

    policies = spec.vault.policies
    acl = compile_acl(policies, sanitize(role.policies, add_default=True))
    for read in usage.reads(model):  # every entry of every ExternalSecret, parsed once
        request = read.request
        decision = request.decide(acl)  # acl: the ACL of read.login.role
        if not decision.allows(request.capability):
            why = decision.explain(request.capability)
            fix = propose(acl, policies, request.probe, request.capability)
"""

from __future__ import annotations

from .acl import (
    ACL,
    Decision,
    Grant,
    Kind,
    Refused,
    RuleLike,
    Source,
    Templated,
    compile_acl,
    is_templated,
    refusal,
    sanitize,
)
from .builtin import BUILTIN_POLICIES, DEFAULT_RULES, PolicyRule
from .consumers import (
    ANY_KEY,
    Request,
    eso_data,
    eso_data_path,
    eso_extract,
    eso_find,
    eso_metadata_path,
    prometheus_metrics,
    strips_mount,
    token_upkeep,
)
from .propose import Proposal, applied, propose

__all__ = [
    "ACL",
    "ANY_KEY",
    "BUILTIN_POLICIES",
    "DEFAULT_RULES",
    "Decision",
    "Grant",
    "Kind",
    "PolicyRule",
    "Proposal",
    "Refused",
    "Request",
    "RuleLike",
    "Source",
    "Templated",
    "applied",
    "compile_acl",
    "eso_data",
    "eso_data_path",
    "eso_extract",
    "eso_find",
    "eso_metadata_path",
    "is_templated",
    "prometheus_metrics",
    "propose",
    "refusal",
    "sanitize",
    "strips_mount",
    "token_upkeep",
]

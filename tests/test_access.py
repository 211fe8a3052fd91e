"""The access model, on the examples of the Vault/OpenBao policy documentation and of ESO's
source; the same model is held to a real server in tests/integration/test_access_server.py.

Docs: https://openbao.org/docs/concepts/policies/ (website/content/docs/concepts/policies.mdx
of openbao/openbao) and https://developer.hashicorp.com/vault/docs/concepts/policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from compiler.access import (
    ANY_KEY,
    PolicyRule,
    Request,
    RuleLike,
    applied,
    compile_acl,
    eso_data,
    eso_data_path,
    eso_extract,
    eso_find,
    eso_metadata_path,
    prometheus_metrics,
    propose,
    sanitize,
    strips_mount,
)
from compiler.model import RemoteRef
from compiler.spec import Rule

Policies = Mapping[str, Sequence[RuleLike]]


def rules(*pairs: tuple[str, str]) -> list[PolicyRule]:
    return [PolicyRule(path, tuple(caps.split())) for path, caps in pairs]


def answer(policies: Policies, path: str, names: Sequence[str] | None = None) -> list[str]:
    return compile_acl(policies, names or list(policies)).decide(path).answer()


ALL = "create read update patch delete list scan"

# --- the documentation's examples ----------------------------------------------------------


def test_explicit_deny_beats_a_glob() -> None:
    """Docs: 'Even though we allowed secret/*, this line explicitly denies secret/super-secret.
    This takes precedence.'"""
    p = {"p": rules(("secret/*", ALL), ("secret/super-secret", "deny"))}
    assert answer(p, "secret/super-secret") == ["deny"]
    assert answer(p, "secret/other") == sorted(ALL.split())


@pytest.mark.parametrize(
    ("pattern", "path", "read"),
    [
        # 'Permit reading only "secret/foo". An attached token cannot read "secret/food" or
        # "secret/foo/bar".'
        ("secret/foo", "secret/foo", True),
        ("secret/foo", "secret/food", False),
        ("secret/foo", "secret/foo/bar", False),
        # '... could read "secret/bar/zip", "secret/bar/zip/zap", but not "secret/bars/zip".'
        ("secret/bar/*", "secret/bar/zip", True),
        ("secret/bar/*", "secret/bar/zip/zap", True),
        ("secret/bar/*", "secret/bars/zip", False),
        # '... could read "secret/zip-zap" or "secret/zip-zap/zong", but not "secret/zip/zap"'
        ("secret/zip-*", "secret/zip-zap", True),
        ("secret/zip-*", "secret/zip-zap/zong", True),
        ("secret/zip-*", "secret/zip/zap", False),
        # 'if you define a policy for "secret/foo*", the policy would also match
        # "secret/foobar"'
        ("secret/foo*", "secret/foobar", True),
        # 'Permit reading the "teamb" path under any top-level path under secret/'
        ("secret/+/teamb", "secret/foo/teamb", True),
        ("secret/+/teamb", "secret/foo/bar/teamb", False),
        # 'Permit reading secret/foo/bar/teamb, secret/bar/foo/teamb, etc.'
        ("secret/+/+/teamb", "secret/foo/bar/teamb", True),
        ("secret/+/+/teamb", "secret/bar/foo/teamb", True),
        ("secret/+/+/teamb", "secret/foo/teamb", False),
    ],
)
def test_exact_glob_and_segment_patterns(pattern: str, path: str, read: bool) -> None:
    acl = compile_acl({"p": rules((pattern, "read"))}, ["p"])
    assert acl.allows(path, "read") is read


@pytest.mark.parametrize(
    ("lower", "higher", "path"),
    [
        # 1. 'If the first wildcard (+) or glob (*) occurs earlier in P1, P1 is lower priority'
        ("secret/+/x", "secret/a*", "secret/ab/x"),
        # 2. 'If P1 ends in * and P2 doesn't, P1 is lower priority'
        ("secret/+/a*", "secret/+/a", "secret/x/a"),
        # 3. the docs' own example: 'given the two paths, "secret/*" and "secret/+/+/foo/*"
        # ... give "secret/+/+/foo/*" lower priority'
        ("secret/+/+/foo/*", "secret/*", "secret/a/b/foo/c"),
        # 4. 'If P1 is shorter, it is lower priority'
        ("secret/+/a*", "secret/+/ab*", "secret/x/abc"),
        # 5. 'If P1 is smaller lexicographically, it is lower priority'
        ("s/+/+/x", "s/+/x/+", "s/a/x/x"),
    ],
)
def test_priority_between_overlapping_patterns(lower: str, higher: str, path: str) -> None:
    p = {"low": rules((lower, "list")), "high": rules((higher, "read"))}
    for names in (["low", "high"], ["high", "low"]):
        acl = compile_acl(p, names)
        decision = acl.decide(path)
        assert decision.answer() == ["read"]
        assert decision.grant is not None
        assert (decision.grant.pattern, decision.grant.policies) == (higher, ("high",))
        assert [g.pattern for g in acl.matches(path)] == [higher, lower]


def test_a_plus_inside_a_segment_is_literal_but_counts_as_the_first_wildcard() -> None:
    """'x+y/+' matches 'x+y/z' literally, yet its first '+' is at 1, so 'x+y/*' (glob at 4)
    wins: rule 1 read as the server does (OpenBao 2.7.2 answers ["list"] on x+y/z)."""
    p = {"p": rules(("x+y/+", "read"), ("x+y/*", "list"))}
    assert answer(p, "x+y/z") == ["list"]
    assert answer({"p": rules(("x+y/+", "read"))}, "x+y/z") == ["read"]
    assert answer({"p": rules(("x+y/+", "read"))}, "xay/z") == ["deny"]


def test_an_exact_path_beats_every_pattern() -> None:
    p = {"p": rules(("secret/+/x", "list"), ("secret/a/*", "update"), ("secret/a/x", "read"))}
    assert answer(p, "secret/a/x") == ["read"]


def test_same_pattern_in_two_policies_is_the_union() -> None:
    """Docs: 'If the same pattern appears in multiple policies, we take the union of the
    capabilities. If different patterns appear ... only the highest-priority match.'"""
    p = {
        "a": rules(("secret/data/*", "read")),
        "b": rules(("secret/data/*", "list"), ("secret/*", "update")),
    }
    decision = compile_acl(p, ["a", "b"]).decide("secret/data/x")
    assert decision.answer() == ["list", "read"]
    assert decision.grant is not None
    assert decision.grant.granting("read") == ("a",)
    assert answer(p, "secret/data/x", ["b"]) == ["list"]


def test_deny_wins_the_merge_even_over_sudo() -> None:
    """Docs: 'deny - Disallows access. This always takes precedence regardless of any other
    defined capabilities, including sudo.'"""
    p = {"a": rules(("sys/audit/*", "sudo read update")), "b": rules(("sys/audit/*", "deny"))}
    for names in (["a", "b"], ["b", "a"]):
        decision = compile_acl(p, names).decide("sys/audit/file")
        assert decision.answer() == ["deny"]
        assert decision.grant is not None
        assert decision.grant.granting("read") == ("b",)


def test_listing_matches_the_path_without_its_trailing_slash() -> None:
    """A LIST is made on 'path/'; a rule for 'path' grants it, with or without '+' (Vault
    PR #23874: 'Wildcard ACL policies without a trailing slash should match LIST')."""
    p = {"p": rules(("secret/metadata/apps", "list"), ("+/sys/policies/acl", "list"))}
    acl = compile_acl(p, ["p"])
    assert acl.allows("secret/metadata/apps/", "list")
    assert acl.allows("ns1/sys/policies/acl/", "list")
    # Only a LIST falls back: a read of 'x/' is checked on 'x/' alone.
    q = compile_acl({"p": rules(("secret/x", "read"))}, ["p"])
    assert q.decide("secret/x/").answer() == ["read"]  # what sys/capabilities says
    assert not q.allows("secret/x/", "read")


# --- built-in policies, root, names --------------------------------------------------------


def test_default_policy() -> None:
    acl = compile_acl({}, ["default"])
    assert acl.decide("sys/capabilities-self").answer() == ["update"]
    assert acl.decide("cubbyhole/app/x").answer() == ["create", "delete", "list", "read", "update"]
    assert acl.decide("identity/oidc/provider/p/authorize").answer() == ["read", "update"]
    assert acl.decide("secret/data/x").answer() == ["deny"]
    assert compile_acl({}, ["p"]).decide("sys/capabilities-self").answer() == ["deny"]


def test_templated_paths_are_undecided_not_granted() -> None:
    """'identity/entity/id/{{identity.entity.id}}' is filled per token: the spec cannot say
    whether it matches, so it grants nothing here and the decision says so."""
    decision = compile_acl({}, ["default"]).decide("identity/entity/id/1234")
    assert decision.answer() == ["deny"]
    assert not decision.certain
    assert [t.pattern for t in decision.undecided] == ["identity/entity/id/{{identity.entity.id}}"]
    assert compile_acl({}, ["default"]).decide("identity/entity/id/a/b").certain
    p = {"p": rules(("secret/data/{{identity.entity.name}}/*", "read"), ("secret/*", "list"))}
    decision = compile_acl(p, ["p"]).decide("secret/data/me/x")
    assert (decision.answer(), decision.certain) == (["list"], False)


def test_a_spec_policy_named_default_replaces_the_builtin() -> None:
    acl = compile_acl({"default": rules(("sys/metrics", "read"))}, ["default"])
    assert acl.decide("sys/metrics").answer() == ["read"]
    assert acl.decide("sys/capabilities-self").answer() == ["deny"]


def test_root() -> None:
    for names in (["root"], ["p", "root"], [" Root "]):
        decision = compile_acl({"p": rules(("a", "read"))}, names).decide("sys/anything")
        assert decision.answer() == ["root"]
        assert decision.allows("sudo")


def test_sanitize() -> None:
    """SanitizePolicies: trimmed, lower-case, no duplicates, root alone, default added."""
    assert sanitize([" ESO ", "eso", "", "reader"], add_default=True) == (
        "eso",
        "reader",
        "default",
    )
    assert sanitize(["reader", "root", "x"], add_default=True) == ("root",)
    assert sanitize(["default", "a"], add_default=True) == ("default", "a")


def test_a_policy_the_server_refuses_grants_nothing() -> None:
    p = {"bad": rules(("secret/+*", "read"), ("other/*", "read")), "ok": rules(("x", "read"))}
    acl = compile_acl(p, ["bad", "ok", "nope"])
    assert [(r.policy, r.pattern) for r in acl.refused] == [("bad", "secret/+*")]
    assert acl.missing == ("nope",)
    assert acl.decide("other/a").answer() == ["deny"]
    assert acl.decide("x").answer() == ["read"]


def test_spec_rules_are_read_as_they_are() -> None:
    p = {"r": [Rule(path="/secret/data/*", capabilities=["read", "list"])]}
    assert answer(p, "secret/data/a") == ["list", "read"]


def test_explain() -> None:
    p = {
        "eso": rules(("secret/data/apps/*", "list"), ("secret/data/x", "read")),
        "no": rules(("secret/data/private/*", "deny")),
    }
    acl = compile_acl(p, ["eso", "no"])
    assert acl.decide("secret/data/apps/db").explain("read") == (
        "'read' on 'secret/data/apps/db' not granted: 'secret/data/apps/*' in policy 'eso' "
        "decides, with only: list"
    )
    assert acl.decide("secret/data/x").explain("read") == (
        "'read' on 'secret/data/x' granted: by 'secret/data/x' in 'eso'"
    )
    assert acl.decide("secret/data/private/k").explain("read") == (
        "'read' on 'secret/data/private/k' not granted: denied by 'secret/data/private/*' in "
        "policy 'no'"
    )
    assert acl.decide("kv/data/y").explain("read") == (
        "'read' on 'kv/data/y' not granted: no rule matches"
    )


# --- proposals -----------------------------------------------------------------------------


def check(policies: Policies, names: list[str], path: str, capability: str) -> str:
    """The proposal's text, after checking that making it grants ``capability``."""
    acl = compile_acl(policies, names)
    proposal = propose(acl, policies, path, capability)
    assert proposal is not None
    assert compile_acl(applied(policies, proposal), names).allows(path, capability)
    return str(proposal)


def test_propose() -> None:
    # The first case: a policy covers only app-0, ESO reads apps/app-7.
    p: Policies = {"eso": rules(("secret/data/app-0/*", "read"))}
    names = ["eso", "default"]
    assert check(p, names, "secret/data/apps/app-7", "read") == (
        "grant 'read' on 'secret/data/apps/app-7' in policy 'eso'"
    )
    # A pattern decides but lacks the capability: add it there.
    p = {"eso": rules(("secret/data/apps/*", "list")), "x": rules(("secret/*", "read"))}
    assert check(p, ["eso", "x"], "secret/data/apps/db", "read") == (
        "grant 'read' on 'secret/data/apps/*' in policy 'eso'"
    )
    # A deny pattern decides: an exact rule overrides it for this path only.
    p = {"eso": rules(("secret/data/*", "read")), "no": rules(("secret/data/db*", "deny"))}
    assert check(p, ["eso", "no"], "secret/data/db", "read") == (
        "grant 'read' on 'secret/data/db' in policy 'eso' (it overrides the deny of "
        "'secret/data/db*' in policy 'no' for this path only)"
    )
    # A deny on the exact path: only removing it helps.
    p = {"eso": rules(("secret/data/db", "read")), "no": rules(("/secret/data/db", "deny"))}
    assert check(p, ["eso", "no"], "secret/data/db", "read") == (
        "remove the deny on 'secret/data/db' from 'no'"
    )
    # Only the built-in default decides, and the token has no policy of the spec.
    proposal = propose(compile_acl({}, ["default"]), {}, "cubbyhole/x", "sudo")
    assert str(proposal) == "grant 'sudo' on 'cubbyhole/*' in a policy of the token"
    assert propose(compile_acl(p, ["eso"]), p, "secret/data/db", "read") is None


# --- consumers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "key", "path"),
    [
        # buildPath's own examples (pkg/provider/vault/client_get.go), provider path set:
        (2, "foo", "secret/path/data/foo"),  # "provider_path and data are prepended"
        (1, "foo", "secret/path/foo"),  # "provider_path is prepended"
        (2, "secret/path/foo", "secret/path/data/foo"),  # "data is prepended"
        (2, "secret/path/data/foo", "secret/path/data/foo"),  # "noop"
        (1, "secret/path/foo", "secret/path/foo"),  # "noop"
    ],
)
def test_eso_read_paths(version: int, key: str, path: str) -> None:
    assert eso_data_path("secret/path", version, key) == path  # type: ignore[arg-type]


def test_eso_data_and_extract() -> None:
    # The 'kv/gitea/db#password' on mount kv: ESO strips the mount, it does not read
    # kv/data/kv/gitea/db.
    assert eso_data("kv", 2, "kv/gitea/db") == Request(
        "read", "kv/data/gitea/db", "ESO reads 'kv/gitea/db'"
    )
    assert strips_mount("kv", "kv/gitea/db")
    assert not strips_mount("kv", "kvx/db")
    assert eso_extract("kv", 1, "gitea/db").path == "kv/gitea/db"
    assert RemoteRef.parse("a/b#c") == RemoteRef("a/b", "c")
    assert RemoteRef.parse("a/b") == RemoteRef("a/b", None)
    assert eso_metadata_path("kv", 2, "kv/gitea") == "kv/metadata/kv/gitea"


def test_eso_find() -> None:
    listed, folders, reads = eso_find("secret", 2, "apps")
    assert (listed.capability, listed.path) == ("list", "secret/metadata/apps/")
    assert not listed.below
    assert (folders.capability, folders.probe) == ("list", f"secret/metadata/apps/{ANY_KEY}")
    assert (reads.capability, reads.probe) == ("read", f"secret/data/apps/{ANY_KEY}")
    assert [r.path for r in eso_find("kv", 1)] == ["kv/", "kv/", "kv/"]
    assert len(eso_find("secret", 2, tags=True)) == 4
    with pytest.raises(ValueError, match="KV v1"):
        eso_find("kv", 1, tags=True)
    p = {"eso": rules(("secret/metadata/apps/*", "list"), ("secret/data/apps/+", "read"))}
    acl = compile_acl(p, ["eso"])
    assert [r.decide(acl).allows(r.capability) for r in eso_find("secret", 2, "apps")] == [
        True,
        True,
        True,
    ]
    assert not eso_find("secret", 2)[0].decide(acl).allows("list")


def test_prometheus() -> None:
    metrics = prometheus_metrics()
    assert (metrics.capability, metrics.path) == ("read", "sys/metrics")

"""The plan's access comparison (compiler.access.live) and the policy text it reads back.

The server's side is given as the server answers it (sys/policies/acl/<name> text, the
role's token_policies); a real server's is in tests/integration/test_access_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.access.builtin import PolicyRule
from compiler.access.live import Live, compare
from compiler.access.policy_text import parse
from compiler.check import load
from compiler.render import render
from compiler.spec import Rule
from tests.support import REFERENCE

READONLY_NOW = 'path "secret/metadata/*" {\n  capabilities = ["list"]\n}\n'


def test_the_generated_text_reads_back_as_its_rules() -> None:
    rules = [
        Rule(path="secret/data/*", capabilities=["read"]),
        Rule(path="sys/metrics", capabilities=["read", "list"]),
    ]
    text = render("policy.hcl.j2", source="picluster.yaml", name="p", rules=rules).decode()
    assert parse(text) == [
        PolicyRule("secret/data/*", ("read",)),
        PolicyRule("sys/metrics", ("read", "list")),
    ]


def test_other_layouts() -> None:
    assert parse('path "a" = { capabilities = ["deny"] }, path "b" { x = 1 }') == [
        PolicyRule("a", ("deny",)),
        PolicyRule("b", ()),
    ]
    assert parse('{"path": {"a/*": {"capabilities": ["read"]}}}') == [PolicyRule("a/*", ("read",))]
    assert parse('path "a" <<EOF') is None
    assert parse("name = 1") is None


@pytest.mark.parametrize(
    "text",
    [
        'path "a" capabilities = ["read"]',  # no block
        'path "a" { capabilities = "read" }',  # a string, not a list
        'path "a" { capabilities = [read] }',  # a bare word in the list
        'path "a" { capabilities = ["read"]',  # the block never closes
        "{not json",
        '{"path": ["a"]}',  # paths as a list
        '{"path": {"a": {"capabilities": "read"}}}',
    ],
)
def test_a_layout_it_cannot_read_is_none_not_a_guess(text: str) -> None:
    """What the plan cannot read it says it cannot tell: no rule is guessed from it."""
    assert parse(text) is None


def _roles(policies: list[str]) -> dict[str, dict[str, object]]:
    return {
        "kubernetes/external-secrets": {"token_policies": policies},
        "kubernetes/prometheus": {"token_policies": ["default", "prometheus-monitoring"]},
    }


def test_fails_now_and_the_apply_fixes_it() -> None:
    loaded = load(REFERENCE)
    live = Live(
        {
            "readonly": READONLY_NOW,
            "prometheus-monitoring": 'path "sys/metrics" { capabilities = ["read"] }',
        },
        _roles(["readonly"]),
        None,
    )
    found = compare(loaded.model, live, loaded.doc)
    assert found.notes == [
        "access: the server's default policy could not be read; OpenBao's is assumed",
        "access: ExternalSecret default/vault-example cannot read secret/data/secret1 now "
        "(role 'external-secrets': no rule matches); it can after the apply",
    ]
    assert found.warnings == []


def test_a_role_not_on_the_server_yet_says_nothing() -> None:
    loaded = load(REFERENCE)
    found = compare(loaded.model, Live({}, {}, ""), loaded.doc)
    assert found.warnings == []
    assert [n for n in found.notes if "ExternalSecret" in n] == []


def test_a_deny_the_apply_removes(tmp_path: Path) -> None:
    """The server's role carries a policy the spec does not name, with a deny."""
    loaded = load(REFERENCE)
    live = Live(
        {
            "readonly": 'path "secret/*" { capabilities = ["read"] }',
            "extra": 'path "secret/data/secret1" { capabilities = ["deny"] }',
        },
        _roles(["readonly", "extra"]),
        None,
    )
    found = compare(loaded.model, live, loaded.doc)
    # After the apply the role carries only readonly: the deny is gone with it.
    assert [n for n in found.notes if "ExternalSecret" in n] == [
        "access: ExternalSecret default/vault-example cannot read secret/data/secret1 now "
        "(role 'external-secrets': denied by 'secret/data/secret1' in policy 'extra'); it can "
        "after the apply"
    ]


def test_still_failing_after_is_a_located_warning() -> None:
    """The server's default policy denies the path (a server's default is its own, never
    written by picluster): the apply cannot fix that, so it is a warning at the entry."""
    loaded = load(REFERENCE)
    default = 'path "secret/data/secret1" { capabilities = ["deny"] }'
    found = compare(loaded.model, Live({}, _roles(["readonly"]), default), loaded.doc)
    line, column = next(
        (n, text.index("secret1#password") + 1)
        for n, text in enumerate(REFERENCE.read_text().splitlines(), 1)
        if "secret1#password" in text
    )
    assert found.warnings == [
        f"{REFERENCE}:{line}:{column}: kubernetes.external_secrets.secrets[0].data.password: "
        "warning: ExternalSecret default/vault-example cannot read secret/data/secret1 now or "
        "after the apply (role 'external-secrets': denied by 'secret/data/secret1' in policy "
        "'default')"
    ]

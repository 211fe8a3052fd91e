"""Policies are written, read back and compared as HCL1, the syntax Vault and OpenBao parse.

The expected values come from hashicorp/hcl v1.0.1-vault-7 (the version OpenBao builds with):
its own test tables for ``hcl/strconv`` and ``hcl/scanner`` check the port in ``compiler.hcl1``,
and its scanner's rules for ``${`` fix how a path is written. What the real server makes of
the same corpus is proven in ``tests/integration/test_policy_corpus.py``.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler import hcl1, render
from compiler.apply.plan_output import text
from compiler.apply.vault_desired import desired
from compiler.apply.vault_model import Current
from compiler.apply.vault_plan import normalised_policy, plan
from compiler.artifact import Artifact
from compiler.check import load
from compiler.cli import main
from compiler.kinds import verify as check
from compiler.pipeline import Build
from tests.support import compile_data, minimal, write_spec

# Seven capabilities both servers accept (OpenBao has no "subscribe").
CAPS = ("create", "read", "update", "patch", "delete", "list", "sudo")

# The awkward paths: (path, probes that match it, probes that must not). "{entity}" in a probe
# stands for the token's entity ID. The first two are the pair seen merged on a real OpenBao.
CORPUS: list[tuple[str, list[str], list[str]]] = [
    ("secret/${", ["secret/${"], ["secret/$", "secret/${x}"]),
    ("}x", ["}x"], ["x", "}"]),
    ("secret/${x}", ["secret/${x}"], ["secret/$${x}", "secret/x"]),
    ("c/${a{b}c}", ["c/${a{b}c}"], ["c/${a{b}"]),
    ('c/${"}', ['c/${"}'], ["c/${", 'c/$${"}']),
    ('c/quote"d', ['c/quote"d'], ['c/quote\\"d', "c/quoted"]),
    ("c/dollar$", ["c/dollar$"], ["c/dollar"]),
    ("c/pct%{x}", ["c/pct%{x}"], ["c/pct%%{x}"]),
    ("c/pct%d%", ["c/pct%d%"], ["c/pct"]),
    ("c/{{identity.entity.id}}/*", ["c/{entity}/a"], ["c/{{identity.entity.id}}/a", "c/x/a"]),
    ("c/hash#x", ["c/hash#x"], ["c/hash", "c/hash#y"]),
    ("c/hash#y/*", ["c/hash#y/z", "c/hash#y/"], ["c/hash#x/z", "c/hash#y"]),
    ("c/double//slash", ["c/double//slash"], ["c/double/slash"]),
    ("c/+/plus", ["c/seg/plus"], ["c/a/b/plus", "c/plus"]),
    ("c/star*", ["c/star", "c/starry/x"], ["c/sta"]),
    ("c/mid*dle", ["c/mid*dle"], ["c/midXdle"]),
    ("c/back\\slash", ["c/back\\slash"], ["c/backslash", "c/back\\\\slash"]),
    ("c/back\\u0024{x}", ["c/back\\u0024{x}"], ["c/back${x}"]),
    ("c/uni/ünï/日本/🔑", ["c/uni/ünï/日本/🔑"], ["c/uni/uni"]),
    ("c/private/\ue123", ["c/private/\ue123"], ["c/private/"]),
    ("c/comma,x", ["c/comma,x"], ["c/comma"]),
    ("c/brace}{", ["c/brace}{"], ["c/brace"]),
    ("c/trail ", ["c/trail "], ["c/trail"]),  # sys/capabilities trims: a real request checks
    ("/c/lead", ["c/lead"], ["c/leadx"]),  # the server drops one leading '/'
]


def caps_of(index: int) -> list[str]:
    """A capability set of its own for each corpus rule, so a merge or a loss shows."""
    return [cap for bit, cap in enumerate(CAPS) if (index + 1) >> bit & 1]


def corpus_spec() -> dict[str, Any]:
    rules = [{"path": path, "capabilities": caps_of(i)} for i, (path, _, _) in enumerate(CORPUS)]
    return minimal(policies={"corpus": rules})


def policy_text(b: Build, name: str) -> str:
    return next(a.text for a in b.artifacts if a.path.endswith(f"/policy/{name}.hcl"))


def rules_of(policy: str) -> list[tuple[str, list[str]]]:
    """(path, capabilities) of each ``path`` block, read with the HCL1 port; a test helper that
    knows only the shape picluster writes."""
    found = [t for t in hcl1.tokens(policy) if t.kind != "comment"]
    rules = []
    for i, token in enumerate(found):
        if token.kind == "ident" and token.text == "path" and found[i + 1].kind == "string":
            assert found[i + 2].text == "{", found[i : i + 3]
            end = next(j for j in range(i, len(found)) if found[j].text == "]")
            caps = [hcl1.unquote(t.text) for t in found[i + 3 : end] if t.kind == "string"]
            rules.append((hcl1.unquote(found[i + 1].text), caps))
    return rules


# --- the port against hcl v1's own tests ------------------------------------------------------

# hcl/strconv/quote_test.go: unquotetests (Go string values as the bytes they hold).
UNQUOTE = [
    ('""', b""),
    ('"a"', b"a"),
    ('"☺"', "☺".encode()),
    ('"\\xFF"', b"\xff"),
    ('"\\377"', b"\xff"),
    ('"\\u1234"', "\u1234".encode()),
    ('"\\U00010111"', "\U00010111".encode()),
    ('"\\U0001011111"', "\U00010111".encode() + b"11"),
    ('"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', b'\a\b\f\n\r\t\v\\"'),
    ('"\'"', b"'"),
    ('"${file("foo")}"', b'${file("foo")}'),
    ('"${file("\\"foo\\"")}"', b'${file("\\"foo\\"")}'),
    (
        '"echo ${var.region}${element(split(",",var.zones),0)}"',
        b'echo ${var.region}${element(split(",",var.zones),0)}',
    ),
    ('"${HH\\\\:mm\\\\:ss}"', b"${HH\\\\:mm\\\\:ss}"),
    ('"${\\n}"', b"${\\n}"),
]
# ... and its misquoted table, less the single- and back-quoted forms HCL never scans.
MISQUOTED = [
    "",
    '"',
    '"a',
    "\"'",
    'b"',
    '"\\"',
    '"\\9"',
    '"\\19"',
    '"\\129"',
    '"\\x1!"',
    '"\\U12345678"',
    '"\\z"',
    '"\\\'"',
    '"\n"',
    '"\\n\n"',
    '"${"',
    '"${foo{}"',
    '"${foo}\n"',
]


@pytest.mark.parametrize(("literal", "value"), UNQUOTE)
def test_unquote_reads_what_hcl_v1_reads(literal: str, value: bytes) -> None:
    assert hcl1.unquote(literal).encode("utf-8", "surrogateescape") == value


@pytest.mark.parametrize("literal", MISQUOTED)
def test_unquote_refuses_what_hcl_v1_refuses(literal: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- the Go code has one ErrSyntax too
        hcl1.unquote(literal)


F100 = "f" * 100
# hcl/scanner/scanner_test.go: tokenLists, less the heredocs (not read by the port).
SCANNED = {
    "comment": [
        "//", "////", "// comment", "// /* comment */", "// // comment //", "//" + F100,
        "#", "##", "# comment", "# /* comment */", "# # comment #", "#" + F100, "/**/",
        "/***/", "/* comment */", "/* // comment */", "/* /* comment */", "/*\n comment\n*/",
        "/*" + F100 + "*/",
    ],
    "punct": ["[", "{", ",", ".", "]", "}", "=", "+", "-"],
    "bool": ["true", "false"],
    "ident": [
        "a", "a0", "foobar", "foo-bar", "abc123", "LGTM", "_", "_abc123", "abc123_",
        "_abc_123_", "_äöü", "_本", "äöü", "本", "a۰۱۸", "foo६४", "bar９８７６",  # noqa: RUF001
    ],
    "string": [
        '" "', '"a"', '"本"', '"${file("foo")}"', '"${file(\\"foo\\")}"', '"\\a"', '"\\b"',
        '"\\f"', '"\\n"', '"\\r"', '"\\t"', '"\\v"', '"\\""', '"\\000"', '"\\777"', '"\\x00"',
        '"\\xff"', '"\\u0000"', '"\\ufA16"', '"\\U00000000"', '"\\U0000ffAB"', f'"{F100}"',
    ],
    "number": [
        "0", "1", "9", "42", "1234567890", "00", "01", "07", "042", "01234567", "0x0", "0x1",
        "0xf", "0x42", "0x123456789abcDEF", "0x" + F100, "0X0", "0X1", "0XF", "0X42",
        "0X123456789abcDEF", "0X" + F100, "-0", "-1", "-9", "-42", "-1234567890", "-00",
        "-01", "-07", "-29", "-042", "-01234567", "-0x0", "-0x1", "-0xf", "-0x42",
        "-0x123456789abcDEF", "-0x" + F100, "-0X0", "-0X1", "-0XF", "-0X42",
        "-0X123456789abcDEF", "-0X" + F100,
    ],
    "float": [
        "0.", "1.", "42.", "01234567890.", ".0", ".1", ".42", ".0123456789", "0.0", "1.0",
        "42.0", "01234567890.0", "0e0", "1e0", "42e0", "01234567890e0", "0E0", "1E0", "42E0",
        "01234567890E0", "0e+10", "1e-10", "42e+10", "01234567890e-10", "0E+10", "1E-10",
        "42E+10", "01234567890E-10", "01.8e0", "1.4e0", "42.2e0", "01234567890.12e0", "0.E0",
        "1.12E0", "42.123E0", "01234567890.213E0", "0.2e+10", "1.2e-10", "42.54e+10",
        "01234567890.98e-10", "0.1E+10", "1.1E-10", "42.1E+10", "01234567890.1E-10", "-0.0",
        "-1.0", "-42.0", "-01234567890.0", "-0e0", "-1e0", "-42e0", "-01234567890e0", "-0E0",
        "-1E0", "-42E0", "-01234567890E0", "-0e+10", "-1e-10", "-42e+10", "-01234567890e-10",
        "-0E+10", "-1E-10", "-42E+10", "-01234567890E-10", "-01.8e0", "-1.4e0", "-42.2e0",
        "-01234567890.12e0", "-0.E0", "-1.12E0", "-42.123E0", "-01234567890.213E0",
        "-0.2e+10", "-1.2e-10", "-42.54e+10", "-01234567890.98e-10", "-0.1E+10", "-1.1E-10",
        "-42.1E+10", "-01234567890.1E-10",
    ],
}  # fmt: skip

# hcl/scanner/scanner_test.go: TestError, the cases a Python str can hold.
SCAN_ERRORS = [
    ("\ue123", "unicode code point U+E123 reserved for internal use"),
    ("ab\x00", "unexpected null character (0x00)"),
    ("01238", "illegal octal number"),
    ("0x", "illegal hexadecimal number"),
    ("0xg", "illegal hexadecimal number"),
    ("'aa'", "illegal char"),
    ('"', "literal not terminated"),
    ('"abc', "literal not terminated"),
    ('"abc\n', "literal not terminated"),
    ('"${abc\n', "literal not terminated"),
    ("/*/", "comment not terminated"),
    ("/foo", "expected '/' for comment"),
]


@pytest.mark.parametrize("kind", sorted(SCANNED))
def test_tokens_split_as_hcl_v1_splits(kind: str) -> None:
    source = "".join(f"{text}\n" for text in SCANNED[kind])
    assert [(t.kind, t.text) for t in hcl1.tokens(source)] == [(kind, t) for t in SCANNED[kind]]


@pytest.mark.parametrize(("source", "message"), SCAN_ERRORS)
def test_tokens_refuse_what_hcl_v1_refuses(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=f": {re.escape(message)}$"):
        hcl1.tokens(source)


# --- writing ----------------------------------------------------------------------------------


def test_a_dollar_brace_is_written_as_an_escape_hcl1_reads() -> None:
    # HCL1 has no $${ escape (it would be stored as "$${x}"); \u0024 is its escape for '$'.
    assert render.hcl_string("secret/${x}") == '"secret/\\u0024{x}"'
    assert render.hcl_string("secret/${") == '"secret/\\u0024{"'
    assert render.hcl_string("%{x}") == '"%{x}"'
    assert render.hcl_string("\ue123") == '"\\ue123"'


@pytest.mark.parametrize("path", [p for p, _, _ in CORPUS])
def test_every_corpus_path_reads_back_as_written(path: str) -> None:
    assert hcl1.unquote(render.hcl_string(path)) == path


def test_seen_dollar_brace_rule_keeps_its_own_capabilities(tmp_path: Path) -> None:
    """Seen on OpenBao: the ``read`` rule on ``secret/${`` vanished into one mangled rule that
    carried the next rule's sudo."""
    rules = [
        {"path": "secret/${", "capabilities": ["read"]},
        {"path": "}x", "capabilities": ["sudo", "update"]},
    ]
    b = compile_data(tmp_path, minimal(policies={"p": rules}))
    assert rules_of(policy_text(b, "p")) == [
        ("secret/${", ["read"]),
        ("}x", ["sudo", "update"]),
    ]


def test_the_whole_corpus_compiles_to_one_rule_per_path(tmp_path: Path) -> None:
    b = compile_data(tmp_path, corpus_spec())
    expected = [(path, caps_of(i)) for i, (path, _, _) in enumerate(CORPUS)]
    assert rules_of(policy_text(b, "corpus")) == expected


def test_a_templated_path_compiles(tmp_path: Path) -> None:
    """Refused before as 'unrendered template text', though both servers support it."""
    rules = [{"path": "secret/data/{{identity.entity.id}}/*", "capabilities": ["read"]}]
    b = compile_data(tmp_path, minimal(policies={"p": rules}))
    assert 'path "secret/data/{{identity.entity.id}}/*" {' in policy_text(b, "p")


def test_leftover_template_text_outside_a_policy_string_is_still_caught() -> None:
    leftover = Artifact(
        "policy/p.hcl", b"# generated by picluster\npath {{ x }} {\n}\n", 0o640, "hcl-policy"
    )
    inside = Artifact(
        "policy/q.hcl", b'# generated by picluster\npath "{{x}}" {\n}\n', 0o640, "hcl-policy"
    )
    assert [p.message for p in check([leftover, inside])] == [
        "line 2: unrendered template text '{{'"
    ]


# --- validate ---------------------------------------------------------------------------------


def validate(tmp_path: Path, rules: list[dict[str, Any]]) -> list[str]:
    spec = tmp_path / "picluster.yaml"
    data = minimal(unseal={"service": False}, policies={"p": rules})
    # JSON is YAML, and json.dumps writes a lone surrogate as the escape YAML reads it from.
    spec.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    return [line.split(": ", 1)[1] for line in result.stderr.splitlines()]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("secret/+*", "'secret/+*': '+*' is not allowed in a policy path (OpenBao refuses it)"),
        (
            "secret/}}",
            "'secret/}}': unbalanced '{{' and '}}'; in a policy path they enclose an identity "
            "template such as {{identity.entity.id}}",
        ),
        (
            "secret/{{identity.entity.id}}/{{",
            "'secret/{{identity.entity.id}}/{{': unbalanced '{{' and '}}'; in a policy path "
            "they enclose an identity template such as {{identity.entity.id}}",
        ),
        (
            "secret/{{ user }}",
            "'secret/{{ user }}': {{user}} is not an identity template (identity.entity.*, "
            "identity.groups.* or time.*), so the rule would never apply",
        ),
        (
            "secret/\ud800",
            "'secret/\\ud800' holds a lone surrogate, which UTF-8 cannot encode",
        ),
    ],
)
def test_a_path_the_server_would_refuse_is_refused_where_it_is(
    tmp_path: Path, path: str, message: str
) -> None:
    assert validate(tmp_path, [{"path": path, "capabilities": ["read"]}]) == [
        f"vault.policies.p[0].path: {message}"
    ]


def test_a_leading_slash_makes_the_same_rule(tmp_path: Path) -> None:
    rules = [
        {"path": "secret/a", "capabilities": ["read"]},
        {"path": "/secret/a", "capabilities": ["list"]},
    ]
    assert validate(tmp_path, rules) == [
        "vault.policies.p[1].path: duplicate rule for path '/secret/a' "
        "(the server drops a leading '/': 'secret/a')"
    ]


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("paths", "plugin_dir"), "/opt/${x}"),
        (("storage", "raft", "path"), "/var/lib/${x}"),
        (("tls", "cert"), '/etc/"x'),
        (("nodes", 0, "dns"), "a${b}.example"),
        (("nodes", 0, "name"), "n${x}"),
        (("telemetry", "prometheus_retention_time"), "${x}h"),
    ],
)
def test_no_server_config_value_can_hold_an_interpolation(
    tmp_path: Path, where: tuple[str | int, ...], value: str
) -> None:
    """Every value server.hcl.j2 writes is a constrained path, name, address or duration."""
    data = minimal(unseal={"service": False}, telemetry={})
    node: Any = data["vault"]
    for key in where[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[where[-1]] = value
    result = CliRunner().invoke(main, ["validate", str(write_spec(tmp_path, data))])
    assert result.exit_code == 2, result.output
    assert f"vault.{'.'.join(map(str, where))}".replace(".0.", "[0].") in result.stderr


# --- comparing --------------------------------------------------------------------------------


def policy_with(tmp_path: Path, path: str, source: str = "picluster.yaml") -> str:
    spec = write_spec(
        tmp_path, minimal(policies={"p": [{"path": path, "capabilities": ["read"]}]}), source
    )
    loaded = load(spec)
    return desired(loaded.model).policies["p"]


def test_seen_hash_change_is_a_change(tmp_path: Path) -> None:
    """Seen: ``secret/a#x`` and ``secret/a#y/*`` compared equal (cut at '#'), no update."""
    before = policy_with(tmp_path, "secret/a#x")
    after_spec = write_spec(
        tmp_path, minimal(policies={"p": [{"path": "secret/a#y/*", "capabilities": ["read"]}]})
    )
    loaded = load(after_spec)
    p = plan(desired(loaded.model), Current(policies={"p": before}))
    assert [(s.action, s.name) for s in p.steps] == [("update", "p")]
    assert text(p, "https://v:8200")[2:] == [
        '      -path "secret/a#x" {',
        '      +path "secret/a#y/*" {',
    ]


def test_every_corpus_change_is_a_change(tmp_path: Path) -> None:
    seen = {normalised_policy(policy_with(tmp_path, path)): path for path, _, _ in CORPUS}
    assert len(seen) == len(CORPUS)


def test_a_header_or_layout_is_no_change(tmp_path: Path) -> None:
    ours = policy_with(tmp_path, "c/hash#x", "a.yaml")
    other = policy_with(tmp_path, "c/hash#x", "b.yaml")
    assert ours != other
    relaid = '/* hand */ path "c/hash#x"{capabilities=[ "read", ]} # end'
    assert normalised_policy(ours) == normalised_policy(other) == normalised_policy(relaid)


def test_strings_compare_by_what_the_server_reads() -> None:
    # One string, three spellings: raw ${x}, the \u0024 escape, and \x24.
    spellings = [
        f'path "{s}" {{\n capabilities = ["read"]\n}}' for s in ("${x}", "\\u0024{x}", "\\x24{x}")
    ]
    assert len({normalised_policy(s) for s in spellings}) == 1
    # What the old renderer wrote is another path to HCL1.
    assert normalised_policy(spellings[0]) != normalised_policy(spellings[0].replace("${", "$${"))


def test_text_the_scanner_does_not_read_is_compared_as_it_is() -> None:
    for raw in ('{"path": {"a#x": {}}}', 'path "a" { x = <<EOF\nb#c\nEOF\n}'):
        assert normalised_policy(raw) == raw
    pairs = itertools.combinations(['path "a" {}', "path 'a' {}", 'path "a" {} ${'], 2)
    assert all(normalised_policy(a) != normalised_policy(b) for a, b in pairs)


def test_stray_commas_in_a_list_are_no_change() -> None:
    """The server's HCL1 parser skips a comma where no list item stands: `bao policy fmt`
    writes this text as the plain layout below."""
    loose = 'path "a" { capabilities = [,"read",,"list",] }'
    plain = 'path "a" {\n  capabilities = ["read", "list"]\n}\n'
    assert normalised_policy(loose) == normalised_policy(plain)
    assert normalised_policy(loose) != normalised_policy(plain.replace('"list"', '"update"'))

"""Spec strings cannot break or inject structure into HCL, shell, systemd or OpenSSL output.

Either the model refuses them with a located error, or the format's escaping holds — proven by
the format's real parser where this machine has one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from compiler import render
from compiler.errors import RenderError, SpecError
from compiler.verify import external
from tests.support import compile_data, minimal, need

NASTY = [
    'quote " inside',
    "dollar ${HOME} and %{ if }",
    "back\\slash \\n",
    "`backtick` $(id)",
    "semi; rm -rf / #",
    "it's",
    "tab\tseparated",
]


@pytest.mark.parametrize("value", NASTY)
def test_shquote_is_one_word_for_a_real_shell(value: str) -> None:
    """The filter templates use for shell words, as the templates' Environment has it."""
    word = render.environment().from_string("{{ value | shquote }}").render(value=value)
    out = subprocess.run(
        ["sh", "-c", f"printf %s {word}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == value


@pytest.mark.integration
def test_hcl_string_cannot_inject_a_policy_block(tmp_path: Path) -> None:
    """A rule path crafted to close the string and open a sudo block stays one path."""
    need("bao")
    crafted = 'secret/x" { capabilities = ["sudo"] } path "sys/*'
    b = compile_data(
        tmp_path,
        minimal(
            policies={
                "p": [
                    {"path": crafted, "capabilities": ["read"]},
                    {"path": "kv/${user}/%{x}\\", "capabilities": ["list"]},
                ]
            }
        ),
    )
    policy = next(a for a in b.artifacts if a.kind == "hcl-policy")
    assert external.policy_fmt(policy) == []
    formatted = tmp_path / "p.hcl"
    formatted.write_bytes(policy.data)
    subprocess.run(["bao", "policy", "fmt", str(formatted)], check=True, capture_output=True)
    text = formatted.read_text()
    assert len(re.findall(r"^path ", text, re.M)) == 2
    assert '"sudo"' not in text.replace('\\"sudo\\"', "")


def test_hcl_string_escapes() -> None:
    # HCL1 (what the servers parse) has no $${ escape and no %{ directive; \u0024 is an escape.
    assert render.hcl_string('a"b') == '"a\\"b"'
    assert render.hcl_string("${x}") == '"\\u0024{x}"'
    assert render.hcl_string("%{x}") == '"%{x}"'
    assert render.hcl_string("a\\b\nc") == '"a\\\\b\\nc"'


def test_systemd_arg_quotes_what_is_not_plain() -> None:
    assert render.systemd_arg("/usr/local/bin/vault") == "/usr/local/bin/vault"
    assert render.systemd_arg("-config=/etc/vault/vault_main.hcl") == (
        "-config=/etc/vault/vault_main.hcl"
    )
    assert render.systemd_arg('a b"$X%h\\') == '"a b\\"$$X%%h\\\\"'
    with pytest.raises(ValueError, match="line break"):
        render.systemd_arg("a\nExecStartPre=/bin/evil")


@pytest.mark.parametrize(
    "bad", ["/etc/va ult", "/etc/$HOME", "/etc/`id`", "/etc/a\nb", "/etc/%h", "/etc/'x'", 'etc/"x"']
)
def test_paths_that_could_break_a_format_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SpecError) as info:
        compile_data(tmp_path, minimal(paths={"binary": bad}))
    (line,) = info.value.lines()
    assert re.match(r".*picluster\.yaml:\d+:\d+: vault\.paths\.binary: ", line), line


@pytest.mark.integration
def test_openssl_values_are_read_back_literally(tmp_path: Path) -> None:
    """The real openssl reads the generated config and puts the literal text in the CSR."""
    need("openssl")
    organization = 'Acme "Labs" $HOME #1 \\ it\'s'
    b = compile_data(tmp_path, minimal(tls={"subject": {"organization": organization}}))
    conf = next(a for a in b.artifacts if a.kind == "openssl")
    (tmp_path / "openssl.conf").write_bytes(conf.data)
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            str(tmp_path / "k.pem"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(tmp_path / "k.pem"),
            "-config",
            str(tmp_path / "openssl.conf"),
            "-out",
            str(tmp_path / "r.csr"),
        ],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "r.csr"), "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    parsed = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER"], input=der, check=True, capture_output=True
    ).stdout.decode()
    assert f"UTF8STRING        :{organization}\n" in parsed
    text = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "r.csr"), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:localhost" in text
    assert "IP Address:127.0.0.1" in text


def test_openssl_value_refuses_a_line_break() -> None:
    with pytest.raises(ValueError, match="line break"):
        render.openssl_value("a\n[evil]")


def test_a_template_that_fails_names_its_own_line() -> None:
    """StrictUndefined: a value the template uses but was not given stops the render, named
    with the template's line that uses it (a picluster bug, never silent empty text)."""
    template = (render.templates_dir() / "policy.hcl.j2").read_text().splitlines()
    line = next(n for n, text in enumerate(template, 1) if "in rules" in text)
    with pytest.raises(RenderError) as caught:
        render.render("policy.hcl.j2", source="picluster.yaml", name="p")
    assert str(caught.value) == f"policy.hcl.j2:{line}: 'rules' is undefined"


def test_a_missing_template_is_a_render_error() -> None:
    with pytest.raises(RenderError) as caught:
        render.render("no-such.j2", source="picluster.yaml")
    assert (caught.value.template, caught.value.line) == ("no-such.j2", None)
    assert str(caught.value).startswith("no-such.j2: 'no-such.j2' not found in search path")

"""YAML written for Kubernetes and Helm survives their YAML 1.1 readers unchanged."""

from __future__ import annotations

import sys

import pytest
import yaml

from compiler import yamlio
from compiler.errors import SpecError

# Strings a YAML 1.2 writer may leave plain but a YAML 1.1 reader turns into something else.
AMBIGUOUS = [
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "12:30",
    "1:2:3",
    "=",
    "<<",
    "true",
    "null",
    "~",
    "0755",
    "0x1F",
    "1e3",
    ".inf",
    "2020-01-01",
    "",
    " padded ",
]


@pytest.mark.parametrize("value", AMBIGUOUS)
def test_strings_stay_strings_for_a_yaml_1_1_reader(value: str) -> None:
    text = yamlio.dump({"annotation": value, "list": [value]}).decode()
    assert yaml.load(text, Loader=yaml.SafeLoader) == {"annotation": value, "list": [value]}
    assert yamlio.parse(text) == [{"annotation": value, "list": [value]}]


def test_plain_strings_stay_plain() -> None:
    assert yamlio.dump({"a": "vault-backend", "b": "no way"}) == b"a: vault-backend\nb: no way\n"


def test_parse_reports_the_line_of_a_syntax_error() -> None:
    with pytest.raises(
        ValueError, match=r"^line 2: mapping values are not allowed in this context$"
    ):
        yamlio.parse("a: 1\nb: c: d\n")


def test_the_fast_loader_agrees_with_the_round_trip_loader() -> None:
    """Every value and every position, on both bundled specs."""
    from tests.support import REFERENCE, ROOT

    for path in (REFERENCE, ROOT / "examples" / "openbao-ha" / "picluster.yaml"):
        text = path.read_text()
        fast = yamlio._load_fast(text, path.name)
        slow = yamlio.load_round_trip(text, path.name)
        assert fast is not None
        assert fast.data == slow.data
        assert fast.values == slow.values
        assert fast.keys == slow.keys


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo]\n",
        "a: !!python/object:os.system {x: 1}\n",
        "a: !custom 3\n",
        "a: 1\na: 2\n",
        "base: &b {x: 1}\nother:\n  <<: *b\n",
        "a: 2020-01-01\n",
        "- a\n",
        "a: [1\n",
    ],
)
def test_the_fast_loader_hands_anything_unusual_to_the_round_trip_loader(text: str) -> None:
    assert yamlio._load_fast(text, "x.yaml") is None


@pytest.mark.parametrize("value", ["0o17", "0x1F", "1e3", ".5", "+12", "-.inf", ".NaN", "NULL"])
def test_strings_stay_strings_for_a_yaml_1_2_reader(value: str) -> None:
    text = yamlio.dump({"v": value}).decode()
    assert yamlio.load_round_trip(text, "x.yaml").data == {"v": value}  # ruamel reads 1.2


def test_a_pem_certificate_is_a_literal_block() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    text = yamlio.dump({"ca.crt": pem}).decode()
    assert text == "ca.crt: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\n"
    assert yaml.safe_load(text) == {"ca.crt": pem}


def test_a_control_character_is_refused_where_it_is() -> None:
    """YAML 1.2 allows no C0 control character but tab, LF and CR (its c-printable)."""
    with pytest.raises(SpecError) as caught:
        yamlio.load("vault:\n  version: \x07x\n", "s.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:2:12: the character U+0007 is not allowed in YAML"
    ]


def test_parse_without_libyaml_reads_the_same_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PyYAML, ruamel's pure parser reads generated YAML back, in its own words."""
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError
    assert yamlio.parse("a: [1, 2]\n---\nb: x\n") == [{"a": [1, 2]}, {"b": "x"}]
    with pytest.raises(ValueError, match=r"^line 2: mapping values are not allowed here$"):
        yamlio.parse("a: 1\nb: c: d\n")

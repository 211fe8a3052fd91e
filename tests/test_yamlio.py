"""YAML written for Kubernetes and Helm survives their YAML 1.1 readers unchanged."""

from __future__ import annotations

import pytest
import yaml

from compiler import yamlio

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

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

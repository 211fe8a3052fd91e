"""jsonschema's errors as picluster's lines, on small schemas that each exercise one JSON Schema
rule (2020-12, as the Kubernetes verifier uses it): the rule's meaning is the spec's, the
wording of a rule picluster does not rephrase is jsonschema's own."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from compiler.verify.schema_messages import validate


def findings(schema: dict[str, Any], data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    Draft202012Validator.check_schema(schema)
    return validate(Draft202012Validator(schema), data)


def test_a_key_a_pattern_property_covers_is_no_unknown_field() -> None:
    """JSON Schema: additionalProperties applies to the keys that neither `properties` nor a
    regular expression of `patternProperties` matches."""
    schema = {
        "type": "object",
        "properties": {"name": {}},
        "patternProperties": {"^x-": {}},
        "additionalProperties": False,
    }
    assert findings(schema, {"name": 1, "x-owner": 2, "other": 3}) == [
        (("other",), "unknown field")
    ]


def test_every_key_is_unknown_where_no_property_is_listed() -> None:
    assert findings({"type": "object", "additionalProperties": False}, {"a": 1}) == [
        (("a",), "unknown field")
    ]


def test_a_value_of_none_of_several_types() -> None:
    schema = {"type": ["string", "integer"]}
    assert findings(schema, []) == [((), "must be a string or an integer, not a list ([])")]


def test_null_alone_is_a_type_like_the_others() -> None:
    """Only beside another type is `null` left out (the built-in schemas allow it everywhere)."""
    assert findings({"type": "null"}, 1) == [((), "must be null, not an integer (1)")]
    assert findings({"type": ["string", "null"]}, 1) == [
        ((), "must be a string, not an integer (1)")
    ]


def test_a_value_of_sixty_characters_is_shown_whole() -> None:
    """Its JSON text: the quotes count."""
    whole = "x" * 58
    assert findings({"type": "integer"}, whole) == [
        ((), f'must be an integer, not a string ("{whole}")')
    ]
    cut = "x" * 59
    assert findings({"type": "integer"}, cut) == [
        ((), f'must be an integer, not a string ("{"x" * 56}...)')
    ]


def test_a_message_of_200_characters_is_kept_whole() -> None:
    """jsonschema's words for maxLength, `'<value>' is too long`: 14 characters beside the value."""
    whole = "a" * 186
    assert findings({"maxLength": 1}, whole) == [((), f"'{whole}' is too long")]
    cut = "a" * 187
    assert findings({"maxLength": 1}, cut) == [((), f"'{cut}' is too ...")]


def test_alternatives_that_are_not_only_required_fields_keep_jsonschema_words() -> None:
    """`needs at least one of` names fields only when each alternative is a bare `required`."""
    schema = {"anyOf": [{"required": ["a"]}, {"minProperties": 2}]}
    assert findings(schema, {}) == [((), "{} is not valid under any of the given schemas")]
    schema = {"anyOf": [{"required": ["a"]}, {"required": ["b"], "properties": {"b": {}}}]}
    assert findings(schema, {}) == [((), "{} is not valid under any of the given schemas")]


def test_findings_are_in_the_order_of_their_printed_paths() -> None:
    """The order a reader scans them in: `a-b` sorts before `a.z` as text ('-' < '.'), though
    the location ('a',) sorts before ('a-b',)."""
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "additionalProperties": False}},
        "additionalProperties": False,
    }
    assert findings(schema, {"a": {"z": 1}, "a-b": 1}) == [
        (("a-b",), "unknown field"),
        (("a", "z"), "unknown field"),
    ]

"""jsonschema's findings as short, readable lines: a dotted path and what is wrong there."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

Loc = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_/-]+\Z")


# --- messages ---------------------------------------------------------------------------------


def dotted(loc: Iterable[str | int]) -> str:
    """``("spec", "sources", 0, "chart")`` -> ``spec.sources[0].chart``.

    A key that is not a plain word is quoted: ``annotations["vault.hashicorp.com/role"]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def a_or_an(word: str) -> str:
    return f"an {word}" if word[:1] in "AEIOU" else f"a {word}"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (ignoring case), if one is close enough."""
    lowered = {c.lower(): c for c in candidates}
    # difflib's defaults: best first, a ratio of at least 0.6.
    match = difflib.get_close_matches(word.lower(), lowered)
    return lowered[match[0]] if match else None


def schema_findings(error: ValidationError) -> Iterator[tuple[Loc, str]]:
    """One jsonschema error as (location, one-line message) pairs."""
    loc: Loc = tuple(error.absolute_path)
    schema = error.schema
    instance: Any = error.instance
    value: Any = error.validator_value
    rule = error.validator
    if rule == "additionalProperties" and isinstance(instance, dict) and isinstance(schema, dict):
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key in instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            close = closest(key, known)
            hint = f"; did you mean {close!r}?" if close else ""
            yield (*loc, key), f"unknown field{hint}"
    elif rule == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield (*loc, key), "required field missing"
    elif rule == "type":
        wanted = value
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        if len(wanted) > 1 and "null" in wanted:
            wanted.remove("null")  # the built-in schemas allow null beside every type
        names = " or ".join(_TYPE_NAMES[w] for w in wanted)
        yield loc, f"must be {names}, not {json_type(instance)} ({short(instance)})"
    elif rule == "enum":
        choices = ", ".join(short(c) for c in value)
        yield loc, f"must be one of {choices}, not {short(instance)}"
    elif rule == "const":
        yield loc, f"must be {short(value)}, not {short(instance)}"
    elif rule == "pattern":
        yield loc, f"{short(instance)} does not match {value}"
    elif rule in ("oneOf", "anyOf") and alternative_fields(value):
        fields = ", ".join(alternative_fields(value))
        if rule == "anyOf":
            yield loc, f"needs at least one of: {fields}"
        elif error.context:
            yield loc, f"needs exactly one of: {fields}"
        else:
            yield loc, f"takes only one of: {fields}"
    else:
        message = " ".join(error.message.split())
        yield loc, message if len(message) <= 200 else message[:197] + "..."


def alternative_fields(alternatives: Any) -> list[str]:
    """``[{"required": ["a"]}, {"required": ["b"]}]`` -> ``["a", "b"]``; else empty."""
    fields: list[str] = []
    for alternative in alternatives:
        if not isinstance(alternative, dict) or set(alternative) != {"required"}:
            return []
        fields.extend(alternative["required"])
    return fields


def validate(validator: Validator, data: Any) -> list[tuple[Loc, str]]:
    findings = [f for error in validator.iter_errors(data) for f in schema_findings(error)]
    return sorted(set(findings), key=lambda f: (dotted(f[0]), f[1]))

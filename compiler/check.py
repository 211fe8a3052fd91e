"""Validate a loaded spec: the pydantic models, then the cross-references between sections.

Every problem is collected and reported together, each located in the spec file: the structure
problems, and the cross-reference problems of every part whose structure is valid (what is left
once the rejected parts are taken out, see ``salvage``), so one run shows them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import crossref, inputs, yamlio
from .errors import InputFileError, Problem, SpecError
from .inputs import Inputs
from .model import Model, derive
from .salvage import salvage
from .spec import Spec
from .yamlio import Document, Loc


@dataclass(frozen=True)
class Loaded:
    """A valid spec, the files it names, what every stage derives from them, and its warnings
    (problems that do not stop it)."""

    spec: Spec
    inputs: Inputs
    warnings: list[Problem]
    doc: Document
    model: Model


def load_spec(path: Path) -> tuple[Spec, list[Problem]]:
    """The spec at ``path`` and its warnings (see :func:`load`)."""
    loaded = load(path)
    return loaded.spec, loaded.warnings


def load(path: Path) -> Loaded:
    """Read, parse and validate the spec at ``path``, and read the files it names.

    Raises:
        InputFileError: the file is missing or unreadable.
        SpecError: the file is not a valid spec; every problem found is attached.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a spec file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line_start = before.rfind(b"\n") + 1
        col = len(before[line_start:].decode("utf-8", "replace")) + 1
        message = f"byte 0x{raw[exc.start]:02x} is not UTF-8 text; save the file as UTF-8"
        raise SpecError([Problem(str(path), before.count(b"\n") + 1, col, "", message)]) from None
    doc = yamlio.load(text, str(path))
    model, warnings = validate(doc)
    return Loaded(model.spec, model.inputs, warnings, doc, model)


def validate(doc: Document) -> tuple[Model, list[Problem]]:
    """Validate a loaded document, read the files it names, and derive its :class:`Model`.

    Raises:
        SpecError: with every structure, input file and cross-reference problem found.
    """
    if not isinstance(doc.data, dict):
        found = _shown(doc.data)
        raise SpecError([doc.problem((), f"expected a mapping at the top level, found {found}")])
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(_remainder_problems(doc, exc)) from None
    model, problems = _derived(spec, doc)
    if problems:
        raise SpecError(problems)
    return model, crossref.warnings(model, doc)


def _derived(spec: Spec, doc: Document) -> tuple[Model, list[Problem]]:
    """The model of ``spec``, and the problems of the files it names and of its references."""
    found, problems = inputs.read(spec, doc)
    model = derive(spec, found)
    return model, [*problems, *crossref.problems(model, doc)]


def _remainder_problems(doc: Document, exc: ValidationError) -> list[Problem]:
    """The structure problems, then the problems of what is left without the rejected parts:
    its cross-references and the files it names."""
    errors = exc.errors(include_url=False)
    problems = list(_problems(doc, errors))
    left = salvage(Spec, doc.data, exc, _close_field)
    problems += _problems(doc, left.errors)
    moved = dataclasses.replace(doc, moved=left.original)
    if isinstance(left.model, Spec):
        problems += _derived(left.model, moved)[1]
    return list(dict.fromkeys(problems))


# --- pydantic errors as located problems ---------------------------------------------------


def _problems(doc: Document, errors: Iterable[Any]) -> Iterator[Problem]:
    """pydantic's errors as located problems, each at its ``where`` in the text if it has one
    (an error found in a renamed part), else at its ``loc``."""
    errors = list(errors)
    # A misspelt key is one mistake: report the unknown key (with its suggestion), not also
    # the required key it was meant to be.
    meant: set[Loc] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            close = _close_field(loc)
            if close is not None:
                meant.add((*loc[:-1], close))
    for err in errors:
        loc = tuple(err["loc"])  # as the models see it: for the names they know
        at = tuple(err.get("where", loc))  # where it is written
        kind = err["type"]
        if loc and loc[-1] == "[key]":
            yield doc.problem(at[:-1], _message(err), key=True)
        elif kind == "extra_forbidden":
            yield doc.problem(at, _unknown_key(loc), key=True)
        elif kind == "missing":
            if loc not in meant:
                yield doc.problem(at, f"missing required key {loc[-1]!r}")
        else:
            # A null value has no text of its own to point at; its key does.
            yield doc.problem(at, _message(err), key="input" in err and err["input"] is None)


def _shown(value: Any) -> str:
    """A value as the user wrote it, for "got ..." in a message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:76] + "...'"


def _message(err: Any) -> str:
    """pydantic's error as a one-line message in the user's terms: what was expected, and what
    was found (no pydantic wording, Python class names or patterns)."""
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    got = _shown(value)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        if isinstance(value, str) and value.strip().isdigit():
            return f"expected a whole number, got the string {got}; remove the quotes"
        return f"expected a whole number, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind == "string_type":
        quote = "; put it in quotes" if isinstance(value, int | float) else ""
        return f"expected a string, got {got}{quote}"
    if kind == "list_type":
        return f"expected a list (items start with '- '), got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {got}"
    if kind == "literal_error":
        choices = _choices(tuple(err["loc"]))
        if choices:
            shown = ", ".join(str(c) for c in choices)
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"{got} is not one of: {shown}{hint}"
    if kind in ("less_than_equal", "less_than"):
        return f"{got} is too large; the maximum is {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{got} is too small; the minimum is {ctx.get('ge', ctx.get('gt'))}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        if least == 1:
            return "must not be empty"
        return f"needs at least {least} items, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    if kind == "ip_any_address":
        return f"{got} is not a valid IPv4 or IPv6 address"
    message = str(err["msg"]).removeprefix("Value error, ")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    return message


def _unknown_key(loc: Loc) -> str:
    message = f"unknown key {str(loc[-1])!r}"
    close = _close_field(loc)
    if close is not None:
        return f"{message}; did you mean {close!r}?"
    model = _model_at(loc[:-1])
    if model is not None:
        return f"{message}; expected one of: {', '.join(model.model_fields)}"
    return message


def _close_field(loc: Loc) -> str | None:
    """The field of the mapping at ``loc[:-1]`` whose name is closest to the key ``loc[-1]``."""
    model = _model_at(loc[:-1])
    if model is None:
        return None
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return close[0] if close else None


def _choices(loc: Loc) -> tuple[Any, ...]:
    """The values a ``Literal`` field at ``loc`` allows, or () when it is not one."""
    annotation = _unwrap(_annotation_at(loc))
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return ()


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc``."""
    current = _unwrap(_annotation_at(loc))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _annotation_at(loc: Loc) -> Any:
    """The annotation that validates the value at ``loc``, found by walking the models."""
    current: Any = Spec
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict and isinstance(part, str):
            current = typing.get_args(current)[1]
        else:
            return None
    return current


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation

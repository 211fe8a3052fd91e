"""Validate a loaded spec: the pydantic models, then the cross-references between sections.

Every problem is collected and reported together, each located in the spec file. Structure
problems come first; cross-references are only checked on a spec whose structure is valid, as a
compiler reports semantic errors only for a program that parses.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import yamlio
from .errors import InputFileError, Problem, SpecError
from .layout import api_port, cluster_port, host
from .spec import Spec
from .yamlio import Document, Loc

RESERVED_MOUNTS = {"sys", "auth", "identity", "cubbyhole"}
BUILTIN_POLICIES = {"default"}


def load_spec(path: Path) -> tuple[Spec, list[Problem]]:
    """Read, parse and validate the spec at ``path``.

    Returns:
        The spec and its warnings (problems that do not stop the compile).

    Raises:
        InputFileError: the file is missing or unreadable.
        SpecError: the file is not a valid spec; every problem found is attached.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a spec file") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror}") from None
    return validate(yamlio.load(text, str(path)))


def validate(doc: Document) -> tuple[Spec, list[Problem]]:
    """Validate a loaded document into a :class:`Spec` and its warnings."""
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a scalar"
        raise SpecError([doc.problem((), f"expected a mapping at the top level, found {kind}")])
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(_problems(doc, exc)) from None
    problems = list(_cross_references(spec, doc))
    if problems:
        raise SpecError(problems)
    return spec, list(_warnings(spec, doc))


# --- pydantic errors as located problems ---------------------------------------------------


def _problems(doc: Document, exc: ValidationError) -> Iterator[Problem]:
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ")
        if loc and loc[-1] == "[key]":
            yield doc.problem(loc[:-1], message, key=True)
        elif kind == "extra_forbidden":
            yield doc.problem(loc, _unknown_key(loc), key=True)
        elif kind == "missing":
            yield doc.problem(loc, "required key is missing")
        else:
            yield doc.problem(loc, _tidy(message, err.get("input")))


def _tidy(message: str, value: Any) -> str:
    """pydantic's sentence-case message in the one-line style: lower-case, with what was found."""
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    if message.startswith("input should be a valid"):
        if isinstance(value, dict):
            return f"{message}, got a mapping"
        if isinstance(value, list):
            return f"{message}, got a list"
        return f"{message}, got {value!r}"
    return message


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    message = f"unknown key {key!r}"
    if model is not None:
        fields = list(model.model_fields)
        close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
        if close:
            return f"{message}; did you mean {close[0]!r}?"
        return f"{message}; expected one of: {', '.join(fields)}"
    return message


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc``, found by walking the annotations."""
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
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


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


# --- cross-references ----------------------------------------------------------------------


def _duplicates(items: list[Any]) -> set[Any]:
    return {item for item, n in Counter(items).items() if n > 1}


def _cross_references(spec: Spec, doc: Document) -> Iterator[Problem]:
    vault = spec.vault
    nodes = ("vault", "nodes")

    for field, values in (
        ("name", [n.name for n in vault.nodes]),
        ("dns", [n.dns for n in vault.nodes]),
        ("address", [(n.address, api_port(vault, n)) for n in vault.nodes]),
    ):
        dup = _duplicates([v for v in values if v is not None])
        seen: set[Any] = set()
        for i, value in enumerate(values):
            if value in dup and value in seen:
                shown = host(vault.nodes[i]) if field == "address" else value
                yield doc.problem((*nodes, i, field), f"duplicate node {field} {shown!s}")
            seen.add(value)

    for i, node in enumerate(vault.nodes):
        if api_port(vault, node) == cluster_port(vault, node):
            yield doc.problem((*nodes, i), "api port and cluster port must differ")

    unseal = vault.unseal
    if unseal.key_threshold > unseal.key_shares:
        yield doc.problem(
            ("vault", "unseal", "key_threshold"),
            f"key_threshold ({unseal.key_threshold}) is above key_shares ({unseal.key_shares})",
        )
    elif unseal.key_shares > 1 and unseal.key_threshold < 2:
        yield doc.problem(
            ("vault", "unseal", "key_threshold"),
            "with more than one key share the threshold must be at least 2",
        )

    mounts = [e.path for e in vault.secrets_engines]
    for i, path in enumerate(mounts):
        mount_loc: Loc = ("vault", "secrets_engines", i, "path")
        if path.split("/")[0] in RESERVED_MOUNTS:
            yield doc.problem(mount_loc, f"{path!r} is a reserved path")
        if path in mounts[:i]:
            yield doc.problem(mount_loc, f"duplicate mount path {path!r}")

    for name, rules in vault.policies.items():
        loc: Loc = ("vault", "policies", name)
        if name == "root":
            yield doc.problem(loc, "the root policy cannot be written", key=True)
        paths = [r.path for r in rules]
        for j, rule in enumerate(rules):
            if rule.path in paths[:j]:
                yield doc.problem((*loc, j, "path"), f"duplicate rule for path {rule.path!r}")
            caps = rule.capabilities
            for cap in _duplicates(list(caps)):
                yield doc.problem((*loc, j, "capabilities"), f"capability {cap!r} listed twice")
            if "deny" in caps and len(set(caps)) > 1:
                yield doc.problem(
                    (*loc, j, "capabilities"),
                    "'deny' overrides every other capability; list it alone",
                )

    if vault.kubernetes_auth is not None:
        known = set(vault.policies) | BUILTIN_POLICIES
        for role, spec_role in vault.kubernetes_auth.roles.items():
            for k, policy in enumerate(spec_role.policies):
                if policy not in known:
                    yield doc.problem(
                        ("vault", "kubernetes_auth", "roles", role, "policies", k),
                        f"unknown policy {policy!r}{_suggest(policy, known)}",
                    )


def _suggest(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; defined: {', '.join(sorted(choices))}"


def _warnings(spec: Spec, doc: Document) -> Iterator[Problem]:
    unseal = spec.vault.unseal
    if unseal.service:
        yield doc.problem(
            ("vault", "unseal", "service"),
            "warning: the unseal keys will be stored on the Vault nodes themselves, so anyone "
            "who gets the disk gets the data; keep a copy of the keys off the nodes, or set "
            "service: false and unseal by hand",
        )

"""The only module that imports ruamel.yaml: load a spec with positions, dump YAML outputs.

Loading is safe by construction: the round-trip loader builds only maps, lists and scalars;
any explicit tag (``!!python/object``, ``!custom``) is rejected, duplicate keys are an error,
and aliases are expanded against a node budget so that an alias bomb fails fast instead of
eating memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import Problem, SpecError

Loc = tuple[str | int, ...]

# The reference spec has a few hundred nodes; a 1000-policy spec some tens of thousands.
# An alias bomb reaches this in microseconds.
MAX_NODES = 200_000

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass
class Document:
    """A loaded spec: plain data plus the 1-based position of every key and value."""

    file: str
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """The position of ``loc``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for n in range(len(loc), -1, -1):
            prefix = loc[:n]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        """A Problem located at ``loc``."""
        line, col = self.position(loc, key=key)
        return Problem(self.file, line, col, dotted(loc), message)


def dotted(loc: Loc) -> str:
    """``("vault", "nodes", 0, "address")`` -> ``vault.nodes[0].address``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load(text: str, file: str) -> Document:
    """Parse ``text`` (the content of ``file``) into a :class:`Document`.

    Raises:
        SpecError: on a YAML syntax error, a duplicate key, a tag, an alias bomb or an
            empty document.
    """
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "duplicate key" in message or "found duplicate key" in str(exc):
            message = _duplicate_message(exc)
        raise SpecError([Problem(file, line, col, "", message)]) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise SpecError([Problem(file, 1, 1, "", first)]) from None
    doc = Document(file, None)
    if root is None:
        raise SpecError([Problem(file, 1, 1, "", "the file is empty; expected a mapping")])
    budget = [MAX_NODES]
    doc.values[()] = _start(root)
    doc.data = _plain(root, (), doc, budget)
    return doc


def _duplicate_message(exc: MarkedYAMLError) -> str:
    text = str(exc.problem or "")
    return " ".join(text.split()) if text else "duplicate key"


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return (lc.line + 1, lc.col + 1)
    return (1, 1)


def _check_tag(node: Any, loc: Loc, doc: Document) -> None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(value, str) and value and value not in _STANDARD_TAGS:
        raise SpecError([doc.problem(loc, f"YAML tag {value!r} is not allowed")])


def _plain(node: Any, loc: Loc, doc: Document, budget: list[int]) -> Any:
    """Copy the ruamel tree into plain dicts/lists, recording positions, within ``budget``."""
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(
            [
                doc.problem(
                    loc, f"the document expands to more than {MAX_NODES} nodes (an alias bomb?)"
                )
            ]
        )
    if isinstance(node, TaggedScalar):
        _check_tag(node, loc, doc)
    if isinstance(node, CommentedMap):
        _check_tag(node, loc, doc)
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise SpecError([doc.problem(loc, "mapping keys must be plain scalars")])
            k = str(key) if not isinstance(key, str) else key
            kl, kc = node.lc.key(key)
            vl, vc = node.lc.value(key)
            child = (*loc, k)
            doc.keys[child] = (kl + 1, kc + 1)
            doc.values[child] = (vl + 1, vc + 1)
            out[k] = _plain(value, child, doc, budget)
        return out
    if isinstance(node, CommentedSeq):
        _check_tag(node, loc, doc)
        items = []
        for i, value in enumerate(node):
            child = (*loc, i)
            il, ic = node.lc.item(i)
            doc.values[child] = (il + 1, ic + 1)
            items.append(_plain(value, child, doc, budget))
        return items
    if isinstance(node, str):
        return str(node)  # drop ruamel's ScalarString subclasses
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    kind = type(node).__name__.removeprefix("Commented").lower()
    raise SpecError(
        [doc.problem(loc, f"a YAML {kind} is not allowed here; quote it to make it a string")]
    )


def dump(data: Any) -> bytes:
    """Serialise plain data as block-style YAML, keys in the order given."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue().encode()


def iter_locs(doc: Document) -> Iterator[Loc]:
    """Every located path of ``doc`` (for tests and diagnostics)."""
    yield from doc.values

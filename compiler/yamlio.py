"""The only module that imports ruamel.yaml: load a spec with positions, dump YAML outputs.

Loading is safe by construction: the round-trip loader builds only maps, lists and scalars;
any explicit tag (``!!python/object``, ``!custom``) is rejected, duplicate keys are an error,
and aliases are expanded against a node budget so that an alias bomb fails fast instead of
eating memory.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar, merge_attrib
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.reader import ReaderError

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
    """A loaded spec: plain data plus the 1-based position of every key and value.

    ``moved`` maps a location in data derived from this document (what is left of an invalid
    spec, see ``salvage``) back to the document's own; problems are always located in the text.
    """

    file: str
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    moved: Callable[[Loc], Loc] | None = None

    def original(self, loc: Loc) -> Loc:
        """Where ``loc`` is in the document's text."""
        return self.moved(loc) if self.moved is not None else loc

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
        loc = self.original(loc)
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
    return _load_fast(text, file) or load_round_trip(text, file)


def load_round_trip(text: str, file: str) -> Document:
    """:func:`load` by the round-trip loader alone: slower, and the one that words errors."""
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(file, line, col, "", _syntax_message(exc))]) from None
    except ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"the character {shown} is not allowed in YAML"
        raise SpecError([Problem(file, line, col, "", message)]) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise SpecError([Problem(file, 1, 1, "", first)]) from None
    doc = Document(file, None)
    if root is None:
        raise SpecError([Problem(file, 1, 1, "", "the file is empty; expected a mapping")])
    doc.values[()] = _start(root, text)
    doc.data = _Walk(doc).plain(root, (), None)
    return doc


class _Unsupported(Exception):
    """The fast path met something only the round-trip loader reports well."""


_FAST_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def _load_fast(text: str, file: str) -> Document | None:
    """The common case, fast: a well-formed mapping of plain maps, lists and scalars, parsed by
    the C parser (``ruamel.yaml.clib``, when installed) into nodes that carry their positions.

    Anything else (a syntax error, a duplicate or merge key, a tag, a date, an alias bomb, a
    top level that is not a mapping) returns None, and the round-trip loader reads the file
    again to report it exactly.
    """
    yaml = YAML(typ="safe")
    try:
        root = yaml.compose(text)
        if not isinstance(root, MappingNode):
            return None
        doc = Document(file, None)
        doc.values[()] = (root.start_mark.line + 1, root.start_mark.column + 1)
        budget = [MAX_NODES]
        constructor = yaml.constructor

        def plain(node: Node, loc: Loc) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise _Unsupported
            if isinstance(node, MappingNode):
                if node.tag != "tag:yaml.org,2002:map":
                    raise _Unsupported  # a tagged mapping: refused, with the loader's words
                out: dict[str, Any] = {}
                for key_node, value_node in node.value:
                    key = plain(key_node, (*loc, "?"))
                    if key_node.tag == "tag:yaml.org,2002:merge" or isinstance(key, dict | list):
                        raise _Unsupported
                    name = key if isinstance(key, str) else _key_text(key)
                    if name in out:
                        raise _Unsupported  # a duplicate: the round-trip loader words it
                    child = (*loc, name)
                    doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    doc.values[child] = (
                        value_node.start_mark.line + 1,
                        value_node.start_mark.column + 1,
                    )
                    out[name] = plain(value_node, child)
                return out
            if isinstance(node, SequenceNode):
                if node.tag != "tag:yaml.org,2002:seq":
                    raise _Unsupported
                items = []
                for i, item in enumerate(node.value):
                    child = (*loc, i)
                    doc.values[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                    items.append(plain(item, child))
                return items
            if node.tag not in _FAST_TAGS:
                raise _Unsupported
            return constructor.construct_object(node, deep=True)

        doc.data = plain(root, ())
        return doc
    except (_Unsupported, YAMLError, ValueError, TypeError):
        return None


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character ``offset`` in ``text``."""
    before = text[:offset]
    return before.count("\n") + 1, offset - before.rfind("\n")


def _syntax_message(exc: MarkedYAMLError) -> str:
    """ruamel's problem in one line, with where the construct it was reading starts."""
    problem = " ".join(str(exc.problem or "").split())
    context = " ".join(str(exc.context or "").split())
    if "duplicate key" in problem:
        return problem.removeprefix("found ")
    if "found another document" in problem:
        return "a second YAML document ('---') is not allowed; a spec is one document"
    if "'\\t'" in problem:
        return "a tab cannot indent YAML; use spaces"
    if not problem:
        return context or "invalid YAML"
    start, here = exc.context_mark, exc.problem_mark
    construct = context.removeprefix("while parsing ").removeprefix("while scanning ")
    if start is not None and construct != context and (here is None or start.line != here.line):
        where = f"line {start.line + 1}, column {start.column + 1}"
        return f"{problem} (in {construct} that starts at {where})"
    return problem


def _start(node: Any, text: str) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return (lc.line + 1, lc.col + 1)
    # A scalar has no position of its own: the first line that is not a comment or a marker.
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.lstrip()
        if content and not content.startswith(("#", "%", "---")):
            return (number, len(line) - len(content) + 1)
    return (1, 1)


def _check_tag(node: Any, loc: Loc, doc: Document) -> None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(value, str) and value and value not in _STANDARD_TAGS:
        shown = value.replace("tag:yaml.org,2002:", "!!", 1)
        raise SpecError([doc.problem(loc, f"the YAML tag {shown} is not allowed; remove it")])


def _key_text(key: Any) -> str:
    """A mapping key as the user wrote it (``null``, ``true``, ``8200``)."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


def _owner(node: CommentedMap, key: Any) -> CommentedMap:
    """The mapping whose text holds ``key``: ``node``, or the one a ``<<`` merge brought it from."""
    if key in node.lc.data:
        return node
    for source in getattr(node, merge_attrib, ()):
        source = source[-1] if isinstance(source, tuple) else source  # ruamel < 0.18.7: (pos, map)
        if isinstance(source, CommentedMap) and key in source:
            return _owner(source, key)
    return node


# What a tag or an unquoted scalar can build besides maps, lists and scalars: (name, quotable).
_OTHER_KINDS = {
    "date": ("a YAML date", True),
    "TimeStamp": ("a YAML timestamp", True),
    "datetime": ("a YAML timestamp", True),
    "bytes": ("a YAML binary value", True),
    "CommentedSet": ("a YAML set", False),
    "CommentedOrderedMap": ("a YAML ordered map (!!omap)", False),
}


class _Walk:
    """Copy the ruamel tree into plain dicts/lists, recording positions.

    Every node visited counts against :data:`MAX_NODES`, aliases included, so a document whose
    aliases expand to millions of nodes stops early. A container met a second time is an alias,
    and the positions recorded inside it are those of its anchor: a blow-up is reported at the
    outermost alias on the way down.
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.budget = MAX_NODES
        self.seen: set[int] = set()

    def plain(self, node: Any, loc: Loc, alias: Loc | None) -> Any:
        doc = self.doc
        if isinstance(node, CommentedMap | CommentedSeq):
            if alias is None and id(node) in self.seen:
                alias = loc
            self.seen.add(id(node))
        self.budget -= 1
        if self.budget < 0:
            raise SpecError([self._too_big(loc, alias)])
        if isinstance(node, TaggedScalar):
            _check_tag(node, loc, doc)
        if type(node) is CommentedMap:
            _check_tag(node, loc, doc)
            out: dict[Any, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise SpecError([doc.problem(loc, "mapping keys must be plain scalars")])
                k = _key_text(key)
                owner = _owner(node, key)
                kl, kc = owner.lc.key(key)
                vl, vc = owner.lc.value(key)
                child = (*loc, k)
                doc.keys[child] = (kl + 1, kc + 1)
                doc.values[child] = (vl + 1, vc + 1)
                out[k] = self.plain(value, child, alias)
            return out
        if type(node) is CommentedSeq:
            _check_tag(node, loc, doc)
            items = []
            for i, value in enumerate(node):
                child = (*loc, i)
                il, ic = node.lc.item(i)
                doc.values[child] = (il + 1, ic + 1)
                items.append(self.plain(value, child, alias))
            return items
        if isinstance(node, str):
            return str(node)  # drop ruamel's ScalarString subclasses
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        _check_tag(node, loc, doc)
        kind, quotable = _OTHER_KINDS.get(type(node).__name__, ("this YAML value", False))
        advice = "; quote it to make it a string" if quotable else ""
        raise SpecError([doc.problem(loc, f"{kind} is not allowed here{advice}")])

    def _too_big(self, loc: Loc, alias: Loc | None) -> Problem:
        if alias is None:
            return self.doc.problem(loc, f"the document has more than {MAX_NODES} values")
        # An alias's recorded position is its anchor's: point at the key or list that holds it.
        key = isinstance(alias[-1], str)
        return self.doc.problem(
            alias if key else alias[:-1],
            f"the aliases here expand to more than {MAX_NODES} values (an alias bomb?)",
            key=key,
        )


def parse(text: str) -> list[Any]:
    """The documents of ``text`` as plain data, without positions: for reading back our own
    output, where the round-trip loader's comment and position tracking is wasted work.

    Raises:
        ValueError: the text is not YAML, with the line of the problem.
    """
    try:
        # libyaml through PyYAML, where built, is ten times faster than any pure-Python parser.
        import yaml as pyyaml

        return list(pyyaml.load_all(text, Loader=pyyaml.CSafeLoader))
    except ImportError:
        pass
    except pyyaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ValueError(f"{where}{' '.join(str(getattr(exc, 'problem', exc)).split())}") from None
    yaml = YAML(typ="safe", pure=True)
    try:
        return list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ValueError(f"{where}{' '.join(str(exc.problem or exc).split())}") from None
    except YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def dump(data: Any) -> bytes:
    """Serialise plain data as block-style YAML, keys in the order given.

    Strings stay strings for every reader: quoted wherever a YAML 1.1 reader (Kubernetes, Helm,
    Flux and Argo CD read 1.1) or a YAML 1.2 one would take them for something else; multi-line
    strings (a PEM certificate) are literal blocks. libyaml emits, through PyYAML.
    """
    import yaml as pyyaml

    return pyyaml.dump(
        data,
        Dumper=_dumper(),
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    ).encode()


# What YAML 1.2's core schema reads as a number, a boolean or null, beyond YAML 1.1's own list
# (which PyYAML quotes by itself): 0o octals, and the like.
_YAML12_NOT_STRING = re.compile(
    r"^([-+]?(0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|true|True|TRUE|false|False|FALSE|null|Null|NULL|~)$"
)


@functools.cache
def _dumper() -> type:
    import yaml as pyyaml

    base = getattr(pyyaml, "CSafeDumper", pyyaml.SafeDumper)

    class Dumper(base):  # type: ignore[misc, valid-type]
        def represent_str(self, value: str) -> Any:
            if "\n" in value.rstrip("\n") and all(c == "\n" or c.isprintable() for c in value):
                return self.represent_scalar("tag:yaml.org,2002:str", value, style="|")
            if _YAML12_NOT_STRING.match(value):
                return self.represent_scalar("tag:yaml.org,2002:str", value, style="'")
            return super().represent_str(value)

    Dumper.add_representer(str, Dumper.represent_str)
    return Dumper


def iter_locs(doc: Document) -> Iterator[Loc]:
    """Every located path of ``doc`` (for tests and diagnostics)."""
    yield from doc.values

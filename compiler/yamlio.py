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
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError

from .errors import Problem, SpecError

Loc = tuple[str | int, ...]

# The reference spec has a few hundred nodes; a 1000-policy spec some tens of thousands.
# An alias bomb reaches this in microseconds.
MAX_NODES = 200_000
# Bounds on any input, checked before anything else reads it.
MAX_BYTES = 8 * 1024 * 1024  # the reference spec is 4 KiB, a 1000-item spec about 200 KiB
MAX_DEPTH = 64  # the spec nests about 8 deep; chart values a dozen more
MAX_NUMBER_LENGTH = 64  # digits: Python refuses to read an int of more than 4300

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
    """Parse ``text`` (the content of ``file``) into a :class:`Document`, in bounded time and
    memory whatever it holds.

    Raises:
        SpecError: on a YAML syntax error, a duplicate key, a tag, an alias bomb, nesting too
            deep, a document too large, or an empty document.
    """
    if len(text) > MAX_BYTES:
        size = f"{len(text.encode()) / 1024 / 1024:.1f} MiB"
        message = f"the file is {size}; a spec may be at most {MAX_BYTES // 1024 // 1024} MiB"
        raise SpecError([Problem(file, 1, 1, "", message)])
    return _load_fast(text, file) or load_round_trip(text, file)


def load_round_trip(text: str, file: str) -> Document:
    """:func:`load` by the round-trip loader alone: slower, and the one that words errors."""
    try:
        root = _yaml().load(text)
    except RecursionError:
        # load() measures the depth first; this is for a direct caller.
        message = f"nested more than {MAX_DEPTH} levels deep"
        raise SpecError([Problem(file, 1, 1, "", message)]) from None
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


_FAST_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_COLLECTION_TAGS = {
    "MappingStartEvent": "tag:yaml.org,2002:map",
    "SequenceStartEvent": "tag:yaml.org,2002:seq",
}
_INT = "tag:yaml.org,2002:int"


class _ElsewhereError(Exception):
    """The document is well within bounds, but holds something the round-trip loader words."""


@dataclass
class _Frame:
    """A mapping or list being read: where it is, and what it has so far."""

    value: dict[str, Any] | list[Any]
    loc: Loc
    anchor: str | None
    first: int  # the value count when it began: its size, aliases expanded, is the difference
    marks: int  # where its positions begin in the reader's list of positions
    key: tuple[str, Loc] | None = None  # a mapping's key awaiting its value


class _Reader:
    """One pass over a document's parse events into plain data with positions, no recursion.

    Every bound is enforced as it goes: nesting depth, and the number of values with aliases
    expanded (an alias bomb stops at its first alias past the budget). Whatever it does not read
    itself is remembered in ``elsewhere`` while it goes on measuring to the end.
    """

    def __init__(self, file: str) -> None:
        self.doc = Document(file, None)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int, Loc, int, int]] = {}  # value, size, loc, marks
        self.marks: list[tuple[bool, Loc, tuple[int, int]]] = []  # (is key, loc, position)
        self.count = 0
        self.root: Any = None
        self.elsewhere = False
        # A scalar's tag and value depend only on its tag, text and implicitness (the values
        # are immutable): keys and values that repeat are resolved and constructed once.
        self.scalars: dict[tuple[Any, str, Any], tuple[str, Any]] = {}

    # --- where things are --------------------------------------------------------------

    def _mark(self, key: bool, loc: Loc, position: tuple[int, int]) -> None:
        (self.doc.keys if key else self.doc.values)[loc] = position
        self.marks.append((key, loc, position))

    def _next_loc(self) -> Loc:
        """Where the next value goes."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.loc, len(top.value))
        return top.key[1] if top.key is not None else top.loc

    def _fail(self, position: tuple[int, int], loc: Loc, message: str) -> None:
        shown = dotted(loc[:8]) + ("..." if len(loc) > 8 else "")
        raise SpecError([Problem(self.doc.file, *position, shown, message)])

    def _count(self, n: int, position: tuple[int, int], loc: Loc) -> None:
        self.count += n
        if self.count <= MAX_NODES:
            return
        if n == 1:
            self._fail(position, loc, f"the document has more than {MAX_NODES} values")
        # An alias: point at the key or list that holds it.
        holder = loc if isinstance(loc[-1], str) else loc[:-1]
        position = self.doc.values.get(holder, position)
        message = f"the aliases here expand to more than {MAX_NODES} values (an alias bomb?)"
        self._fail(position, holder, message)

    def _place(self, value: Any, position: tuple[int, int]) -> Loc:
        loc = self._next_loc()
        if not self.stack:
            self.root = value
        else:
            top = self.stack[-1]
            if isinstance(top.value, list):
                top.value.append(value)
            else:
                name = loc[-1]
                if name in top.value:
                    self.elsewhere = True  # a duplicate key: the round-trip loader words it
                top.value[str(name)] = value
                top.key = None
        self._mark(False, loc, position)
        return loc

    # --- events ------------------------------------------------------------------------

    def collection(self, event: Any, mapping: bool) -> None:
        position = _position(event)
        tag = event.tag
        if (
            tag is not None
            and str(getattr(tag, "value", tag)) != _COLLECTION_TAGS[type(event).__name__]
        ):
            self.elsewhere = True
        value: dict[str, Any] | list[Any] = {} if mapping else []
        first, marks = self.count, len(self.marks)
        loc = self._place(value, position)
        if len(self.stack) >= MAX_DEPTH:
            self._fail(position, loc, f"nested more than {MAX_DEPTH} levels deep")
        self._count(1, position, loc)
        self.stack.append(_Frame(value, loc, event.anchor, first, marks))

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (
                frame.value,
                self.count - frame.first,
                frame.loc,
                frame.marks,
                len(self.marks),
            )

    def alias(self, event: Any) -> None:
        if event.anchor not in self.anchors:
            raise _ElsewhereError  # an undefined alias
        value, size, source, begin, end = self.anchors[event.anchor]
        position = _position(event)
        loc = self._place(value, position)
        self._count(size, position, loc)
        # Inside an alias, each part is located where its anchor's text has it.
        for key, inner, at in self.marks[begin:end]:
            if len(inner) > len(source):
                self._mark(key, (*loc, *inner[len(source) :]), at)

    def scalar(self, event: Any, resolver: Any, constructor: Any) -> None:
        position = _position(event)
        memo = (event.tag, event.value, event.implicit)
        known = self.scalars.get(memo)
        if known is None:
            known = self._resolve(event, resolver, constructor)
            self.scalars[memo] = known
        tag, value = known
        is_key = (
            bool(self.stack)
            and isinstance(self.stack[-1].value, dict)
            and (self.stack[-1].key is None)
        )
        if tag == _INT and len(event.value) > MAX_NUMBER_LENGTH:
            loc = self.stack[-1].loc if is_key else self._next_loc()
            self._fail(
                position,
                loc,
                f"a number {len(event.value)} characters long is not allowed here; "
                "put it in quotes if it is text",
            )
        if tag not in _FAST_TAGS:
            self.elsewhere = True  # a tag, a date, a merge key: words from the round-trip
        if is_key:
            top = self.stack[-1]
            name = value if isinstance(value, str) else _key_text(value)
            loc = (*top.loc, name)
            self._mark(True, loc, position)
            top.key = (name, loc)
            self._count(1, position, loc)
            return
        loc = self._place(value, position)
        self._count(1, position, loc)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1, loc, len(self.marks) - 1, len(self.marks))

    @staticmethod
    def _resolve(event: Any, resolver: Any, constructor: Any) -> tuple[str, Any]:
        """The scalar's tag, and its value (the text itself for a tag this pass leaves to the
        round-trip loader)."""
        resolved: Any = event.tag
        if resolved is None or resolved == "!":
            resolved = resolver.resolve(ScalarNode, event.value, event.implicit)
        tag = str(getattr(resolved, "value", resolved))  # ruamel 0.18 has Tag objects
        if tag not in _FAST_TAGS:
            return tag, event.value
        if tag == _INT and len(event.value) > MAX_NUMBER_LENGTH:
            return tag, None  # refused by the caller, never converted (the cost is quadratic)
        node = ScalarNode(resolved, event.value, event.start_mark, event.end_mark, event.style)
        return tag, constructor.construct_object(node)


def _position(event: Any) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


def _load_fast(text: str, file: str) -> Document | None:
    """The common case, fast, and every bound, for any input: one pass over the parser's
    events (the C parser of ``ruamel.yaml.clib`` when installed; it never recurses), building
    plain maps, lists and scalars with their positions.

    Anything this pass does not read itself (a syntax error, a duplicate or merge key, a tag, a
    date, a key that is not a scalar, a second document, a top level that is not a mapping)
    returns None once the document is measured, and the round-trip loader reads the file again
    to word it: within the bounds checked here, so it can never run away.

    Raises:
        SpecError: the nesting is too deep, the aliases expand past the budget, or a number is
            too long to be one.
    """
    yaml = YAML(typ="safe")
    resolver, constructor = yaml.resolver, yaml.constructor
    reader = _Reader(file)
    documents = 0
    try:
        for event in yaml.parse(text):
            kind = type(event).__name__
            stack = reader.stack
            if (
                stack
                and isinstance(stack[-1].value, dict)
                and stack[-1].key is None
                and kind in ("MappingStartEvent", "SequenceStartEvent", "AliasEvent")
            ):
                reader.elsewhere = True  # a key that is not a scalar
            if kind == "ScalarEvent":
                reader.scalar(event, resolver, constructor)
            elif kind == "MappingStartEvent":
                reader.collection(event, mapping=True)
            elif kind == "SequenceStartEvent":
                reader.collection(event, mapping=False)
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                reader.end()
            elif kind == "AliasEvent":
                reader.alias(event)
            elif kind == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    return None  # a second document: refused, in the round-trip's words
    except (YAMLError, _ElsewhereError):
        return None
    if reader.elsewhere or not isinstance(reader.root, dict):
        return None
    reader.doc.data = reader.root
    return reader.doc


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

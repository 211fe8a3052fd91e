"""What is left of a spec that failed validation, so its cross-references can be checked too.

A compiler that stops at the first layer of problems makes the user fix them one run at a time.
Instead, every part the models rejected is taken out (the smallest part that makes the rest
valid: the bad value, or, when that value is required, the mapping or list item holding it) and
the rest is validated again, a few rounds at most. A misspelt key whose intended name is absent is
renamed rather than dropped (``adress`` -> ``address``), and what it holds is validated under
the name it was meant to have. The cross-reference checks then run
on what is left, and their problems are located in the original text: :meth:`Salvage.original`
maps a location in the pruned data back to the spec's own (list items keep their index, renamed
keys their name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .yamlio import Loc

ROUNDS = 8  # each round removes the parts one validation rejected; nesting is shallow


@dataclass
class _Entry:
    """A mapping value, with the key it has in the spec's text."""

    key: str
    value: Any


@dataclass
class _Item:
    """A list item, with the index it has in the spec's text."""

    index: int
    value: Any


def _tree(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _Entry(k, _tree(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_Item(i, _tree(v)) for i, v in enumerate(data)]
    return data


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(e.value) for k, e in node.items()}
    if isinstance(node, list):
        return [_plain(i.value) for i in node]
    return node


class _GiveUp(Exception):
    """Nothing valid is left (the top level itself is required)."""


@dataclass
class Salvage:
    """The valid remainder of a spec: the model, and where its parts are in the spec's text.

    ``errors`` are the problems found inside renamed parts once renamed (pydantic's error
    dicts: ``loc`` in the pruned data, as the models see it, and ``where`` in the spec's text):
    the first validation could not see them.
    """

    model: BaseModel | None  # None: nothing valid is left (the top level itself went)
    _tree: Any
    errors: list[Any]

    def original(self, loc: Loc) -> Loc:
        """``loc`` in the pruned data as the location of the same part in the spec's text."""
        return _original(self._tree, loc)


def salvage(
    model: type[BaseModel],
    data: Any,
    error: ValidationError,
    close_field: Callable[[Loc], str | None],
) -> Salvage:
    """Validate what is left of ``data`` once every rejected part is taken out.

    Args:
        model: the model ``data`` failed to validate as.
        data: the plain data that failed.
        error: the failure.
        close_field: the field a misspelt key at this location was meant to be, if any.

    Returns:
        The valid remainder (its ``model`` None when nothing valid is left).
    """
    tree = _tree(data)
    found: list[Any] = []
    errors = error.errors(include_url=False)
    for _ in range(ROUNDS):
        try:
            _prune(tree, errors, close_field)
            return Salvage(model.model_validate(_plain(tree)), tree, found)
        except _GiveUp:
            break
        except ValidationError as again:
            errors = again.errors(include_url=False)
            found += [
                {**e, "where": _original(tree, tuple(e["loc"]))}
                for e in errors
                if _renamed(tree, tuple(e["loc"]))
            ]
    return Salvage(None, tree, found)


def _original(tree: Any, loc: Loc) -> Loc:
    node = tree
    out: list[str | int] = []
    for n, part in enumerate(loc):
        child = _child(node, part)
        if child is None:
            return (*out, *loc[n:])  # a default the model filled in: no text of its own
        out.append(child.key if isinstance(child, _Entry) else child.index)
        node = child.value
    return tuple(out)


def _renamed(tree: Any, loc: Loc) -> bool:
    """Whether ``loc`` lies inside a part whose key was renamed (so its problems are the
    user's, not consequences of the pruning)."""
    node = tree
    for part in loc:
        child = _child(node, part)
        if child is None:
            return False
        if isinstance(child, _Entry) and child.key != part:
            return True
        node = child.value
    return False


def _prune(tree: Any, errors: Iterable[Any], close_field: Callable[[Loc], str | None]) -> None:
    renames: dict[Loc, str] = {}  # location of a misspelt key -> the field it was meant to be
    drops: set[Loc] = set()
    errors = list(errors)
    extras = {tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden"}
    for extra in extras:
        meant = close_field(extra)  # a misspelt key: the field it was meant to be, if absent
        parent = _at(tree, extra[:-1])
        if meant is not None and isinstance(parent, dict) and meant not in parent:
            renames.setdefault(extra, meant)
    for err in errors:
        loc: Loc = tuple(err["loc"])
        if err["type"] == "missing":
            if (*loc[:-1], loc[-1]) in {(*x[:-1], f) for x, f in renames.items()}:
                continue  # the misspelt key brings it
            loc = loc[:-1]  # a required part is missing: the mapping holding it goes
        elif loc and loc[-1] == "[key]":
            loc = loc[:-1]  # a bad mapping key: its entry goes
        drops.add(loc)
    drops -= set(renames)
    if () in drops:
        raise _GiveUp
    for loc, field in renames.items():
        parent = _at(tree, loc[:-1])
        if isinstance(parent, dict) and field not in parent:
            parent[field] = parent.pop(str(loc[-1]))
    # Innermost and highest list index first, so that no removal moves another's target.
    for loc in sorted(_outermost(drops), key=_order, reverse=True):
        parent = _at(tree, loc[:-1])
        if _child(parent, loc[-1]) is not None:
            del parent[loc[-1]]


def _outermost(locs: set[Loc]) -> set[Loc]:
    """``locs`` without those inside another of them (removing the outer one removes both)."""
    return {loc for loc in locs if not any(loc[: len(o)] == o for o in locs if o != loc)}


def _order(loc: Loc) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in loc)


def _child(node: Any, part: str | int) -> _Entry | _Item | None:
    """The entry or item ``part`` of ``node``, or None when it has none."""
    if isinstance(node, dict) and isinstance(part, str):
        entry: _Entry | None = node.get(part)
        return entry
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        item: _Item = node[part]
        return item
    return None


def _at(tree: Any, loc: Loc) -> Any:
    """The node at ``loc``, or None when there is none."""
    node = tree
    for part in loc:
        child = _child(node, part)
        if child is None:
            return None
        node = child.value
    return node

"""A policy's text, as the server stores it, back into rules the access model reads.

Reads the layout ``picluster apply`` and people write: ``path "P" { capabilities = [...] }``
items (with or without ``=`` before the block), other attributes in the block skipped, and the
JSON form ``{"path": {"P": {"capabilities": [...]}}}``. Anything else is None: the caller says
it cannot tell, rather than guess.
"""

from __future__ import annotations

import json

from ..hcl1 import Token, tokens, unquote
from .builtin import PolicyRule


def parse(text: str) -> list[PolicyRule] | None:
    """The rules of ``text`` in order, or None when it is not a layout read here."""
    if text.lstrip().startswith("{"):
        return _json(text)
    try:
        words = [t for t in tokens(text) if t.kind != "comment"]
    except ValueError:
        return None
    out: list[PolicyRule] = []
    i = 0
    while i < len(words):
        if words[i].text != "path" or i + 1 >= len(words) or words[i + 1].kind != "string":
            return None
        path = unquote(words[i + 1].text)
        i += 2
        if i < len(words) and words[i].text == "=":
            i += 1
        if i >= len(words) or words[i].text != "{":
            return None
        depth, i, caps = 1, i + 1, None
        while i < len(words) and depth:
            word = words[i]
            if depth == 1 and word.text == "capabilities" and i + 2 < len(words):
                if words[i + 1].text != "=" or words[i + 2].text != "[":
                    return None
                caps, i = _list(words, i + 3)
                if caps is None:
                    return None
                continue
            depth += {"{": 1, "}": -1}.get(word.text, 0)
            i += 1
        if depth:
            return None
        out.append(PolicyRule(path, tuple(caps or ())))
        if i < len(words) and words[i].text == ",":
            i += 1
    return out


def _list(words: list[Token], i: int) -> tuple[list[str] | None, int]:
    caps: list[str] = []
    while i < len(words) and words[i].text != "]":
        if words[i].kind == "string":
            caps.append(unquote(words[i].text))
        elif words[i].text != ",":
            return None, i
        i += 1
    return caps, i + 1


def _json(text: str) -> list[PolicyRule] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    paths = data.get("path") if isinstance(data, dict) else None
    if not isinstance(paths, dict):
        return None
    out = []
    for path, body in paths.items():
        caps = body.get("capabilities", []) if isinstance(body, dict) else None
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            return None
        out.append(PolicyRule(str(path), tuple(caps)))
    return out

"""HCL1, the syntax Vault and OpenBao read policies and server configs in: strings and tokens.

Both servers parse with github.com/hashicorp/hcl v1 (OpenBao pins ``v1.0.1-vault-7``, read
through ``sdk/helper/hclutil.ParseConfig`` by ``internal/vault/policy/policy.go`` and
``internal/command/server/config.go``), not with HCL2. What differs from HCL2 is ported here
from that tag's ``hcl/scanner/scanner.go`` and ``hcl/strconv/quote.go``:

- inside a quoted string, ``${`` opens an interpolation that runs to its *matching* ``}``:
  quotes, ``#`` and newlines inside it do not end the string, and its text is kept verbatim
  (no escapes are decoded in it). There is no ``$${`` escape: ``$${x}`` reads as ``$${x}``.
- ``%{`` means nothing.
- outside an interpolation, ``\\u0024`` is an ordinary escape for ``$``, so ``\\u0024{`` is a
  literal ``${`` that opens nothing.
- U+E123 written as a character is refused by the scanner; the escape ``\\ue123`` is not.
"""

from __future__ import annotations

import itertools
import json
import re

from .scanner import Token, tokens
from .strconv import SURROGATE, quote, unquote

__all__ = ["Token", "canonical", "outside_strings", "quote", "tokens", "unquote"]


def canonical(text: str) -> str:
    """``text`` with its comments and layout dropped and every string written one way.

    Two texts with the same canonical form are the same token sequence to the HCL1 parser, so
    the server reads them as the same policy; layout is free in HCL1 (newlines are whitespace).
    The result has one item per line, unindented (a plan shows the lines that differ).

    Raises:
        ValueError: ``text`` does not scan as HCL1 (see :func:`tokens`).
    """
    lines: list[str] = []
    line: list[str] = []
    brackets = 0
    item_done = False  # the last token ended an item: the next one starts a new line

    def flush() -> None:
        if line:
            lines.append(_join(line))
            line.clear()

    previous = ""
    for token in tokens(text):
        if token.kind == "comment":
            continue
        word = _canonical_string(token.text) if token.kind == "string" else token.text
        if brackets == 0 and item_done and word not in (",", "]", "}"):
            flush()
        item_done = False
        if word == "{":
            line.append(word)
            flush()
        elif word == "}":
            flush()
            line.append(word)
            flush()
            item_done = True
        elif word == "," and brackets == 0:  # HCL1 allows a comma between items
            line.append(word)
            item_done = True
        elif word == "," and previous in ("[", ","):
            continue  # in a list a comma only separates (hcl/parser listType): [,a,,b] is [a,b]
        else:
            if word == "]" and line and line[-1] == ",":
                line.pop()  # ... and [a, b,] is [a, b]
            line.append(word)
            brackets += {"[": 1, "]": -1}.get(word, 0)
            item_done = brackets == 0 and (previous == "=" or word == "]")
        previous = word
    flush()
    return "\n".join(lines)


def _canonical_string(literal: str) -> str:
    value = unquote(literal)
    # A value with bytes that are not UTF-8 cannot be written raw; escape all of it instead.
    return json.dumps(value) if SURROGATE.search(value) else quote(value)


def _join(words: list[str]) -> str:
    """``words`` with a space between two, except after ``[`` and before ``,`` or ``]``."""
    text = words[0]
    for before, word in itertools.pairwise(words):
        text += word if before == "[" or word in (",", "]") else " " + word
    return text


def outside_strings(text: str) -> str:
    """``text`` with the inside of every string token blanked (line breaks kept, so line
    numbers still hold); ``text`` itself when it does not scan as HCL1."""
    try:
        found = [t for t in tokens(text) if t.kind == "string"]
    except ValueError:
        return text
    parts, last = [], 0
    for token in found:
        inner = token.text[1:-1]
        parts += [text[last : token.start], '"', re.sub(r"[^\n]", " ", inner), '"']
        last = token.start + len(token.text)
    parts.append(text[last:])
    return "".join(parts)

"""HCL1 string literals: :func:`quote` for writing, and ``hcl/strconv/quote.go``'s Unquote."""

from __future__ import annotations

import json
import re

SURROGATE = re.compile("[\ud800-\udfff]")


def quote(value: str) -> str:
    """``value`` as an HCL1 double-quoted string that the HCL1 parser reads back unchanged.

    JSON string escaping is a subset of HCL1's (``\\"``, ``\\\\``, ``\\n``, ``\\uXXXX``...);
    ``${`` and U+E123 are then written as escapes, the only two things HCL1 reads otherwise.

    Raises:
        ValueError: ``value`` holds a lone surrogate, which no UTF-8 file can carry.
    """
    if SURROGATE.search(value):
        raise ValueError(f"{value!r} holds a lone surrogate, which UTF-8 cannot encode")
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("${", "\\u0024{").replace("\ue123", "\\ue123")


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
HEX_DIGITS = {"x": 2, "u": 4, "U": 8}  # escape letter -> hex digits after it


def unquote(literal: str) -> str:
    """The value of the HCL1 string token ``literal`` (quotes included), as OpenBao reads it.

    Bytes that are not UTF-8 (``\\xff``, ``\\377``) come back as surrogate escapes, so two
    different byte strings never compare equal.

    Raises:
        ValueError: the literal is malformed (the Go code returns ``ErrSyntax``).
    """
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ValueError(f"not a quoted string: {literal!r}")
    s = literal[1:-1]
    if "$" not in s and "{" not in s and "\n" in s:
        raise ValueError("a line break inside a string")
    if "\\" not in s and '"' not in s and "$" not in s:
        return s
    out = bytearray()
    i = 0
    while i < len(s):
        if s.startswith("${", i):
            i = _copy_interpolation(s, i, out)
            continue
        char = s[i]
        if char in '\n"':
            raise ValueError(f"{char!r} inside a string")
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        i = _unescape(s, i + 1, out)
    return out.decode("utf-8", "surrogateescape")


def _copy_interpolation(s: str, i: int, out: bytearray) -> int:
    """Copy ``${...}`` from ``s[i]`` up to its matching brace verbatim; the index after it."""
    depth, j = 1, i + 2
    while j < len(s) and depth:
        if s[j] == "\ufffd":  # Go sees utf8.RuneError and gives up
            raise ValueError("U+FFFD inside an interpolation")
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        j += 1
    if depth:
        raise ValueError("an interpolation '${' is not closed")
    out += s[i:j].encode("utf-8", "surrogateescape")
    return j


def _unescape(s: str, i: int, out: bytearray) -> int:
    """Decode the escape whose letter is ``s[i]`` into ``out``; the index after it."""
    if i >= len(s):
        raise ValueError("a string ends in a backslash")
    kind = s[i]
    i += 1
    if kind in _SIMPLE_ESCAPES:
        out.append(_SIMPLE_ESCAPES[kind])
        return i
    if kind in HEX_DIGITS:
        digits = s[i : i + HEX_DIGITS[kind]]
        if len(digits) < HEX_DIGITS[kind] or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError(f"bad escape \\{kind}{digits}")
        value = int(digits, 16)
        if kind == "x":  # one byte, possibly not UTF-8
            out.append(value)
        elif value > 0x10FFFF:
            raise ValueError(f"bad escape \\{kind}{digits}")
        else:  # Go's utf8.EncodeRune writes U+FFFD for a surrogate
            rune = "\ufffd" if 0xD800 <= value <= 0xDFFF else chr(value)
            out += rune.encode()
        return i + len(digits)
    if kind in "01234567":
        digits = kind + s[i : i + 2]
        if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
            raise ValueError(f"bad escape \\{digits}")
        out.append(int(digits, 8))
        return i + 2
    raise ValueError(f"bad escape \\{kind}")

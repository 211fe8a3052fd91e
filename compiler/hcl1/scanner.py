"""The tokens of HCL1 text, split as ``hcl/scanner/scanner.go`` (hcl v1.0.1-vault-7) splits them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .strconv import HEX_DIGITS, SURROGATE

_EOF = ""  # what the scanner's next() returns past the end


@dataclass(frozen=True)
class Token:
    """One HCL1 token: ``kind`` is ident, bool, number, float, string, comment or punct."""

    kind: str
    text: str
    start: int  # offset of the token in the source
    line: int  # 1-based line of its first character


class _Scanner:
    """The Go scanner's reading primitives (next, unread, peek), on a str."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.prev = 0

    def next(self) -> str:
        if self.pos >= len(self.src):
            return _EOF
        char = self.src[self.pos]
        self.prev, self.pos = self.pos, self.pos + 1
        if char == "\x00":
            self.fail("unexpected null character (0x00)")
        if char == "\ue123":
            self.fail("unicode code point U+E123 reserved for internal use")
        if SURROGATE.match(char):
            self.fail("illegal UTF-8 encoding")
        return char

    def unread(self) -> None:
        self.pos = self.prev

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def fail(self, message: str) -> None:
        line = self.src.count("\n", 0, max(self.prev, 0)) + 1
        raise ValueError(f"line {line}: {message}")

    def scan_string(self) -> None:
        braces = 0
        while True:
            char = self.next()
            if (char == "\n" and braces == 0) or char == _EOF:
                self.fail("literal not terminated")
            if char == '"' and braces == 0:
                return
            # Inside ${...} quotes do not end the string; braces nest.
            if braces == 0 and char == "$" and self.peek() == "{":
                braces += 1
                self.next()
            elif braces > 0 and char == "{":
                braces += 1
            if braces > 0 and char == "}":
                braces -= 1
            if char == "\\":
                self.scan_escape()

    def scan_escape(self) -> None:
        char = self.next()
        if char in 'abfnrtv\\"' and char:
            return
        if char and char in "01234567":
            self.scan_digits(char, 8, 3)
        elif char and char in HEX_DIGITS:
            self.scan_digits(self.next(), 16, HEX_DIGITS[char])
        else:
            self.fail("illegal char escape")

    def scan_digits(self, char: str, base: int, count: int) -> None:
        start = count
        while count > 0 and _digit_value(char) < base:
            char = self.next()
            if char == _EOF:
                break
            count -= 1
        if count > 0:
            self.fail("illegal char escape")
        if count != start and char != _EOF:
            self.unread()

    def scan_comment(self, char: str) -> None:
        if char == "#" or (char == "/" and self.peek() != "*"):
            if char == "/" and self.peek() != "/":
                self.fail("expected '/' for comment")
            char = self.next()
            while char not in ("\n", _EOF):
                char = self.next()
            if char != _EOF:
                self.unread()
            return
        self.next()
        char = self.next()  # the character after "/*"
        while True:
            if char == _EOF:
                self.fail("comment not terminated")
            previous, char = char, self.next()
            if previous == "*" and char == "/":
                return

    def scan_number(self, char: str) -> str:
        if char == "0":
            char = self.next()
            if char in ("x", "X"):
                char = self.next()
                found = False
                while _is_hex(char):
                    char, found = self.next(), True
                if not found:
                    self.fail("illegal hexadecimal number")
                if char != _EOF:
                    self.unread()
                return "number"
            illegal_octal = False
            while _is_decimal(char):
                char = self.next()
                if char in ("8", "9"):
                    illegal_octal = True
            if char in ("e", "E"):
                self.scan_exponent(char)
                return "float"
            if char == ".":
                char = self.scan_fraction(char)
                if char in ("e", "E"):
                    self.scan_exponent(self.next())
                return "float"
            if illegal_octal:
                self.fail("illegal octal number")
            if char != _EOF:
                self.unread()
            return "number"
        self.scan_mantissa(char)
        char = self.next()
        if char in ("e", "E"):
            self.scan_exponent(char)
            return "float"
        if char == ".":
            char = self.scan_fraction(char)
            if char in ("e", "E"):
                self.scan_exponent(self.next())
            return "float"
        if char != _EOF:
            self.unread()
        return "number"

    def scan_mantissa(self, char: str) -> str:
        scanned = False
        while _is_decimal(char):
            char, scanned = self.next(), True
        if scanned and char != _EOF:
            self.unread()
        return char

    def scan_fraction(self, char: str) -> str:
        if char == ".":
            char = self.scan_mantissa(self.peek())
        return char

    def scan_exponent(self, char: str) -> str:
        if char in ("e", "E"):
            char = self.next()
            if char in ("-", "+"):
                char = self.next()
            char = self.scan_mantissa(char)
        return char

    def scan(self) -> Iterator[Token]:
        while True:
            char = self.next()
            while char in (" ", "\t", "\n", "\r") and char:
                char = self.next()
            if char == _EOF:
                return
            start = self.prev
            kind = "punct"
            if _is_letter(char):
                kind = "ident"
                char = self.next()
                while _is_letter(char) or _is_digit(char) or char in ("-", "."):
                    char = self.next()
                if char != _EOF:
                    self.unread()
                if self.src[start : self.pos] in ("true", "false"):
                    kind = "bool"
            elif _is_decimal(char):
                kind = self.scan_number(char)
            elif char == '"':
                kind = "string"
                self.scan_string()
            elif char in ("#", "/"):
                kind = "comment"
                self.scan_comment(char)
            elif char == ".":
                if _is_decimal(self.peek()):
                    kind = "float"
                    self.scan_exponent(self.scan_mantissa(self.peek()))
            elif char == "<":
                # A heredoc: legal HCL1, but picluster never writes one and does not read them.
                self.fail("heredoc strings are not read here")
            elif char == "-":
                if _is_decimal(self.peek()):
                    kind = self.scan_number(self.next())
            elif char not in "[]{},=+":
                self.fail("illegal char")
            line = self.src.count("\n", 0, start) + 1
            yield Token(kind, self.src[start : self.pos], start, line)


def _is_letter(char: str) -> bool:
    return bool(char) and (
        "a" <= char <= "z"
        or "A" <= char <= "Z"
        or char == "_"
        or (char >= "\x80" and unicodedata.category(char).startswith("L"))
    )


def _is_digit(char: str) -> bool:
    return bool(char) and ("0" <= char <= "9" or unicodedata.category(char) == "Nd")


def _is_decimal(char: str) -> bool:
    return bool(char) and "0" <= char <= "9"


def _is_hex(char: str) -> bool:
    return bool(char) and char in "0123456789abcdefABCDEF"


def _digit_value(char: str) -> int:
    return int(char, 16) if _is_hex(char) else 16


def tokens(text: str) -> list[Token]:
    """Every token of ``text``, comments included, exactly as the HCL1 scanner splits it.

    Raises:
        ValueError: the scanner reports an error (``line N: ...``), or ``text`` holds a
            heredoc, which this port does not read.
    """
    return list(_Scanner(text).scan())

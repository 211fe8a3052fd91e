"""Every error picluster reports, and the problem records they carry.

The hierarchy (exit codes are mapped once, in ``cli.py``)::

    CompilerError
    ├── InputError            bad input: exit 2
    │   ├── SpecError         the spec is unreadable or invalid; carries located Problems
    │   └── InputFileError    a file named on the command line or in the spec is missing
    ├── CheckError            a check failed: exit 1
    │   ├── VerifyError       a rendered artifact failed its verifier; carries Problems
    │   ├── StaleOutputError  ``compile --check`` found out/ differing from the spec
    │   └── OwnershipError    a write would replace a file edited by hand or not picluster's
    └── RenderError           a template failed: an internal bug, exit 3

Core code raises these and never prints or exits; the CLI turns them into stderr lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem: ``FILE:LINE:COL: dotted.path: message``.

    ``line`` and ``col`` are 1-based; 0 means the position is unknown (for example a problem
    in an artifact rather than in the spec).
    """

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col}"
        subject = f" {self.path}:" if self.path else ""
        return f"{where}:{subject} {self.message}"


class CompilerError(Exception):
    """Base of every error picluster raises on purpose."""

    exit_code = 3

    def lines(self) -> list[str]:
        """The error as the lines to print on stderr."""
        return [str(self)]


class InputError(CompilerError):
    """The user's input (spec, file, option) is wrong."""

    exit_code = 2


class ProblemsMixin:
    problems: list[Problem]

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class SpecError(ProblemsMixin, InputError):
    """The spec failed to load or to validate; ``problems`` holds every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputFileError(InputError):
    """A file that must exist does not, or cannot be read."""


class CheckError(CompilerError):
    """A check ran and failed."""

    exit_code = 1


class VerifyError(ProblemsMixin, CheckError):
    """One or more rendered artifacts failed verification."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StaleOutputError(CheckError):
    """``out/`` is not what the spec compiles to."""

    def __init__(self, out_dir: str, changes: list[str]) -> None:
        self.out_dir = out_dir
        self.changes = changes
        super().__init__(f"{out_dir}: stale")

    def lines(self) -> list[str]:
        return [f"{self.out_dir}/{c}" for c in self.changes] + [
            f"{self.out_dir}: {len(self.changes)} file(s) differ from the spec; "
            "run `picluster compile`"
        ]


class OwnershipError(CheckError):
    """A compile would overwrite or remove files picluster cannot vouch for."""

    def __init__(self, out_dir: str, conflicts: list[str]) -> None:
        self.out_dir = out_dir
        self.conflicts = conflicts
        super().__init__(f"{out_dir}: {len(conflicts)} file(s) not picluster's to change")

    def lines(self) -> list[str]:
        return [f"{self.out_dir}/{c}" for c in self.conflicts] + [
            f"{self.out_dir}: nothing written; keep your edits in the spec, or rerun with --force "
            "to overwrite them"
        ]


class RenderError(CompilerError):
    """A template failed to render: a bug in picluster, not in the spec."""

    def __init__(self, template: str, line: int | None, message: str) -> None:
        self.template = template
        self.line = line
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {message}")

"""Every error picluster reports, and the problem records they carry.

The hierarchy (exit codes are mapped once, in ``cli.py``)::

    CompilerError
    ├── InputError            bad input: exit 2
    │   ├── SpecError         the spec is unreadable or invalid; carries located Problems
    │   ├── InputFileError    a file named on the command line or in the spec is missing
    │   └── UnsafeOutputError out/ is, or holds, a symbolic link or a special file
    ├── CheckError            a check failed: exit 1
    │   ├── VerifyError       a rendered artifact failed its verifier; carries Problems
    │   ├── StaleOutputError  ``compile --check`` found out/ differing from the spec
    │   ├── DiffersError      ``diff`` printed a difference (the diff is the message)
    │   └── OwnershipError    a write would replace a file edited by hand or not picluster's
    ├── ApplyError            init/plan/apply could not do it: exit 1
    │   ├── OutOfDateError    out/ is not what the spec compiles to: nothing is pushed
    │   ├── StalePlanError    a saved plan is no longer what apply would do
    │   ├── VaultError        a request failed: address, method, path, status (0: no answer)
    │   ├── RecordError       picluster's ownership record in Vault is not one it wrote
    │   └── HostError         a node: its name and the step, one line
    │       ├── HostKeyError          unknown or changed host key: refused, never added
    │       ├── HostAuthError         the node refused the login, or sudo wants a password
    │       ├── HostUnreachableError  no SSH connection (refused, timeout, no route)
    │       ├── ChecksumError         the server binary is not the one the spec pins
    │       ├── RolledBackError       the server did not come back healthy; files restored
    │       ├── StillSealedError      a restarted server is sealed; the rollout stopped there
    │       └── HostsFailedError      several nodes failed: one line each
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


class UnsafeOutputError(InputError):
    """``out/`` must be a tree of plain files and directories: a link in it could make a compile
    write, or a diff read, outside it. Nothing is read through it or written."""


class CheckError(CompilerError):
    """A check ran and failed."""

    exit_code = 1


class VerifyError(ProblemsMixin, CheckError):
    """One or more rendered artifacts failed verification."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StaleOutputError(CheckError):
    """``out/`` is not what the spec compiles to.

    ``changes`` are ``path: reason`` lines; ``forced`` of them are files picluster cannot vouch
    for (edited by hand, or not its own), which only ``compile --force`` replaces.
    """

    def __init__(self, out_dir: str, changes: list[str], forced: int = 0) -> None:
        self.out_dir = out_dir
        self.changes = changes
        self.forced = forced
        super().__init__(f"{out_dir}: stale")

    def lines(self) -> list[str]:
        n = len(self.changes)
        if self.forced:
            advice = (
                f"{self.forced} of them hold changes not made by picluster: move each change "
                "into the spec, then run `picluster compile --force` (it replaces them)"
            )
        else:
            advice = "run `picluster compile`"
        return [f"{self.out_dir}/{c}" for c in self.changes] + [
            f"{self.out_dir}: {n} file(s) differ from the spec; {advice}"
        ]


class DiffersError(CheckError):
    """``picluster diff`` found differences; the diff itself, on stdout, says what they are."""

    def __init__(self, out_dir: str) -> None:
        super().__init__(f"{out_dir}: differs from the spec")

    def lines(self) -> list[str]:
        return []


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


class ApplyError(CompilerError):
    """init, plan or apply could not do what was asked: Vault or a node failed, or is not in a
    state the command can work with.

    Always one line: it names the server, the node or the step, and what to do; never a secret.
    """

    exit_code = 1


class OutOfDateError(ApplyError):
    """``out/`` is not what the spec compiles to: apply pushes only the committed tree."""

    def __init__(self, out_dir: str, spec: str, changes: list[str]) -> None:
        self.out_dir, self.changes = out_dir, changes
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        super().__init__(
            f"{out_dir}/{changes[0]}{more}: {out_dir} is not what {spec} compiles to; nothing "
            f"applied: run `picluster compile` (see `picluster compile --check`), then apply"
        )


class VaultError(ApplyError):
    """One request to Vault failed. Callers branch on the fields, never on the text.

    Attributes:
        address: the server.
        method: ``GET``, ``PUT``, ...
        path: the API path, without ``/v1/``.
        status: the HTTP status of the answer; 0 when there was none (unreachable, TLS, a
            redirect refused).
        errors: what the server said, as it said it (its ``errors`` list).
    """

    def __init__(
        self,
        message: str,
        *,
        address: str,
        method: str,
        path: str,
        status: int,
        errors: tuple[str, ...] = (),
    ) -> None:
        self.address, self.method, self.path, self.status = address, method, path, status
        self.errors = errors
        super().__init__(message)


class RecordError(ApplyError):
    """picluster's ownership record in Vault is malformed or not one picluster wrote: refused as
    a whole, so no name read from it can reach a request (nothing is deleted)."""


class StalePlanError(ApplyError):
    """A saved plan is no longer what apply would do (the spec, a node or Vault changed since);
    nothing was applied."""

    def __init__(self, plan_file: str, why: str, done: str = "nothing applied") -> None:
        self.plan_file, self.why = plan_file, why
        super().__init__(
            f"{plan_file}: stale plan: {why} since it was made; {done}; "
            f"run `picluster plan --out {plan_file}` again"
        )


class HostError(ApplyError):
    """Applying the host files to a node failed: one line, naming the node; never a secret.

    Attributes:
        node: the node's name ("" when the line is about several).
        step: what was being done (``restarting vault.service``), "" when not known.
        detail: the node's own last word on it (a program's last stderr line), if any.
    """

    def __init__(self, message: str, *, node: str = "", step: str = "", detail: str = "") -> None:
        self.node, self.step, self.detail = node, step, detail
        super().__init__(message)


class HostKeyError(HostError):
    """The node's SSH host key is not in known_hosts, or differs from the one there."""


class HostAuthError(HostError):
    """The node refused the SSH login, or sudo asked for a password."""


class HostUnreachableError(HostError):
    """No SSH connection to the node could be made."""


class ChecksumError(HostError):
    """The server binary's SHA-256 is not the one the spec pins; nothing was installed."""


class RolledBackError(HostError):
    """The server did not come back healthy after a restart; the previous files were restored."""


class StillSealedError(HostError):
    """A restarted server came back sealed and was not unsealed in time: its files stay (they
    are fine), no further node is restarted, and the message says how to unseal it."""


class HostsFailedError(HostError):
    """More than one node failed; each keeps its own line."""

    def __init__(self, errors: Iterable[HostError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


class RenderError(CompilerError):
    """A template failed to render: a bug in picluster, not in the spec."""

    def __init__(self, template: str, line: int | None, message: str) -> None:
        self.template = template
        self.line = line
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {message}")

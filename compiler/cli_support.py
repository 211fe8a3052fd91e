"""What every command shares: the SPEC argument, the OUT option, stdout that survives a closed
pipe, and the one place errors become stderr lines and exit codes.

Exit codes: 0 ok, 1 a check failed (stale out/, failed verifier, apply failure), 2 bad input or
usage, 3 an internal error (a bug: the traceback goes to a log file, not the terminal),
130 Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import CompilerError, Problem

SPEC = click.argument(
    "spec", type=click.Path(path_type=Path), default="picluster.yaml", required=False
)

OUT = click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default="out",
    show_default=True,
    help="Output directory.",
)

# Commands that change something elsewhere: when their stdout closes (`apply | head -1`) they
# go on to the end rather than stop half-way, and say so.
CHANGING = frozenset({"apply", "init"})


class _Stdout:
    """Whether stdout was closed under us (the reader of a pipe went away)."""

    closed = False


def say(text: str = "", *, nl: bool = True) -> bool:
    """Write ``text`` to stdout; False (and nothing more is written) once stdout is closed."""
    if _Stdout.closed:
        return False
    try:
        click.echo(text, nl=nl)
    except BrokenPipeError:
        _Stdout.closed = True
        # Later writes, and the interpreter's last flush, go nowhere instead of failing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return False
    return True


def tell(text: str) -> None:
    """Write ``text`` to stderr (progress, warnings, errors)."""
    click.echo(text, err=True)


def print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        tell(str(warning))


@contextmanager
def errors(ctx: click.Context | None = None) -> Iterator[None]:
    """Turn every error into stderr lines and an exit code (cf. pre-commit's error_handler)."""
    code = 0
    try:
        yield
    except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
        raise  # click's own: usage errors (exit 2), --help and --version
    except CompilerError as exc:
        for line in exc.lines():
            tell(line)
        code = exc.exit_code
    except KeyboardInterrupt:
        tell("interrupted")
        code = 130
    except Exception:
        with tempfile.NamedTemporaryFile(
            "w", prefix="picluster-crash-", suffix=".log", delete=False
        ) as log:
            traceback.print_exc(file=log)
        tell(f"internal error: this is a picluster bug; the traceback is in {log.name}")
        code = 3
    command = ctx.invoked_subcommand if ctx is not None else None
    if _Stdout.closed and command in CHANGING:
        tell(
            f"picluster {command}: stdout was closed; the rest of its output was dropped, "
            "and it ran to its end"
        )
    if code:
        sys.exit(code)


class Group(click.Group):
    """The command group: every subcommand runs inside the one error handler, so an error
    raised while importing a command's modules, parsing its input or running it is mapped the
    same way."""

    def invoke(self, ctx: click.Context) -> Any:
        with errors(ctx):
            return super().invoke(ctx)

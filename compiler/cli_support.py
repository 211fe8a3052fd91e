"""What every command shares: the SPEC argument, the OUT option, and the one place errors
become stderr lines and exit codes.

Exit codes: 0 ok, 1 a check failed (stale out/, failed verifier, apply failure), 2 bad input or
usage, 3 an internal error (a bug: the traceback goes to a log file, not the terminal),
130 Ctrl-C.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from .errors import CompilerError, Problem

SPEC = click.argument(
    "spec", type=click.Path(path_type=Path), default="picluster.yaml", required=False
)


def print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        click.echo(str(warning), err=True)


@contextmanager
def errors() -> Iterator[None]:
    """Turn every error into stderr lines and an exit code (cf. pre-commit's error_handler)."""
    try:
        yield
    except CompilerError as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        with tempfile.NamedTemporaryFile(
            "w", prefix="picluster-crash-", suffix=".log", delete=False
        ) as log:
            traceback.print_exc(file=log)
        click.echo(
            f"internal error: this is a picluster bug; the traceback is in {log.name}", err=True
        )
        sys.exit(3)


OUT = click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default="out",
    show_default=True,
    help="Output directory.",
)

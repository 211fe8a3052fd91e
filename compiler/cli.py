"""The command line: click parses, one core function runs; errors map to exit codes in one place
(``cli_support.errors``).

Exit codes: 0 ok, 1 a check failed (stale out/, failed verifier), 2 bad input or usage,
3 an internal error (a bug: the traceback goes to a log file, not the terminal), 130 Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_apply import apply, init, plan
from .cli_support import OUT, SPEC, errors, print_warnings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picluster")
def main() -> None:
    """Compile picluster.yaml into a verified Vault/OpenBao secret-management stack."""


@main.command()
@SPEC
def validate(spec: Path) -> None:
    """Check SPEC (default ./picluster.yaml) and report every problem, located."""
    from .check import load_spec

    with errors():
        _, warnings = load_spec(spec)
        print_warnings(warnings)
        click.echo(f"{spec}: ok", err=True)


@main.command(name="compile")
@SPEC
@OUT
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if OUT is not what SPEC compiles to."
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite or remove generated files even if they were edited by hand.",
)
@click.option(
    "--verify",
    "verify_external",
    is_flag=True,
    help="Also prove each artifact with its real consumer (shellcheck, "
    "systemd-analyze, bao) where installed.",
)
def compile_command(
    spec: Path, out_dir: Path, check: bool, force: bool, verify_external: bool
) -> None:
    """Compile SPEC (default ./picluster.yaml) into OUT."""
    from .pipeline import Options, compile_tree

    with errors():
        result = compile_tree(
            Options(
                spec_path=spec,
                out_dir=out_dir,
                check=check,
                force=force,
                verify_external=verify_external,
            )
        )
        if check:
            click.echo(f"{out_dir}: up to date", err=True)
        else:
            n = len(result.written)
            click.echo(f"{out_dir}: {len(result.build.artifacts)} files, {n} changed", err=True)


@main.command()
@SPEC
@OUT
def diff(spec: Path, out_dir: Path) -> None:
    """Show how OUT differs from what SPEC compiles to, as a unified diff (exit 1 if it does)."""
    from .pipeline import Options
    from .pipeline import diff as diff_tree

    with errors():
        text = diff_tree(Options(spec_path=spec, out_dir=out_dir))
        if text:
            click.echo(text, nl=False)
            sys.exit(1)


@main.command()
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default="schemas/picluster.schema.json",
    show_default=True,
    help="Where to write the schema; - for stdout.",
)
def schema(out_path: Path) -> None:
    """Write the JSON Schema of picluster.yaml."""
    from .schema import schema_text

    with errors():
        text = schema_text()
        if str(out_path) == "-":
            click.echo(text, nl=False)
            return
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text, encoding="utf-8")
        click.echo(f"{out_path}: written", err=True)


main.add_command(init)
main.add_command(plan)
main.add_command(apply)

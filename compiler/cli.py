"""The command line: click parses, one core function runs; errors map to exit codes in one place
(``cli_support.Group``, around every command).

Exit codes: 0 ok, 1 a check failed (stale out/, failed verifier), 2 bad input or usage,
3 an internal error (a bug: the traceback goes to a log file, not the terminal), 130 Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_apply import apply, init, plan
from .cli_support import OUT, SPEC, Group, print_warnings, say, tell


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picluster")
def main() -> None:
    """Compile picluster.yaml into a verified Vault/OpenBao secret-management stack."""


@main.command()
@SPEC
def validate(spec: Path) -> None:
    """Check SPEC (default ./picluster.yaml) and report every problem, located."""
    from .check import load_spec

    _, warnings = load_spec(spec)
    print_warnings(warnings)
    tell(f"{spec}: ok")


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
    help="Also prove each artifact with its real consumer (shellcheck, systemd-analyze, "
    "systemd-sysusers/tmpfiles, bao, kubectl); exit 1 if one complains or is not installed.",
)
def compile_command(
    spec: Path, out_dir: Path, check: bool, force: bool, verify_external: bool
) -> None:
    """Compile SPEC (default ./picluster.yaml) into OUT."""
    from .pipeline import Options, compile_tree

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
        tell(f"{out_dir}: up to date")
    else:
        n = len(result.written)
        tell(f"{out_dir}: {len(result.build.artifacts)} files, {n} changed")


@main.command()
@SPEC
@OUT
def diff(spec: Path, out_dir: Path) -> None:
    """Show how OUT differs from what SPEC compiles to, as a unified diff (exit 1 if it does)."""
    from .errors import DiffersError
    from .pipeline import Options
    from .pipeline import diff as diff_tree

    text = diff_tree(Options(spec_path=spec, out_dir=out_dir))
    if text:
        say(text, nl=False)
        raise DiffersError(str(out_dir))


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
    from .schema import write_schema

    text = write_schema(out_path)
    if text is not None:
        say(text, nl=False)
    else:
        tell(f"{out_path}: written")


main.add_command(init)
main.add_command(plan)
main.add_command(apply)

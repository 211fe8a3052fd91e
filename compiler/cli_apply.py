"""``picluster init``, ``plan`` and ``apply``: thin click commands over ``compiler.apply``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli import _errors

if TYPE_CHECKING:
    from .apply.vault_model import Step

SPEC = click.argument(
    "spec", type=click.Path(path_type=Path), default="picluster.yaml", required=False
)
# A later issue adds the host side (SSH); `--only vault` is the one target there is today.
ONLY = click.option(
    "--only",
    type=click.Choice(["vault"]),
    default="vault",
    show_default=True,
    help="Which side to plan or apply.",
)
PRUNE = click.option(
    "--prune",
    is_flag=True,
    help="Also delete what picluster created and the spec no longer declares.",
)


@click.command()
@SPEC
@click.option(
    "--keys-file",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the unseal keys (created, mode 0600, never in out/).",
)
@click.option(
    "--root-token-file",
    type=click.Path(path_type=Path),
    help="Where to write the root token (created, mode 0600).",
)
@click.option("--root-token-stdout", is_flag=True, help="Print the root token on stdout.")
def init(
    spec: Path, keys_file: Path, root_token_file: Path | None, root_token_stdout: bool
) -> None:
    """Initialise the uninitialised server of SPEC with its key shares and threshold."""
    from .apply.init import InitOptions, initialise

    with _errors():
        done = initialise(InitOptions(spec, keys_file, root_token_file, root_token_stdout))
        for warning in done.warnings:
            click.echo(warning, err=True)
        click.echo(f"{done.address}: initialised; unseal keys in {done.keys_file}", err=True)
        if done.root_token is not None:
            click.echo(done.root_token)


@click.command()
@SPEC
@ONLY
@PRUNE
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document for machines.",
)
def plan(spec: Path, only: str, prune: bool, output: str) -> None:
    """Show what `apply` would create, update and delete to make the server match SPEC."""
    from .apply.plan_output import as_json, text
    from .apply.vault import Options, make_plan

    with _errors():
        planned = make_plan(Options(spec, prune, dict(os.environ)))
        if output == "json":
            click.echo(as_json(planned.plan, planned.address), nl=False)
        else:
            for line in text(planned.plan, planned.address):
                click.echo(line)
        if planned.plan.conflicts:
            from .errors import ApplyError

            raise ApplyError(f"{len(planned.plan.conflicts)} conflict(s); apply would refuse")


@click.command()
@SPEC
@ONLY
@PRUNE
def apply(spec: Path, only: str, prune: bool) -> None:
    """Make the server match SPEC: plan, then run each step, reporting it."""
    from .apply.plan_output import headline, summary, text
    from .apply.vault import Options, apply, make_plan

    def progress(number: int, total: int, step: Step) -> None:
        click.echo(f"[{number}/{total}] {headline(step)}")

    with _errors():
        planned = make_plan(Options(spec, prune, dict(os.environ)))
        if not planned.plan.steps:
            for line in text(planned.plan, planned.address):
                click.echo(line)
            return
        apply(planned, progress)
        click.echo(f"Vault {planned.address}: applied: {summary(planned.plan)}")
        for line in text(planned.plan, planned.address)[1:]:
            if not line.startswith(("  +", "  ~", "  -", "      ")):
                click.echo(line)

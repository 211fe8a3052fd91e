"""``picluster init``, ``plan`` and ``apply``: thin click commands over ``compiler.apply``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_support import SPEC, errors

if TYPE_CHECKING:
    from .apply.hosts_plan import HostsPlan
    from .apply.vault_model import Step

ONLY = click.option(
    "--only",
    type=click.Choice(["hosts", "vault"]),
    default=None,
    help="One side only (default: the hosts over SSH, then Vault over its API).",
)
ROOT = click.option(
    "--root",
    default=None,
    metavar="DIR",
    help="Hosts: a directory standing for / on each node ({node} is its name).",
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

    with errors():
        done = initialise(InitOptions(spec, keys_file, root_token_file, root_token_stdout))
        for warning in done.warnings:
            click.echo(warning, err=True)
        click.echo(f"{done.address}: initialised; unseal keys in {done.keys_file}", err=True)
        if done.root_token is not None:
            click.echo(done.root_token)


@click.command()
@SPEC
@ONLY
@ROOT
@PRUNE
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document for machines.",
)
def plan(spec: Path, only: str | None, root: str | None, prune: bool, output: str) -> None:
    """Show what `apply` would change on the nodes and in Vault to make them match SPEC."""
    import json

    from .apply.plan_output import as_json, text
    from .apply.vault import Options, make_plan

    with errors():
        documents: dict[str, object] = {}
        if only in (None, "hosts"):
            hosts = _plan_hosts(spec, root)
            if output == "json":
                documents["hosts"] = hosts.as_dict()
            else:
                for line in hosts.lines() or ["hosts: no changes"]:
                    click.echo(line)
        conflicts = 0
        if only in (None, "vault"):
            planned = make_plan(Options(spec, prune, dict(os.environ)))
            conflicts = len(planned.plan.conflicts)
            if output == "json":
                documents["vault"] = json.loads(as_json(planned.plan, planned.address))
            else:
                for line in text(planned.plan, planned.address):
                    click.echo(line)
        if output == "json":
            # One side asked for: its document; both: one document holding the two.
            chosen = documents[only] if only else documents
            click.echo(json.dumps(chosen, indent=2))
        if conflicts:
            from .errors import ApplyError

            raise ApplyError(f"{conflicts} conflict(s); apply would refuse")


def _plan_hosts(spec: Path, root: str | None) -> HostsPlan:
    from .apply.hosts_apply import plan_hosts
    from .pipeline import build

    return plan_hosts(build(spec), base_dir=spec.resolve().parent, root=root)


@click.command()
@SPEC
@ONLY
@ROOT
@PRUNE
def apply(spec: Path, only: str | None, root: str | None, prune: bool) -> None:
    """Make the nodes, then Vault, match SPEC: plan, then run each step, reporting it."""
    with errors():
        if only in (None, "hosts"):
            _apply_hosts(spec, root)
        if only in (None, "vault"):
            _apply_vault(spec, prune)


def _apply_hosts(spec: Path, root: str | None) -> None:
    from .apply.hosts_apply import apply_hosts
    from .pipeline import build

    def progress(node: str, line: str) -> None:
        click.echo(f"{node}: {line}")

    result = apply_hosts(build(spec), base_dir=spec.resolve().parent, root=root, progress=progress)
    if not result.plan.changed:
        click.echo("hosts: no changes; every node matches the spec")
    elif result.restarted:
        click.echo(f"hosts: applied; restarted on {', '.join(result.restarted)}")
    else:
        click.echo("hosts: applied; nothing needed a restart")


def _apply_vault(spec: Path, prune: bool) -> None:
    from .apply.plan_output import headline, summary, text
    from .apply.vault import Options, apply, make_plan

    def progress(number: int, total: int, step: Step) -> None:
        click.echo(f"[{number}/{total}] {headline(step)}")

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

"""``picluster init``, ``plan`` and ``apply``: thin click commands over ``compiler.apply``
(options in, the core called, its outcome printed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_support import SPEC, say, tell
from .errors import InputError

if TYPE_CHECKING:
    from .apply.core import Options
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
TREE = click.option(
    "--tree",
    "out_dir",
    type=click.Path(path_type=Path),
    default="out",
    show_default=True,
    help="The compiled tree apply pushes (what `picluster compile -o` wrote); refused unless "
    "it is what SPEC compiles to.",
)
DESTROY = click.option(
    "--destroy-engine",
    "destroy",
    multiple=True,
    metavar="PATH",
    help="With --prune: unmount the secrets engine at PATH although it holds keys, destroying "
    "them (repeatable).",
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

    done = initialise(InitOptions(spec, keys_file, root_token_file, root_token_stdout))
    for warning in done.warnings:
        tell(warning)
    tell(f"{done.address}: initialised; unseal keys in {done.keys_file}")
    if done.root_token is not None and not say(done.root_token):
        from .errors import ApplyError

        raise ApplyError(
            f"{done.address}: initialised, but stdout was closed before the root token could be "
            "written; make a new one from the unseal keys (`bao operator generate-root`)"
        )


def _options(
    spec: Path,
    out_dir: Path,
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...],
) -> Options:
    from .apply.core import Options, side

    return Options(spec, out_dir, side(only), root, prune, frozenset(destroy), dict(os.environ))


@click.command()
@SPEC
@TREE
@ONLY
@ROOT
@PRUNE
@DESTROY
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document for machines.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Also save the plan: `apply --plan FILE` then runs exactly it, or nothing.",
)
def plan(
    spec: Path,
    out_dir: Path,
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...],
    output: str,
    out_file: Path | None,
) -> None:
    """Show what `apply` would change on the nodes and in Vault to make them match SPEC."""
    import json

    from .apply import core
    from .apply.plan_output import hosts_text, text
    from .errors import ApplyError

    whole = core.plan_all(_options(spec, out_dir, only, root, prune, destroy))
    if output == "json":
        documents = whole.document()
        # One side asked for: its document; both: one document holding the two.
        say(json.dumps(documents[only] if only else documents, indent=2, sort_keys=True))
    else:
        lines = hosts_text(whole.hosts) if whole.hosts is not None else []
        if whole.vault is not None:
            lines += text(whole.vault.plan, whole.vault.address)
        for line in lines:
            say(line)
    if whole.conflicts:
        raise ApplyError(f"{len(whole.conflicts)} conflict(s); apply would refuse")
    if out_file is not None:
        core.save(whole, out_file)
        tell(f"plan saved to {out_file}; `picluster apply --plan {out_file}` runs it")


class _Printed:
    """Apply's progress, on stdout as it goes."""

    def host(self, node: str, line: str) -> None:
        say(f"{node}: {line}")

    def step(self, number: int, total: int, step: Step) -> None:
        from .apply.plan_output import headline

        say(f"[{number}/{total}] {headline(step)}")


@click.command()
@SPEC
@TREE
@ONLY
@ROOT
@PRUNE
@DESTROY
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Run the plan saved by `plan --out FILE` (with its --only, --root, --prune, "
    "--destroy-engine), or nothing if the spec, a node or Vault changed since.",
)
def apply(
    spec: Path,
    out_dir: Path,
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...],
    plan_file: Path | None,
) -> None:
    """Make the nodes, then Vault, hold the compiled tree of SPEC: plan, then run each step."""
    from .apply import core
    from .apply.plan_output import hosts_applied, vault_applied

    saved = None
    if plan_file is not None:
        if only or root or prune or destroy:
            raise InputError(
                "--plan runs the plan with the options it was made with; "
                "drop --only, --root, --prune and --destroy-engine"
            )
        from .apply import saved_plan

        saved = saved_plan.read(plan_file)
    options = _options(spec, out_dir, only, root, prune, destroy)
    outcome = core.apply_all(options, _Printed(), saved)
    if outcome.hosts is not None:
        say(hosts_applied(outcome.hosts.plan, outcome.hosts.restarted))
    if outcome.vault is not None:
        for line in vault_applied(outcome.vault.plan, outcome.vault.address):
            say(line)

"""``picluster init``, ``plan`` and ``apply``: thin click commands over ``compiler.apply``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_support import SPEC, say, tell
from .errors import InputError, StalePlanError

if TYPE_CHECKING:
    from .apply.hosts_plan import HostsPlan
    from .apply.saved_plan import SavedPlan
    from .apply.vault import Planned
    from .apply.vault_model import Step
    from .spec import Spec

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


@click.command()
@SPEC
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
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...],
    output: str,
    out_file: Path | None,
) -> None:
    """Show what `apply` would change on the nodes and in Vault to make them match SPEC."""
    import json

    from .apply.plan_output import as_document, text
    from .apply.vault import Options, make_plan

    documents: dict[str, dict[str, object]] = {}
    if only in (None, "hosts"):
        hosts = _plan_hosts(spec, root)
        documents["hosts"] = hosts.as_dict()
        if output == "text":
            for line in hosts.lines() or ["hosts: no changes"]:
                say(line)
    conflicts = 0
    if only in (None, "vault"):
        planned = make_plan(Options(spec, prune, dict(os.environ), frozenset(destroy)))
        conflicts = len(planned.plan.conflicts)
        documents["vault"] = as_document(planned.plan, planned.address)
        if output == "text":
            for line in text(planned.plan, planned.address):
                say(line)
    if output == "json":
        # One side asked for: its document; both: one document holding the two.
        chosen = documents[only] if only else documents
        say(json.dumps(chosen, indent=2, sort_keys=True))
    if conflicts:
        from .errors import ApplyError

        raise ApplyError(f"{conflicts} conflict(s); apply would refuse")
    if out_file is not None:
        from .apply import saved_plan

        saved_plan.write(
            out_file,
            only=only,
            root=root,
            prune=prune,
            destroy=destroy,
            hosts=documents.get("hosts"),
            vault=documents.get("vault"),
        )
        tell(f"plan saved to {out_file}; `picluster apply --plan {out_file}` runs it")


def _plan_hosts(spec: Path, root: str | None) -> HostsPlan:
    from .apply.hosts_apply import plan_hosts
    from .pipeline import build

    return plan_hosts(build(spec), base_dir=spec.resolve().parent, root=root)


@click.command()
@SPEC
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
    help="Run the plan saved by `plan --out FILE` (with its --only, --root, --prune), or "
    "nothing if the spec, a node or Vault changed since.",
)
def apply(
    spec: Path,
    only: str | None,
    root: str | None,
    prune: bool,
    destroy: tuple[str, ...],
    plan_file: Path | None,
) -> None:
    """Make the nodes, then Vault, match SPEC: plan, then run each step, reporting it."""
    saved: SavedPlan | None = None
    if plan_file is not None:
        if only or root or prune or destroy:
            raise InputError(
                "--plan runs the plan with the options it was made with; "
                "drop --only, --root, --prune and --destroy-engine"
            )
        from .apply import saved_plan

        saved = saved_plan.read(plan_file)
        only, root, prune, destroy = saved.only, saved.root, saved.prune, saved.destroy
    engines = frozenset(destroy)
    if saved is not None and only is None:
        _vault_planned(spec, prune, engines, saved)  # both sides still as saved before any write
    if only in (None, "hosts"):
        _apply_hosts(spec, root, saved)
    if only in (None, "vault"):
        try:
            _apply_vault(spec, prune, engines, saved)
        except StalePlanError as exc:
            if only is None:  # Vault changed while the hosts were being applied
                done = "the hosts were applied, Vault was not"
                raise StalePlanError(exc.plan_file, exc.why, done) from None
            raise


def _apply_hosts(spec: Path, root: str | None, saved: SavedPlan | None) -> None:
    from .apply import saved_plan
    from .apply.hosts_apply import apply_hosts
    from .pipeline import build

    def progress(node: str, line: str) -> None:
        say(f"{node}: {line}")

    def approve(planned: HostsPlan) -> None:
        if saved is not None:
            saved_plan.check_hosts(saved, planned.as_dict())

    built = build(spec)
    base_dir = spec.resolve().parent
    result = apply_hosts(
        built,
        base_dir=base_dir,
        root=root,
        progress=progress,
        approve=approve,
        token=_hosts_token(built.spec, base_dir),
    )
    if not result.plan.changed:
        say("hosts: no changes; every node matches the spec")
    elif result.restarted:
        say(f"hosts: applied; restarted on {', '.join(result.restarted)}")
    else:
        say("hosts: applied; nothing needed a restart")


def _hosts_token(spec: Spec, base_dir: Path) -> str | None:
    """The Vault token, when one is set: the host apply reads raft autopilot with it to see a
    restarted node back as a healthy voter (without it, as unsealed and caught up)."""
    from .apply.connection import token
    from .inputs import Inputs

    try:
        return token(spec, Inputs("", base_dir=base_dir), dict(os.environ))
    except InputError:
        return None


def _vault_planned(
    spec: Path, prune: bool, destroy: frozenset[str], saved: SavedPlan | None
) -> Planned:
    """The Vault plan now; with a saved plan, only if it is still the saved one."""
    from .apply import saved_plan
    from .apply.plan_output import as_document
    from .apply.vault import Options, make_plan

    planned = make_plan(Options(spec, prune, dict(os.environ), destroy))
    if saved is not None:
        saved_plan.check_vault(saved, as_document(planned.plan, planned.address))
    return planned


def _apply_vault(spec: Path, prune: bool, destroy: frozenset[str], saved: SavedPlan | None) -> None:
    from .apply.plan_output import headline, summary, text
    from .apply.vault import apply

    def progress(number: int, total: int, step: Step) -> None:
        say(f"[{number}/{total}] {headline(step)}")

    planned = _vault_planned(spec, prune, destroy, saved)
    if not planned.plan.steps:
        for line in text(planned.plan, planned.address):
            say(line)
        return
    apply(planned, progress)
    say(f"Vault {planned.address}: applied: {summary(planned.plan)}")
    for line in text(planned.plan, planned.address)[1:]:
        if not line.startswith(("  +", "  ~", "  -", "      ")):
            say(line)

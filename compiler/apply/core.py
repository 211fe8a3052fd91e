"""The one plan/apply core, used by the CLI, the benchmarks and the tests: it loads the spec once,
checks that out/ is what the spec compiles to, plans the hosts (from out/) and Vault into one
plan, and runs it. It never prints: progress goes to a ``Report``, the outcome is returned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import StalePlanError
from . import saved_plan as saved_plans
from . import vault
from .hosts_apply import HostsResult, apply_hosts, plan_hosts
from .hosts_plan import HostsPlan
from .plan_output import as_document, hosts_document
from .saved_plan import SavedPlan
from .tree import Tree, current
from .vault_model import Step

Side = Literal["hosts", "vault"]
SIDES: tuple[Side, ...] = ("hosts", "vault")


def side(name: str | None) -> Side | None:
    """``"hosts"`` or ``"vault"`` as a side; anything else (None) means both."""
    return "hosts" if name == "hosts" else "vault" if name == "vault" else None


@dataclass(frozen=True)
class Options:
    """What ``picluster plan`` or ``apply`` was asked to do."""

    spec_path: Path = Path("picluster.yaml")
    out_dir: Path = Path("out")
    only: Side | None = None
    root: str | None = None  # a directory standing for / on each node ({node}: its name)
    prune: bool = False
    destroy: frozenset[str] = frozenset()  # engines a prune may unmount though they hold keys
    env: Mapping[str, str] = field(default_factory=dict)  # VAULT_TOKEN & co.

    @property
    def sides(self) -> tuple[Side, ...]:
        return (self.only,) if self.only else SIDES

    def as_saved(self, saved: SavedPlan) -> Options:
        """These options with a saved plan's own (it runs as it was made)."""
        return Options(
            self.spec_path,
            self.out_dir,
            side(saved.only),
            saved.root,
            saved.prune,
            frozenset(saved.destroy),
            self.env,
        )


@dataclass
class WholePlan:
    """Both sides' plans (a side not asked for is None)."""

    options: Options
    hosts: HostsPlan | None = None
    vault: vault.Planned | None = None

    def document(self) -> dict[str, Any]:
        """Each side's JSON document: what ``--output json`` prints and a saved plan holds."""
        documents: dict[str, Any] = {}
        if self.hosts is not None:
            documents["hosts"] = hosts_document(self.hosts)
        if self.vault is not None:
            documents["vault"] = as_document(self.vault.plan, self.vault.address)
        return documents

    @property
    def conflicts(self) -> list[str]:
        return list(self.vault.plan.conflicts) if self.vault is not None else []


class Report(Protocol):
    """Where apply says what it is doing, as it does it."""

    def host(self, node: str, line: str) -> None: ...

    def step(self, number: int, total: int, step: Step) -> None: ...


@dataclass
class Outcome:
    """What apply did: the hosts' result and the Vault plan it ran (None: that side not run)."""

    hosts: HostsResult | None = None
    vault: vault.Planned | None = None


def plan_all(options: Options) -> WholePlan:
    """Read every node and the server, and plan what apply would do; changes nothing.

    Raises:
        InputError: the spec, the token or a file it names is wrong.
        ApplyError: out/ is not the compiled spec, or a node or the server cannot be read.
    """
    tree = current(options.spec_path, options.out_dir)
    return _planned(tree, options)


def _planned(tree: Tree, options: Options, sides: tuple[Side, ...] | None = None) -> WholePlan:
    sides = options.sides if sides is None else sides
    whole = WholePlan(options)
    if "hosts" in sides:
        whole.hosts = plan_hosts(tree, root=options.root)
    if "vault" in sides:
        whole.vault = _vault(tree, options)
    return whole


def _vault(tree: Tree, options: Options) -> vault.Planned:
    return vault.make_plan(tree, options.env, prune=options.prune, destroy=options.destroy)


def save(whole: WholePlan, path: Path) -> None:
    """Write ``whole`` to ``path``, for ``apply_all(..., saved=...)`` to run exactly."""
    options = whole.options
    saved_plans.write(
        path,
        only=options.only,
        root=options.root,
        prune=options.prune,
        destroy=tuple(sorted(options.destroy)),
        **whole.document(),
    )


def apply_all(options: Options, report: Report, saved: SavedPlan | None = None) -> Outcome:
    """Make the nodes, then Vault, match the spec; with ``saved``, exactly that plan or nothing.

    The hosts go first (the server must run before it is configured); with a saved plan both
    sides are checked against it before the first write anywhere.

    Raises:
        StalePlanError: the saved plan is no longer what apply would do (saying whether the
            hosts were applied before Vault was found changed).
        ApplyError: a node or the server failed (one line, naming it and the step).
    """
    if saved is not None:
        options = options.as_saved(saved)
    tree = current(options.spec_path, options.out_dir)
    outcome = Outcome()
    if saved is not None and options.only is None:
        saved_plans.check_vault(saved, _vault_document(_vault(tree, options)))
    if "hosts" in options.sides:

        def approve(planned: HostsPlan) -> None:
            if saved is not None:
                saved_plans.check_hosts(saved, hosts_document(planned))

        outcome.hosts = apply_hosts(
            tree,
            root=options.root,
            progress=report.host,
            approve=approve,
            token=_hosts_token(tree, options),
        )
    if "vault" in options.sides:
        planned = _vault(tree, options)
        if saved is not None:
            try:
                saved_plans.check_vault(saved, _vault_document(planned))
            except StalePlanError as exc:
                if options.only is None:  # Vault changed while the hosts were being applied
                    done = "the hosts were applied, Vault was not"
                    raise StalePlanError(exc.plan_file, exc.why, done) from None
                raise
        if planned.plan.steps:
            vault.apply(planned, report.step)
        outcome.vault = planned
    return outcome


def _hosts_token(tree: Tree, options: Options) -> str | None:
    """The Vault token, when one is set: the host apply reads raft autopilot with it to see a
    restarted node back as a healthy voter (without one, as unsealed and caught up)."""
    from ..errors import InputError
    from .credentials import token

    try:
        return token(tree.model, options.env)
    except InputError:
        return None


def _vault_document(planned: vault.Planned) -> dict[str, Any]:
    return as_document(planned.plan, planned.address)

"""The registry of artifact kinds: one entry holds everything about a kind, the target that
renders it, its in-process verifier, its real consumer and the programs that needs, and what a
change to such a file means on a node. Adding a kind touches one entry here and its modules.

The in-process verifiers run on every compile (``verify``); the real consumers with
``compile --verify`` and in the test suite (``prove``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from .artifact import Artifact
from .errors import Problem
from .model import Model, node_of
from .verify import checks, external, kubernetes

Verifier = Callable[[Artifact], Iterable[str | Problem]]
"""Messages about one artifact, or Problems located inside it."""

Consumer = Callable[[list[Artifact], list[Artifact], Model], list[str]]
"""``(the artifacts to prove, every artifact of their node or tree, the model) -> findings``."""

OnNode = Literal["setup", "unit", "config", "file", "none"]
"""What a changed file means on a node: ``setup`` (users and directories are made from it),
``unit`` (daemon-reload), ``config`` (the server must see it), ``file``; ``none``: not pushed."""


@dataclass(frozen=True)
class Kind:
    name: str
    target: str  # the registry name of the target that renders it (``targets.TARGETS``)
    verify: Verifier
    on_node: OnNode = "none"
    consumer: Consumer | None = None
    programs: tuple[str, ...] = ()  # what the consumer runs (found on PATH)
    per_node: bool = False  # the consumer proves all of a node's files of the kind together


def _each(check: Callable[[Artifact], list[str]]) -> Consumer:
    """A consumer that proves each artifact on its own."""
    return lambda group, context, model: [line for a in group for line in check(a)]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("hcl-config", "server-config", checks.nothing, "config"),
        Kind(
            "hcl-policy",
            "policies",
            checks.nothing,
            "file",
            _each(external.policy_fmt),
            ("bao",),
        ),
        Kind(
            "systemd",
            "systemd",
            checks.systemd,
            "unit",
            lambda group, context, model: external.systemd_verify(
                group, installed_later=[model.layout.binary]
            ),
            ("systemd-analyze",),
            per_node=True,
        ),
        Kind("shell", "unseal", checks.shell, "file", _each(external.shellcheck), ("shellcheck",)),
        Kind("sysusers", "host-setup", checks.nothing, "setup"),
        Kind(
            "tmpfiles",
            "host-setup",
            checks.nothing,
            "setup",
            lambda group, context, model: external.host_setup(
                next(a for a in context if a.kind == "sysusers"), group[0]
            ),
            ("systemd-tmpfiles", "systemd-sysusers"),
            per_node=True,
        ),
        Kind("openssl", "pki", checks.nothing),
        Kind("k8s", "kubernetes", kubernetes.verify_object),
        Kind(
            "kustomization",
            "kubernetes",
            kubernetes.verify_kustomization,
            consumer=lambda group, context, model: [
                line for k in group for line in external.kustomize_tree(context, k)
            ],
            programs=("kubectl",),
        ),
        Kind("helm-values", "kubernetes", kubernetes.verify_values),
    )
}
MANIFEST = "manifest"  # out/manifest.json: written by picluster itself, verified by nothing


def verify(artifacts: Iterable[Artifact]) -> list[Problem]:
    """Every problem the in-process verifiers find, located by artifact path."""
    problems = []
    for artifact in artifacts:
        kind = KINDS.get(artifact.kind)
        if kind is None:
            problems.append(Problem(artifact.path, 0, 0, "", f"no verifier for {artifact.kind!r}"))
            continue
        for found in (*checks.common(artifact), *kind.verify(artifact)):
            if isinstance(found, str):
                found = Problem(artifact.path, 0, 0, "", found)
            problems.append(found)
    return problems


def prove(model: Model, artifacts: list[Artifact]) -> list[Problem]:
    """Every finding of the real consumers on ``artifacts``, and one problem for each consumer
    that is not installed (naming the files it could not prove and where it comes from): a
    proof that did not run is not a proof."""
    problems: list[Problem] = []
    unproven: dict[str, list[str]] = {}  # missing program -> the files it would have proven
    for kind, group, context in _groups(artifacts):
        absent = external.missing(kind.programs)
        for program in absent:
            unproven.setdefault(program, []).append(group[0].path)
        if not absent and kind.consumer is not None:
            found = kind.consumer(group, context, model)
            problems.extend(Problem(group[0].path, 0, 0, "", line) for line in found)
    for program, paths in sorted(unproven.items()):
        more = f" (nor {len(paths) - 1} more file(s))" if len(paths) > 1 else ""
        why = (
            f"not proven: {program} is not installed{more}; "
            f"it comes with {external.PROVIDERS[program]}"
        )
        problems.append(Problem(paths[0], 0, 0, "", why))
    return problems


def _groups(artifacts: list[Artifact]) -> Iterator[tuple[Kind, list[Artifact], list[Artifact]]]:
    """(kind, artifacts to prove together, their context) for every kind with a consumer."""
    by_node: dict[str, list[Artifact]] = {}
    for a in artifacts:
        where = node_of(a.path)
        if where is not None:
            by_node.setdefault(where[0], []).append(a)
    for kind in KINDS.values():
        if kind.consumer is None:
            continue
        if kind.per_node:
            for node_artifacts in by_node.values():
                group = [a for a in node_artifacts if a.kind == kind.name]
                if group:
                    yield kind, group, node_artifacts
        else:
            for a in artifacts:
                if a.kind == kind.name:
                    yield kind, [a], artifacts

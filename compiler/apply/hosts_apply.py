"""Plan and apply the host files on every node, in parallel with a bound, rolling back failures."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..errors import HostError, HostsFailedError, RolledBackError
from ..model import Model, NodeFacts
from ..spec import Node
from . import hosts_scripts as scripts
from .hosts_plan import HostsPlan, NodePlan, node_files, plan_node, setup
from .hosts_state import Binary, read_state, record_text, root_prefix, tls_files
from .ssh import Session, connect, target
from .tree import Tree

PARALLEL = 4  # nodes handled at once
HEALTH_TIMEOUT = 60.0  # seconds a restarted server has to answer /v1/sys/health
# Any answer but a 5xx error means the server is up: sealed or uninitialised is init's and
# unseal's business, not a reason to roll back the files.
HEALTH_PATH = "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200"

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[str, str], None]
"""``progress(node, line)``: called once per step, never from two threads at once."""


@dataclass
class HostsResult:
    """What ``apply_hosts`` did: the plan it ran, and the nodes whose server restarted."""

    plan: HostsPlan
    restarted: list[str] = field(default_factory=list)


@dataclass
class _Node:
    """One node between planning and applying: its session and the bytes to send."""

    node: Node
    session: Session
    root: str
    plan: NodePlan
    data: dict[str, Callable[[], bytes]]


def plan_hosts(
    tree: Tree,
    *,
    root: str | None = None,
    only_nodes: Collection[str] | None = None,
    parallel: int = PARALLEL,
) -> HostsPlan:
    """Read every node over SSH and compare it with its files in ``tree``; changes nothing.

    Args:
        tree: out/ as it is, checked against the spec (``tree.current``).
        root: a directory standing for ``/`` on each node (``{node}`` is its name).
        only_nodes: plan only these nodes (default: all).
        parallel: how many nodes are read at once.

    Raises:
        HostError: a node could not be reached or read (every such node, one line each).
        ChecksumError: the server binary to install is not the pinned one.
    """
    with _prepared(tree, root, only_nodes, parallel) as nodes:
        return HostsPlan([n.plan for n in nodes])


def apply_hosts(
    tree: Tree,
    *,
    root: str | None = None,
    only_nodes: Collection[str] | None = None,
    progress: Progress | None = None,
    parallel: int = PARALLEL,
    health_timeout: float = HEALTH_TIMEOUT,
    approve: Callable[[HostsPlan], None] | None = None,
) -> HostsResult:
    """Make every node hold its files of ``tree``: plan them all, then apply in parallel.

    Nothing is changed anywhere unless every node was reached and planned (and the binary, if
    one is to be installed, matched its pinned checksum). Servers restart one node at a time,
    each waiting for health, so a raft cluster keeps its quorum.

    Args:
        tree: out/ as it is, checked against the spec (``tree.current``).
        root: a directory standing for ``/`` on each node (``{node}`` is its name).
        only_nodes: apply only these nodes.
        progress: told about each step of each node.
        parallel: how many nodes are applied at once.
        health_timeout: seconds a restarted server has to answer ``/v1/sys/health``.
        approve: shown the plan before anything is written; raising stops the apply there
            (a saved plan that no longer matches).

    Raises:
        HostError: one line per failed node (a node that failed after writing was rolled back).
    """
    lock = threading.Lock()

    def report(node: str, line: str) -> None:
        if progress is not None:
            with lock:
                progress(node, line)

    restart_lock = threading.Lock()
    result: HostsResult
    model = tree.model
    with _prepared(tree, root, only_nodes, parallel) as nodes:
        result = HostsResult(HostsPlan([n.plan for n in nodes]))
        if approve is not None:
            approve(result.plan)

        def run(n: _Node) -> bool:
            return _apply_node(model, n, report, restart_lock, health_timeout)

        restarted = _each(nodes, run, parallel)
    result.restarted = [n.node.name for n, did in zip(nodes, restarted, strict=True) if did]
    return result


@contextmanager
def _prepared(
    tree: Tree,
    root: str | None,
    only_nodes: Collection[str] | None,
    parallel: int,
) -> Iterator[list[_Node]]:
    """Connect to and plan every node (in parallel); close every session at the end."""
    model = tree.model
    spec, lay, base_dir = model.spec, model.layout, model.inputs.base_dir
    chosen = [n for n in spec.vault.nodes if only_nodes is None or n.name in only_nodes]
    binary = Binary(spec.vault, spec.vault.install, lay, base_dir) if spec.vault.install else None
    opened: list[Session] = []
    opened_lock = threading.Lock()

    def prepare(node: Node) -> _Node:
        session = connect(target(node, base_dir))
        with opened_lock:
            opened.append(session)
        node_root = root_prefix(root, node.name)
        return _plan_one(tree, node, session, node_root, binary)

    try:
        yield _each(chosen, prepare, parallel)
    finally:
        for session in opened:
            session.close()


def _plan_one(
    tree: Tree,
    node: Node,
    session: Session,
    root: str,
    binary: Binary | None,
) -> _Node:
    model = tree.model
    lay = model.layout
    mine = tree.node_artifacts(node.name)
    compiled = node_files(mine, lay)
    by_path = {a.path: a.data for a in mine}
    data = {f.path: _const(by_path[f.source.removeprefix("out/")]) for f in compiled}
    local = tls_files(model.spec.vault, node, lay, model.inputs.base_dir)
    data |= {lf.file.path: _const(lf.data) for lf in local}
    desired = compiled + [lf.file for lf in local]
    users, dirs = setup(lay)
    paths = [f.path for f in desired] + ([binary.path] if binary else [])
    names = sorted({"root", *users, *(f.owner for f in desired), *(f.group for f in desired)})
    state = read_state(session, root, paths, [d.path for d in dirs], names)
    if binary is not None:
        desired.append(binary.desired(state))
        data[binary.path] = binary.data
    plan = plan_node(node.name, str(session.target), desired, users, dirs, state)
    return _Node(node, session, root, plan, data)


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _each(items: list[T], work: Callable[[T], R], parallel: int) -> list[R]:
    """``work`` on every item, ``parallel`` at a time; every failure reported, one line each."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(items)))) as pool:
        futures = [pool.submit(work, item) for item in items]
    errors: list[HostError] = []
    results: list[R] = []
    for future in futures:
        exc = future.exception()
        if exc is None:
            results.append(future.result())
        elif isinstance(exc, HostError):
            errors.append(exc)
        else:
            raise exc
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise HostsFailedError(errors)
    return results


def _apply_node(
    model: Model,
    n: _Node,
    report: Progress,
    restart_lock: threading.Lock,
    health_timeout: float,
) -> bool:
    """Apply one node's plan; True when its server was restarted.

    Raises:
        HostError: a step failed (the files were restored first).
        RolledBackError: the server did not come back healthy; files restored, restarted.
    """
    plan, session, name = n.plan, n.session, n.node.name
    if not plan.changed:
        report(name, "up to date")
        return False
    stage = session.run("mktemp -d", privileged=False, what="making a staging directory").strip()
    try:
        # Every byte is on the node before anything is replaced: a lost connection mid-transfer
        # leaves the node as it was.
        for index, change in enumerate(plan.transfers):
            report(name, f"send {change.path}")
            session.put(n.data[change.path](), f"{stage}/{scripts.staged_name(index)}")
        if plan.record_changed:
            session.put(record_text(plan.record), f"{stage}/{scripts.RECORD_STAGED}")
        for unit in plan.disable:
            _systemctl(session, "disable", "--now", unit, report=report)
        report(name, _summary(plan))
        try:
            session.run(scripts.commit(plan, n.root, stage), what="writing the files")
        except HostError as exc:
            session.run(scripts.rollback(n.root), what="restoring the previous files")
            raise HostError(
                f"{exc}; previous files restored", node=name, step=exc.step, detail=exc.detail
            ) from None
        if plan.daemon_reload:
            _systemctl(session, "daemon-reload", report=report)
        if plan.enable:
            _systemctl(session, "enable", *plan.enable, report=report)
        if plan.restart:
            with restart_lock:
                _restart(model, n, report, health_timeout)
        session.run(scripts.cleanup(n.root), what="dropping the backups")
    finally:
        session.run(f"rm -rf {stage}\n", privileged=False, what="removing the staging directory")
    report(name, "done")
    return bool(plan.restart)


def _summary(plan: NodePlan) -> str:
    parts = [f"{len(plan.users)} user(s)", f"{len(plan.dirs)} dir(s)"]
    parts += [f"{plan.count(a)} {a}" for a in ("create", "update", "attrs", "remove")]
    return "write " + ", ".join(parts)


def _restart(model: Model, n: _Node, report: Progress, health_timeout: float) -> None:
    """Restart the server and wait for its health; on failure restore, restart, and say so."""
    unit, name = n.plan.restart[0], n.node.name
    url = _health_url(next(f for f in model.nodes if f.node is n.node))
    ca = model.inputs.ca_cert_path
    why = ""
    try:
        _systemctl(n.session, "restart", unit, report=report)
    except HostError as exc:
        why = f"{unit} failed to restart ({exc.detail or 'no reason given'})"
    if not why:
        report(name, f"wait for {url}")
        if not _healthy(url, ca, health_timeout):
            why = f"{unit} did not answer /v1/sys/health within {health_timeout:g}s"
    if not why:
        report(name, "healthy")
        return
    report(name, f"{why}; restoring the previous files")
    n.session.run(scripts.rollback(n.root), what="restoring the previous files")
    try:
        if n.plan.daemon_reload:
            _systemctl(n.session, "daemon-reload", report=report)
        _systemctl(n.session, "restart", unit, report=report)
    except HostError:
        raise RolledBackError(
            f"{n.session.target.where}: {why}; previous files restored, but {unit} "
            "failed to restart with them too"
        ) from None
    raise RolledBackError(
        f"{n.session.target.where}: {why}; previous files restored and {unit} restarted"
    )


def _systemctl(session: Session, *args: str, report: Progress) -> None:
    line = "systemctl " + " ".join(args)
    report(session.target.node, line)
    session.run(line + "\n", what=line)


def _health_url(node: NodeFacts) -> str:
    return f"https://{node.address}:{node.api_port}{HEALTH_PATH}"


def _healthy(url: str, ca: Path | None, timeout: float) -> bool:
    """Poll ``url`` (TLS verified against ``ca``) until it answers below 500, or time runs out."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2.0, context=context) as answer:  # noqa: S310 -- https, built above
                if answer.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except (OSError, ssl.SSLError):
            pass  # not up yet: the restart takes a moment
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)

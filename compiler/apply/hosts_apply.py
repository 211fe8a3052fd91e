"""Plan and apply the host files on every node, in parallel with a bound, rolling back failures."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import HostError, HostsFailedError, RolledBackError, StillSealedError
from ..model import Model
from ..spec import Node
from . import hosts_scripts as scripts
from . import rolling
from .hosts_plan import HostsPlan, NodePlan, node_files, plan_node, setup
from .hosts_state import (
    Binary,
    keys_files,
    keys_note,
    read_state,
    record_text,
    root_prefix,
    tls_files,
)
from .ssh import Session, connect, target
from .tree import Tree

PARALLEL = 4  # nodes handled at once
# Seconds a restarted server has to answer /v1/sys/health, and then again to be a healthy raft
# voter (an unseal unit that runs in between has its own bound, TimeoutStartSec).
HEALTH_TIMEOUT = 60.0

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
        return _finished(HostsPlan([n.plan for n in nodes]), tree.model, None)


def apply_hosts(
    tree: Tree,
    *,
    root: str | None = None,
    only_nodes: Collection[str] | None = None,
    progress: Progress | None = None,
    parallel: int = PARALLEL,
    health_timeout: float = HEALTH_TIMEOUT,
    approve: Callable[[HostsPlan], None] | None = None,
    token: str | None = None,
) -> HostsResult:
    """Make every node hold its files of ``tree``: plan them all, then apply in parallel.

    Nothing is changed anywhere unless every node was reached and planned (and the binary, if
    one is to be installed, matched its pinned checksum). Servers restart one node at a time in
    ``rolling.order`` (standbys first, the active node last), each unsealed and a healthy raft
    voter again before the next, so a raft cluster keeps its quorum; new certificates only
    reload the server.

    Args:
        tree: out/ as it is, checked against the spec (``tree.current``).
        root: a directory standing for ``/`` on each node (``{node}`` is its name).
        only_nodes: apply only these nodes.
        progress: told about each step of each node.
        parallel: how many nodes are applied at once.
        health_timeout: seconds a restarted server has to answer ``/v1/sys/health``.
        approve: shown the plan before anything is written; raising stops the apply there
            (a saved plan that no longer matches).
        token: a Vault token, to read raft autopilot's view of each restarted node (without
            one, a node counts as back once unsealed and caught up with its leader).

    Raises:
        HostError: one line per failed node (a node that failed after writing was rolled back;
            one that came back sealed stops the rollout, StillSealedError).
    """
    lock = threading.Lock()

    def report(node: str, line: str) -> None:
        if progress is not None:
            with lock:
                progress(node, line)

    result: HostsResult
    model = tree.model
    with _prepared(tree, root, only_nodes, parallel) as nodes:
        plan = _finished(HostsPlan([n.plan for n in nodes]), model, token)
        result = HostsResult(plan)
        if approve is not None:
            approve(result.plan)
        turns = [t.node for t in plan.order]
        rollout = rolling.Rollout(turns, _servers(model, token))

        def run(n: _Node) -> bool:
            return _apply_node(model, n, report, rollout, health_timeout)

        # In restart order: the node whose turn it is always has a worker (with more nodes to
        # restart than workers, later ones would otherwise hold them all, waiting).
        ordered = sorted(nodes, key=lambda n: turns.index(n.node.name) if n.plan.restart else -1)
        restarted = _each(ordered, run, parallel)
    done = {n.node.name for n, did in zip(ordered, restarted, strict=True) if did}
    result.restarted = [t for t in turns if t in done]
    return result


def _finished(plan: HostsPlan, model: Model, token: str | None) -> HostsPlan:
    """``plan`` with the restart order, read from the servers now, and its notes."""
    restarting = {n.node for n in plan.nodes if n.restart}
    servers = _servers(model, token)
    plan.order = rolling.order([(n, s.probe()) for n, s in servers.items() if n in restarting])
    note = keys_note(model.spec.vault, model.inputs.base_dir)
    plan.notes = [note] if note else []
    return plan


def _servers(model: Model, token: str | None) -> dict[str, rolling.Server]:
    """Every node's API, reached at its own address (not the shared name: each node is asked
    about itself)."""
    ca = model.inputs.ca_cert_path
    return {
        f.name: rolling.Server(f.name, f"https://{f.address}:{f.api_port}", ca, token)
        for f in model.nodes
    }


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
    local = tls_files(model.spec.vault, node, lay, model.inputs.base_dir) + keys_files(
        model.spec.vault, lay, model.inputs.base_dir
    )
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
    rollout: rolling.Rollout,
    health_timeout: float,
) -> bool:
    """Apply one node's plan; True when its server was restarted.

    A node whose server restarts writes its files only in its turn of the rollout, so a
    rollout that stops leaves the nodes after it untouched.

    Raises:
        HostError: a step failed (the files were restored first), or the rollout stopped
            before this node's turn.
        RolledBackError: the server did not come back; files restored, restarted.
        StillSealedError: it came back sealed (files kept; the rollout stops).
    """
    if not n.plan.changed:
        report(n.node.name, "up to date")
        return False
    try:
        _apply_steps(model, n, report, rollout, health_timeout)
    except BaseException:
        if n.plan.restart:
            # Failed before its turn (a lost connection mid-transfer, say), or in it: either
            # way the nodes waiting after it must not be restarted, nor wait for it forever.
            rollout.forfeit(n.node.name)
        raise
    return bool(n.plan.restart)


def _apply_steps(
    model: Model,
    n: _Node,
    report: Progress,
    rollout: rolling.Rollout,
    health_timeout: float,
) -> None:
    """Stage every file, then write them and act (in the node's turn, if it restarts)."""
    plan, session, name = n.plan, n.session, n.node.name
    stage = session.run("mktemp -d", privileged=False, what="making a staging directory").strip()
    try:
        # Every byte is on the node before anything is replaced: a lost connection mid-transfer
        # leaves the node as it was.
        for index, change in enumerate(plan.transfers):
            report(name, f"send {change.path}")
            session.put(n.data[change.path](), f"{stage}/{scripts.staged_name(index)}")
        if plan.record_changed:
            session.put(record_text(plan.record), f"{stage}/{scripts.RECORD_STAGED}")
        if plan.restart:
            report(name, "wait for its turn to restart")
            with rollout.turn(name, session.target.where):
                _write(n, stage, report)
                _restart(model, n, rollout.servers[name], report, health_timeout)
        else:
            _write(n, stage, report)
            _reload(n, rollout.servers[name], report, health_timeout)
            _unseal(model, n, rollout.servers[name], report, health_timeout)
        session.run(scripts.cleanup(n.root), what="dropping the backups")
    except BaseException:
        # The staging directory goes too, if the node can still be reached: never in the way
        # of the error that stopped the apply (a node that went away fails this as well).
        with contextlib.suppress(HostError):
            session.run(
                f"rm -rf {stage}\n", privileged=False, what="removing the staging directory"
            )
        raise
    session.run(f"rm -rf {stage}\n", privileged=False, what="removing the staging directory")
    report(name, "done")


def _write(n: _Node, stage: str, report: Progress) -> None:
    """Disable removed units, put every file in place (rolled back if that fails), then
    reload systemd and enable new units."""
    plan, session, name = n.plan, n.session, n.node.name
    for unit in plan.disable:
        _systemctl(session, "disable", "--now", unit, report=report)
    report(name, _summary(plan))
    try:
        session.run(scripts.commit(plan, n.root, stage), what="writing the files")
    except HostError as exc:
        session.run(scripts.rollback(n.root), what="restoring the previous files")
        raise HostError(f"{exc}; previous files restored") from None
    if plan.daemon_reload:
        _systemctl(session, "daemon-reload", report=report)
    if plan.enable:
        _systemctl(session, "enable", *plan.enable, report=report)


def _summary(plan: NodePlan) -> str:
    parts = [f"{len(plan.users)} user(s)", f"{len(plan.dirs)} dir(s)"]
    parts += [f"{plan.count(a)} {a}" for a in ("create", "update", "attrs", "remove")]
    return "write " + ", ".join(parts)


def _back(
    model: Model, n: _Node, server: rolling.Server, report: Progress, timeout: float
) -> rolling.Back:
    """How to wait for this node's server, with its unseal unit (if the node has one)."""
    lay = model.layout
    unseal_unit = lay.unseal_service
    has_unit = model.spec.vault.unseal.service

    def unseal() -> None:
        # Waits for the unit's run: one already under way (a restart propagates to it, as it
        # is PartOf the server) or a new one; bounded by its TimeoutStartSec.
        _systemctl(n.session, "start", unseal_unit, report=report)

    return rolling.Back(
        server=server,
        unit=lay.service,
        timeout=timeout,
        unseal=unseal if has_unit else None,
        unseal_unit=unseal_unit,
        threshold=model.spec.vault.unseal.key_threshold,
    )


def _restart(
    model: Model,
    n: _Node,
    server: rolling.Server,
    report: Progress,
    timeout: float,
) -> None:
    """Restart the server and wait until it is back; if it does not come back, restore the
    previous files, restart it on them, wait again, and say so.

    Raises:
        RolledBackError: it failed to restart or did not come back (files restored).
        StillSealedError: it came back sealed and nothing unsealed it (files kept).
    """
    unit, name = n.plan.restart[0], n.node.name
    back = _back(model, n, server, report, timeout)
    where = n.session.target.where
    why = ""
    try:
        _fresh_restart(n.session, unit, report)
    except HostError as exc:
        why = f"{unit} failed to restart ({_start_error(n.session, unit) or _last(exc)})"
    if not why:
        # Every step has run: a rerun must not restart it again (an operator may be unsealing
        # it by hand meanwhile). A rollback brings back the pending steps from before.
        n.session.run(scripts.clear_pending(n.root), what="recording the restart")
        report(name, f"wait for {server.url}/v1/sys/health: unsealed and a healthy raft voter")
        try:
            report(name, f"back: {rolling.wait_back(back, where, lambda line: report(name, line))}")
            return
        except rolling.NotBackError as exc:
            why = str(exc)
    report(name, f"{why}; restoring the previous files")
    n.session.run(scripts.rollback(n.root), what="restoring the previous files")
    try:
        if n.plan.daemon_reload:
            _systemctl(n.session, "daemon-reload", report=report)
        _fresh_restart(n.session, unit, report)
    except HostError:
        raise RolledBackError(
            f"{where}: {why}; previous files restored, but {unit} failed to restart with them too"
        ) from None
    try:
        rolling.wait_back(back, where, lambda line: report(name, line))
    except (rolling.NotBackError, HostError) as exc:
        raise RolledBackError(
            f"{where}: {why}; previous files restored and {unit} restarted, but it is not back "
            f"either ({str(exc).removeprefix(where + ': ')})"
        ) from None
    raise RolledBackError(f"{where}: {why}; previous files restored and {unit} restarted")


def _last(exc: HostError) -> str:
    return exc.detail or str(exc).rsplit(": ", 1)[-1]


# The server's own words on why its last start failed (``Error parsing config...``, ``Error
# initializing listener...``): the lines of that start alone, found by its invocation ID.
_START_ERROR = """id=$(systemctl show -p InvocationID --value {unit})
[ -n "$id" ] || exit 0
journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID="$id" 2>/dev/null | grep '^Error' | tail -n 1
exit 0
"""


def _start_error(session: Session, unit: str) -> str:
    try:
        return session.run(_START_ERROR.format(unit=unit), what="reading the journal").strip()
    except HostError:
        return ""


def _fresh_restart(session: Session, unit: str, report: Progress) -> None:
    """``systemctl restart``, after clearing the unit's start-rate counter: a restart asked
    for on purpose must not be refused because earlier applies restarted it too
    (StartLimitBurst counts every start, and a refused start would look like a bad config)."""
    report(session.target.node, f"systemctl reset-failed {unit}")
    # Not a failure if there is nothing to reset (a unit systemd has not loaded, under --root).
    session.run(f"systemctl reset-failed {unit} || true\n", what="systemctl reset-failed")
    _systemctl(session, "restart", unit, report=report)


def _reload(n: _Node, server: rolling.Server, report: Progress, timeout: float) -> None:
    """``systemctl reload`` for new certificates; then wait until the server presents the
    certificate just sent (it keeps its unseal state: nothing else to wait for).

    Raises:
        HostError: it still presents another certificate after ``timeout``.
    """
    if not n.plan.reload:
        return
    unit, name = n.plan.reload[0], n.node.name
    _systemctl(n.session, "reload", unit, report=report)
    cert = next(
        (c for c in n.plan.transfers if c.file and c.file.source == "vault.tls.local.cert"), None
    )
    if cert is None:
        return  # only the key or the CA changed: nothing new to see in the handshake
    der = ssl.PEM_cert_to_DER_cert(n.data[cert.path]().decode())
    report(name, f"wait until {server.url} presents the new certificate")
    if not rolling.serving(server, der, timeout):
        raise HostError(
            f"{n.session.target.where}: {unit} reloaded, but still presents another certificate "
            f"after {timeout:g}s; restart it (`systemctl restart {unit}`) to load the new one"
        )
    report(name, "presents the new certificate")


def _unseal(
    model: Model, n: _Node, server: rolling.Server, report: Progress, timeout: float
) -> None:
    """Run the unseal unit again for new keys, and wait until the server is unsealed and a
    healthy raft voter (a node joining the cluster needs them to finish joining).

    Raises:
        StillSealedError: the unit failed, or the server is still sealed after it ran.
        HostError: it did not become a healthy voter in time.
    """
    if not n.plan.unseal:
        return
    unit, name, where = n.plan.unseal[0], n.node.name, n.session.target.where
    try:
        _systemctl(n.session, "restart", unit, report=report)
    except HostError as exc:
        raise StillSealedError(
            f"{where}: {unit} failed with the new keys ({str(exc).rsplit(': ', 1)[-1]}); see "
            f"`journalctl -u {unit}` there, then run `picluster apply` again"
        ) from None
    back = _back(model, n, server, report, timeout)
    try:
        report(name, f"back: {rolling.wait_back(back, where, lambda line: report(name, line))}")
    except rolling.NotBackError as exc:
        raise HostError(f"{where}: after {unit}: {exc}") from None


def _systemctl(session: Session, *args: str, report: Progress) -> None:
    line = "systemctl " + " ".join(args)
    report(session.target.node, line)
    session.run(line + "\n", what=line)

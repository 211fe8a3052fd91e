"""The host plan: what each node needs (files, user, directories, units) against its state."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..artifact import Artifact
from ..kinds import KINDS
from ..layout import UNIT_DIR, Layout
from ..model import node_of

# Where picluster records, on each node, the files it wrote there (so a later apply removes
# only those) and which release archive the binary came from (so it is not fetched again).
RECORD = "/var/lib/picluster/hosts.sha256"
# The service steps a commit made necessary and that have not run yet, one per line
# (``restart openbao.service``): written before any file is replaced, cleared once they ran, so
# an apply that was killed or stopped in between leaves steps the next plan still shows.
PENDING = "/var/lib/picluster/pending"
# What each file picluster put there looked like right after (inode, size, mtime, ctime) and
# its SHA-256: a file whose stat is still the same is not read again to be hashed (a server
# binary is hundreds of MB, a second or more of sha256sum per plan on a Pi). Any write to a
# file changes its ctime, which no one can set back.
STAT_CACHE = "/var/lib/picluster/hosts.stat"
# The record's key for the archive the binary came from (not a path: it starts with no '/').
ORIGIN = "binary-origin"
# Files whose change means the running server must restart to see it.
RESTARTING_ROLES = frozenset({"config", "server-unit", "binary"})
# Files the running server reads again on SIGHUP (``systemctl reload``, the unit's
# ExecReload): the listener's certificate and key, so new ones need no restart and the node
# stays unsealed. (HashiCorp's "SIGHUP in Vault" article; proven on OpenBao by tests/lab.)
RELOADING_ROLES = frozenset({"tls"})
UNIT_ROLES = frozenset({"unit", "server-unit", "unseal-unit"})


@dataclass(frozen=True)
class DesiredFile:
    """A file that must be on the node with exactly these bytes (by hash), mode and owner.

    ``role`` says what a change implies: ``setup`` (sysusers/tmpfiles), ``unit``,
    ``server-unit``, ``unseal-unit``, ``config``, ``tls``, ``binary``, ``unseal-keys`` or
    ``file``. ``source`` is shown in the plan (``out/hosts/...``, ``vault.tls.local.key``); the
    bytes themselves never are.
    """

    path: str
    sha256: str
    mode: int
    owner: str
    group: str
    role: str
    source: str
    origin: str = ""  # the binary: the SHA-256 of the release archive it was taken from


@dataclass(frozen=True)
class Directory:
    """A tmpfiles.d ``d`` entry: a directory with its mode and owner."""

    path: str
    mode: int
    owner: str
    group: str


@dataclass(frozen=True)
class Stat:
    """What the node has at a path: its hash (files only), mode and numeric owner."""

    sha256: str
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class NodeState:
    """A node as read before planning: only the paths and names the plan asks about."""

    files: dict[str, Stat] = field(default_factory=dict)
    dirs: dict[str, Stat] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # name -> uid
    groups: dict[str, int] = field(default_factory=dict)  # name -> gid
    record: dict[str, str] = field(default_factory=dict)  # path -> sha256 picluster wrote
    pending: list[str] = field(default_factory=list)  # service steps an earlier apply left


@dataclass(frozen=True)
class FileChange:
    """One file step: ``create``, ``update``, ``attrs`` (mode/owner only) or ``remove``."""

    action: str
    path: str
    file: DesiredFile | None = None
    detail: str = ""


@dataclass(frozen=True)
class DirChange:
    action: str  # create | attrs
    dir: Directory
    detail: str = ""


@dataclass
class NodePlan:
    """Everything one node needs; empty lists mean nothing to do."""

    node: str
    target: str  # user@host:port, for the headline
    users: list[str] = field(default_factory=list)
    dirs: list[DirChange] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    daemon_reload: bool = False
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)
    reload: list[str] = field(default_factory=list)  # the server, for new certificates
    unseal: list[str] = field(default_factory=list)  # the unseal unit, run for new keys
    pending: list[str] = field(default_factory=list)  # steps an earlier apply did not finish
    upgrade: bool = False  # the server binary changes (a restart in the upgrade order)
    record: dict[str, str] = field(default_factory=dict)  # what the node's record becomes
    record_changed: bool = False
    sysusers: str = ""  # the node's sysusers.d and tmpfiles.d entries, run when users or
    tmpfiles: str = ""  # directories are missing, even if the entries themselves are unchanged

    @property
    def changed(self) -> bool:
        return bool(self.users or self.dirs or self.files or self.record_changed or self.pending)

    @property
    def steps(self) -> list[str]:
        """The service steps this plan takes, as the pending file records them."""
        steps = ["daemon-reload"] if self.daemon_reload else []
        steps += [f"enable {u}" for u in self.enable]
        steps += [f"restart {u}" for u in self.restart]
        steps += [f"reload {u}" for u in self.reload]
        steps += [f"unseal {u}" for u in self.unseal]
        return steps

    @property
    def transfers(self) -> list[FileChange]:
        """The file steps that send bytes to the node."""
        return [c for c in self.files if c.action in ("create", "update")]

    def count(self, action: str) -> int:
        return sum(1 for c in self.files if c.action == action)


@dataclass(frozen=True)
class Turn:
    """A node's place in the restart order, and why it is there (its server's state then)."""

    node: str
    state: str  # active, standby, sealed, uninitialised or down (see ``rolling.probe``)
    version: str = ""  # what the server reported, if it answered


@dataclass
class HostsPlan:
    """The host plan of every node, in spec order.

    ``order`` is the order the servers restart in, one at a time (``rolling.order``): servers
    that are down or sealed first, then the standbys, the active node last, as the servers'
    upgrade guides ask; it is read from the servers when the plan is made, and again when it is
    applied (the active node may have changed in between).
    """

    nodes: list[NodePlan]
    order: list[Turn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(n.changed for n in self.nodes)


def node_files(artifacts: Iterable[Artifact], lay: Layout) -> list[DesiredFile]:
    """The files of one node (its ``out/hosts/<node>/...`` artifacts) with mode and owner."""
    files = []
    for a in artifacts:
        where = node_of(a.path)
        if where is None:
            continue
        path = where[1]
        files.append(DesiredFile(path, a.sha256, a.mode, a.owner, a.group, _role(a, path, lay),
                                 f"out/{a.path}"))  # fmt: skip
    return files


def _role(a: Artifact, path: str, lay: Layout) -> str:
    """What a change of ``a`` means on the node: its kind's (``kinds``), the server's own unit
    and the unseal unit told apart."""
    on_node = KINDS[a.kind].on_node
    if on_node == "unit" and path == f"{lay.unit_dir}/{lay.service}":
        return "server-unit"
    if on_node == "unit" and path == f"{lay.unit_dir}/{lay.unseal_service}":
        return "unseal-unit"
    return on_node


def setup(lay: Layout) -> tuple[list[str], list[Directory]]:
    """The service user and the directories, with mode and owner, that the layout declares:
    what the sysusers.d and tmpfiles.d entries are rendered from, and what apply makes sure of."""
    return [lay.user], [Directory(d, 0o750, lay.user, lay.group) for d in lay.directories]


def plan_node(
    node: str,
    target: str,
    desired: list[DesiredFile],
    users: list[str],
    dirs: list[Directory],
    state: NodeState,
) -> NodePlan:
    """Compare what ``node`` should have with ``state``: the steps that make it so (pure).

    Args:
        node: the node's name.
        target: how it is reached (``user@host:port``), for the headline.
        desired: every file it must have, compiled or copied (TLS, binary).
        users: the service users the sysusers entries declare.
        dirs: the directories the tmpfiles entries declare.
        state: what the node has now.
    """
    plan = NodePlan(node, target)
    for f in desired:
        if f.role == "setup" and f.path.startswith("/etc/sysusers.d/"):
            plan.sysusers = f.path
        elif f.role == "setup" and f.path.startswith("/etc/tmpfiles.d/"):
            plan.tmpfiles = f.path
    plan.users = [u for u in users if u not in state.users]
    for d in dirs:
        have = state.dirs.get(d.path)
        if have is None:
            plan.dirs.append(DirChange("create", d))
        elif detail := _attr_diff(have, d, state):
            plan.dirs.append(DirChange("attrs", d, detail))
    wanted = {f.path for f in desired}
    for f in sorted(desired, key=_order):
        have = state.files.get(f.path)
        if have is None:
            plan.files.append(FileChange("create", f.path, f))
        elif have.sha256 != f.sha256:
            plan.files.append(FileChange("update", f.path, f, _attr_diff(have, f, state)))
        elif detail := _attr_diff(have, f, state):
            plan.files.append(FileChange("attrs", f.path, f, detail))
    # Only files picluster itself wrote are ever removed: never anything else on the node.
    for path in sorted(set(state.record) - wanted - {ORIGIN}):
        if path in state.files:
            plan.files.append(FileChange("remove", path))
    _services(plan, desired, state.pending)
    plan.record = {f.path: f.sha256 for f in desired}
    for f in desired:
        if f.origin:
            plan.record[ORIGIN] = f.origin
    plan.record_changed = plan.record != state.record
    return plan


def _order(f: DesiredFile) -> tuple[int, str]:
    # sysusers/tmpfiles first: the user and directories must exist before the files they own.
    return (0 if f.role == "setup" else 1, f.path)


def _attr_diff(have: Stat, want: DesiredFile | Directory, state: NodeState) -> str:
    """What differs in mode and owner (empty: nothing); an owner not created yet differs."""
    parts = []
    if have.mode != want.mode:
        parts.append(f"mode {have.mode:04o} -> {want.mode:04o}")
    uid, gid = _id(state.users, want.owner), _id(state.groups, want.group)
    if (have.uid, have.gid) != (uid, gid):
        parts.append(f"owner {have.uid}:{have.gid} -> {want.owner}:{want.group}")
    return ", ".join(parts)


def _id(table: dict[str, int], name: str) -> int:
    # root is 0 even in a staging root whose passwd does not list it.
    return table.get(name, 0 if name == "root" else -1)


def _services(plan: NodePlan, desired: list[DesiredFile], pending: list[str]) -> None:
    """Reload, enable, disable, restart: for what changed, and for what an earlier apply
    changed but did not get to (``pending``)."""
    changed = [c for c in plan.files if c.action in ("create", "update")]
    roles = {c.file.role for c in changed if c.file}
    units = [c for c in changed if c.file and c.file.role in UNIT_ROLES]
    removed_units = [
        c.path for c in plan.files if c.action == "remove" and c.path.startswith(f"{UNIT_DIR}/")
    ]
    plan.pending = list(pending)
    plan.daemon_reload = bool(units or removed_units) or "daemon-reload" in pending
    plan.enable = [
        posixpath.basename(c.path)
        for c in units
        if c.action == "create" and c.path.endswith(".service")
    ]
    plan.enable += [
        p.split(" ", 1)[1]
        for p in pending
        if p.startswith("enable ") and p.split(" ", 1)[1] not in plan.enable
    ]
    plan.disable = [posixpath.basename(p) for p in removed_units]
    plan.upgrade = any(c.action == "update" and c.file and c.file.role == "binary" for c in changed)
    server = next((f for f in desired if f.role == "server-unit"), None)
    if server is not None:
        name = posixpath.basename(server.path)
        if roles & RESTARTING_ROLES or f"restart {name}" in pending:
            plan.restart = [name]
        elif roles & RELOADING_ROLES or f"reload {name}" in pending:
            plan.reload = [name]
    unseal = next((f for f in desired if f.role == "unseal-unit"), None)
    if unseal is not None and not plan.restart:  # a restart runs the unseal unit anyway
        name = posixpath.basename(unseal.path)
        if "unseal-keys" in roles or f"unseal {name}" in pending:
            plan.unseal = [name]

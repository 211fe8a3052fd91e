"""The host plan: what each node needs (files, user, directories, units) against its state."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..artifact import Artifact
from ..layout import Layout

# Where picluster records, on each node, the files it wrote there (so a later apply removes
# only those) and which release archive the binary came from (so it is not fetched again).
RECORD = "/var/lib/picluster/hosts.sha256"
UNIT_DIR = "/etc/systemd/system/"
# The record's key for the archive the binary came from (not a path: it starts with no '/').
ORIGIN = "binary-origin"
# Files whose change means the running server must restart to see it.
RESTARTING_ROLES = frozenset({"config", "server-unit", "tls", "binary"})


@dataclass(frozen=True)
class DesiredFile:
    """A file that must be on the node with exactly these bytes (by hash), mode and owner.

    ``role`` says what a change implies: ``setup`` (sysusers/tmpfiles), ``unit``,
    ``server-unit``, ``config``, ``tls``, ``binary`` or ``file``. ``source`` is shown in the plan
    (``out/hosts/...``, ``vault.tls.local.key``); the bytes themselves never are.
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
    record: dict[str, str] = field(default_factory=dict)  # what the node's record becomes
    record_changed: bool = False
    sysusers: str = ""  # the node's sysusers.d and tmpfiles.d entries, run when users or
    tmpfiles: str = ""  # directories are missing, even if the entries themselves are unchanged

    @property
    def changed(self) -> bool:
        return bool(self.users or self.dirs or self.files or self.record_changed)

    @property
    def transfers(self) -> list[FileChange]:
        """The file steps that send bytes to the node."""
        return [c for c in self.files if c.action in ("create", "update")]

    def count(self, action: str) -> int:
        return sum(1 for c in self.files if c.action == action)

    def lines(self) -> list[str]:
        """The plan as text: a headline, then one line per step."""
        head = (
            f"{self.node} ({self.target}): {self.count('create')} to create, "
            f"{self.count('update') + self.count('attrs')} to change, "
            f"{self.count('remove')} to remove"
        )
        if not self.changed:
            return [f"{head}; up to date"]
        if self.restart:
            head += f"; restart {', '.join(self.restart)}"
        lines = [head]
        lines += [f"  + user {u}" for u in self.users]
        for d in self.dirs:
            sign = "+" if d.action == "create" else "~"
            lines.append(f"  {sign} dir {d.dir.path} {_attrs(d.dir)}{_paren(d.detail)}")
        for c in self.files:
            sign = {"create": "+", "update": "~", "attrs": "~", "remove": "-"}[c.action]
            attrs = f" {_attrs(c.file)}" if c.file and c.action == "create" else ""
            lines.append(f"  {sign} {c.path}{attrs}{_paren(c.detail)}")
        lines += [f"  * systemctl disable {u}" for u in self.disable]
        if self.daemon_reload:
            lines.append("  * systemctl daemon-reload")
        if self.enable:
            lines.append(f"  * systemctl enable {' '.join(self.enable)}")
        lines += [f"  * systemctl restart {u}" for u in self.restart]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data (hashes and paths; never file contents)."""
        return {
            "node": self.node,
            "target": self.target,
            "users": self.users,
            "dirs": [
                {
                    "action": d.action,
                    "path": d.dir.path,
                    "mode": f"{d.dir.mode:04o}",
                    "owner": d.dir.owner,
                    "group": d.dir.group,
                }
                for d in self.dirs
            ],
            "files": [_file_dict(c) for c in self.files],
            "daemon_reload": self.daemon_reload,
            "enable": self.enable,
            "disable": self.disable,
            "restart": self.restart,
        }


@dataclass
class HostsPlan:
    """The host plan of every node, in spec order."""

    nodes: list[NodePlan]

    @property
    def changed(self) -> bool:
        return any(n.changed for n in self.nodes)

    def lines(self) -> list[str]:
        return [line for n in self.nodes for line in n.lines()]

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": [n.as_dict() for n in self.nodes]}


def _attrs(f: DesiredFile | Directory) -> str:
    return f"{f.mode:04o} {f.owner}:{f.group}"


def _paren(detail: str) -> str:
    return f" ({detail})" if detail else ""


def _file_dict(c: FileChange) -> dict[str, Any]:
    out: dict[str, Any] = {"action": c.action, "path": c.path}
    if c.file is not None:
        out |= {"sha256": c.file.sha256, "mode": f"{c.file.mode:04o}", "owner": c.file.owner,
                "group": c.file.group, "source": c.file.source}  # fmt: skip
    if c.detail:
        out["detail"] = c.detail
    return out


def node_files(artifacts: Iterable[Artifact], node: str, lay: Layout) -> list[DesiredFile]:
    """The compiled files of ``node`` (``out/hosts/<node>/...``) with their mode and owner."""
    prefix = f"hosts/{node}/"
    files = []
    for a in artifacts:
        if not a.path.startswith(prefix):
            continue
        path = "/" + a.path[len(prefix) :]
        files.append(DesiredFile(path, a.sha256, a.mode, a.owner, a.group, _role(a, path, lay),
                                 f"out/{a.path}"))  # fmt: skip
    return files


def _role(a: Artifact, path: str, lay: Layout) -> str:
    if a.kind in ("sysusers", "tmpfiles"):
        return "setup"
    if a.kind == "systemd":
        return "server-unit" if path == UNIT_DIR + lay.service else "unit"
    return "config" if a.kind == "hcl-config" else "file"


def setup_entries(files: Iterable[tuple[str, bytes]]) -> tuple[list[str], list[Directory]]:
    """The users (sysusers ``u``) and directories (tmpfiles ``d``) the compiled entries declare.

    Args:
        files: (kind, bytes) of the node's sysusers and tmpfiles artifacts.
    """
    users: list[str] = []
    dirs: list[Directory] = []
    for kind, data in files:
        for line in data.decode().splitlines():
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if kind == "sysusers" and fields[0] == "u":
                users.append(fields[1])
            elif kind == "tmpfiles" and fields[0] == "d" and len(fields) >= 5:
                dirs.append(Directory(fields[1], int(fields[2], 8), fields[3], fields[4]))
    return users, dirs


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
    _services(plan, desired)
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


def _services(plan: NodePlan, desired: list[DesiredFile]) -> None:
    """Reload, enable, disable and restart: only for what changed."""
    changed = [c for c in plan.files if c.action in ("create", "update")]
    units = [c for c in changed if c.file and c.file.role in ("unit", "server-unit")]
    removed_units = [
        c.path for c in plan.files if c.action == "remove" and c.path.startswith(UNIT_DIR)
    ]
    plan.daemon_reload = bool(units or removed_units)
    plan.enable = [
        posixpath.basename(c.path)
        for c in units
        if c.action == "create" and c.path.endswith(".service")
    ]
    plan.disable = [posixpath.basename(p) for p in removed_units]
    server = next((f for f in desired if f.role == "server-unit"), None)
    if server and any(c.file and c.file.role in RESTARTING_ROLES for c in changed):
        plan.restart = [posixpath.basename(server.path)]

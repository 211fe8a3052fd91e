"""The host side of the lab: running programs, finding a node's processes, its mounts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path


class LabError(RuntimeError):
    """The lab could not be built, booted or taken down (the message says which node and why)."""


def sh(*argv: str) -> str:
    """Run ``argv`` on the host; its stdout.

    Raises:
        LabError: it exited non-zero (the message holds the command and its stderr).
    """
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (for nspawn: the node's PID 1)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> list[str]:
    """The arguments of ``pid``; empty when it has ended (or is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and has not yet exited (a zombie has: it only awaits its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_ended(pids: list[int], timeout: float) -> bool:
    """Wait until none of ``pids`` is ``alive``; whether that happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to ``pid``; one that has already ended is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, deepest first (the order to unmount them)."""
    points = []
    prefix = str(directory).rstrip("/") + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == str(directory) or point.startswith(prefix):
            points.append(Path(point))
    return sorted(set(points), key=lambda p: len(p.parts), reverse=True)


def unmount(point: Path) -> None:
    """Unmount ``point``; detach it lazily when something still holds it open.

    Either way the path is no longer a mount point afterwards, so deleting the directory under
    it can never reach through into the host's own files.
    """
    try:
        sh("umount", str(point))
    except LabError:
        sh("umount", "--lazy", str(point))


def cgroup_roots() -> list[Path]:
    """The cgroup hierarchies a node's systemd manages: cgroup2, and v1's ``name=systemd``."""
    roots = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, kind, options = line.split()[:4]
        if kind == "cgroup2" or (kind == "cgroup" and "name=systemd" in options.split(",")):
            roots.append(Path(point))
    return roots


def remove_cgroup(path: Path) -> None:
    """Remove the cgroup ``path`` and those below it (they must hold no process any more)."""
    if not path.is_dir():
        return
    # A cgroup directory is removed with rmdir alone, its control files go with it.
    for directory, _, _ in sorted(os.walk(path), key=lambda w: len(w[0]), reverse=True):
        os.rmdir(directory)


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a console log, without terminal colour codes."""
    try:
        text = path.read_bytes().decode(errors="replace")  # no newline translation
    except FileNotFoundError:
        return "(no console output)"
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).replace("\r", "")
    return "\n".join(text.splitlines()[-lines:])

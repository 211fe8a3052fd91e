"""The lab: three nodes booted in parallel, their known_hosts, and a teardown that always runs.

One lab at a time per machine: the lab holds ``LOCK`` while it exists, so a second run waits
for the first, and what it finds under ``BASE`` or named ``pclab-*`` when it starts can only
be the remains of a run that was killed, which it removes before building its own.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, TypeVar

from . import host, network
from .host import LabError
from .node import BOOT_TIMEOUT, KILL_TIMEOUT, LabNode, owned_pid

# A fixed place, so that a run finds what a killed one left (pytest's temporary directories
# are new each run); the overlays' upper and work directories need a disk filesystem.
BASE = Path("/var/tmp/pclab")
LOCK = Path("/var/tmp/pclab.lock")
NSPAWN_PROPAGATE = Path("/run/systemd/nspawn/propagate")
LOCK_TIMEOUT = 900.0  # seconds to wait for another run's lab to be taken down
NAMES = ("node1", "node2", "node3")

T = TypeVar("T")


@dataclass(frozen=True)
class Lab:
    """The running lab: its nodes and the files a test needs to log in to them."""

    directory: Path
    nodes: tuple[LabNode, ...]
    known_hosts: Path  # every node's public host keys, one line per key
    client_key: Path  # the private key root accepts on every node (``.pub`` beside it)

    def node(self, name: str) -> LabNode:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise LabError(f"no node {name!r} in the lab ({', '.join(n.name for n in self.nodes)})")

    def ensure_running(self) -> None:
        """Boot (in parallel) every node that is not running, e.g. after a failed test."""
        parallel([n.boot for n in self.nodes if not n.running])


def parallel(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at once; their results, or the first error once all have ended."""
    if not calls:
        return []
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:  # every node's reason: two nodes failing alike point at the host
        raise LabError("\n".join(str(e) for e in errors)) from errors[0]
    return [f.result() for f in futures]


@contextmanager
def running(names: tuple[str, ...] = NAMES, timeout: float = BOOT_TIMEOUT) -> Iterator[Lab]:
    """Boot a lab of ``names``; take it down afterwards, whatever happened in between.

    Raises:
        LabError: another run held the lab for too long, or a node did not boot (the
            message names it and shows the end of its console).
    """
    with _locked(), _sigterm_interrupts():
        remove_leftovers()
        nodes: list[LabNode] = []
        try:
            lab = _build(names, nodes, timeout)
            yield lab
        finally:
            _teardown(nodes)


def _build(names: tuple[str, ...], nodes: list[LabNode], timeout: float) -> Lab:
    """Network, roots and keys, then every node booted; ``nodes`` filled as they are made."""
    BASE.mkdir(mode=0o700, parents=True)
    client_key = BASE / "client_ed25519"
    host.sh(
        "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pclab-client", "-f", str(client_key)
    )
    authorized = client_key.with_suffix(".pub").read_text().strip()
    known_hosts = BASE / "known_hosts"
    addresses = [network.node_address(i) for i in range(1, len(names) + 1)]
    hosts = "".join(f"{a} {n}\n" for a, n in zip(addresses, names, strict=True))
    network.create_bridge()
    for name, address in zip(names, addresses, strict=True):
        node = LabNode(name, address, BASE / name, known_hosts, client_key)
        nodes.append(node)
        network.create_namespace(node.machine, address)
    # Key generation (RSA) and the boots are the slow parts: all nodes at once.
    keys = parallel([partial(n.prepare, authorized, hosts) for n in nodes])
    known_hosts.write_text(
        "".join(
            f"{n.address} {line}\n" for n, lines in zip(nodes, keys, strict=True) for line in lines
        )
    )
    for node in nodes:
        node.start()
    parallel([partial(n.wait_ready, timeout) for n in nodes])
    return Lab(BASE, tuple(nodes), known_hosts, client_key)


def _teardown(nodes: list[LabNode]) -> None:
    """Power every node off (in parallel), then remove everything the lab made."""
    try:
        parallel([n.stop for n in nodes])
    finally:
        remove_leftovers()


def remove_leftovers() -> None:
    """Remove what a lab left behind: its nodes' processes, mounts, network and files.

    Raises:
        LabError: a mount under ``BASE`` could not be removed (then nothing is deleted).
    """
    if BASE.is_dir():
        for directory in BASE.iterdir():
            pid = owned_pid(directory, f"{network.PREFIX}{directory.name}")
            if pid is not None:
                # The node's PID 1 too: killing nspawn alone leaves the node running.
                inits = host.children(pid)
                for p in (*inits, pid):
                    host.kill(p)
                host.wait_ended([*inits, pid], KILL_TIMEOUT)
        for point in host.mounts_under(BASE):
            host.unmount(point)
    network.remove_all()
    for root in host.cgroup_roots():
        for cgroup in root.glob(f"{network.PREFIX}*"):
            host.remove_cgroup(cgroup)
    # nspawn's own directory for a machine, which it leaves behind when it is killed.
    for propagate in NSPAWN_PROPAGATE.glob(f"{network.PREFIX}*"):
        if not host.mounts_under(propagate):
            shutil.rmtree(propagate)
    if BASE.is_dir():
        left = host.mounts_under(BASE)
        if left:
            raise LabError(f"still mounted, not deleting {BASE}: {', '.join(map(str, left))}")
        shutil.rmtree(BASE)


@contextmanager
def _locked() -> Iterator[IO[str]]:
    """Hold the machine's lab lock; the kernel releases it when this process ends, however."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    with LOCK.open("a+") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.seek(0)
                    holder = lock.read().strip() or "unknown"
                    raise LabError(
                        f"{LOCK}: another lab run (pid {holder}) held it for {LOCK_TIMEOUT:.0f}s"
                    ) from None
                time.sleep(1.0)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield lock
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM (a CI timeout, ``kill``) interrupt like Ctrl-C, so the teardown runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

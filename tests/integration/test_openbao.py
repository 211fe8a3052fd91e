"""The generated host files, proven by a real OpenBao server.

Each test compiles a spec (distribution openbao, every node on 127.0.0.1 with free ports),
installs one node's host files under a temp root (paths prefixed, nothing else changed), makes
the server certificate from the generated ``openssl.conf`` and runs ``bao server`` on the
generated config. Every wait is bounded; every server is stopped, whatever happens.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests
from hvac.exceptions import Forbidden, InvalidPath

from compiler.check import load_spec
from compiler.pipeline import Build
from tests.support import REFERENCE, compile_data, need

from .pki import CA, make_ca
from .server import Server, clean_env, install, running, show_logs

# --- specs ---------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open until all are chosen)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def reference_policies() -> dict[str, Any]:
    """The policies and secrets engines of picluster.yaml, as spec data."""
    spec, _ = load_spec(REFERENCE)
    return spec.vault.model_dump(mode="json", include={"policies", "secrets_engines"})


def spec_data(nodes: int = 1, **vault: Any) -> dict[str, Any]:
    """An OpenBao spec whose nodes all live on 127.0.0.1, each with its own free ports.

    A single node is named ``localhost`` in DNS (so api_addr and the DNS SAN are exercised);
    several nodes cannot share a DNS name, so they go by address.
    """
    ports = free_ports(2 * nodes)
    node_list = []
    for i in range(nodes):
        node: dict[str, Any] = {
            "name": f"node{i + 1}",
            "address": "127.0.0.1",
            "api_port": ports[2 * i],
            "cluster_port": ports[2 * i + 1],
        }
        if nodes == 1:
            node["dns"] = "localhost"
        node_list.append(node)
    base: dict[str, Any] = {
        "distribution": "openbao",
        "version": "2.1.0",
        "listen_address": "127.0.0.1",
        "nodes": node_list,
        **reference_policies(),
    }
    base.update(vault)
    return {"vault": base}


# --- fixtures ------------------------------------------------------------------------------


@dataclass
class Cluster:
    build: Build
    servers: list[Server]

    @property
    def first(self) -> Server:
        return self.servers[0]


Boot = Callable[[dict[str, Any]], Cluster]


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return need("curl", "jq", "openssl", "bao")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory, tools: dict[str, str]) -> CA:
    return make_ca(tmp_path_factory.mktemp("ca"))


def _booter(stack: ExitStack, factory: pytest.TempPathFactory, ca: CA, bao: str) -> Boot:
    def boot(data: dict[str, Any]) -> Cluster:
        work = factory.mktemp("spec")
        build = compile_data(work, data)
        servers = [
            stack.enter_context(running(install(build, node.name, work / node.name, ca), bao))
            for node in build.spec.vault.nodes
        ]
        return Cluster(build, servers)

    return boot


@pytest.fixture
def boot(tmp_path_factory: pytest.TempPathFactory, ca: CA, tools: dict[str, str]) -> Iterator[Boot]:
    """Boot the servers of a spec for one test."""
    with ExitStack() as stack:
        yield _booter(stack, tmp_path_factory, ca, tools["bao"])


@pytest.fixture(scope="module")
def boot_module(
    tmp_path_factory: pytest.TempPathFactory, ca: CA, tools: dict[str, str]
) -> Iterator[Boot]:
    """Boot the servers of a spec shared by the tests of this module."""
    with ExitStack() as stack:
        yield _booter(stack, tmp_path_factory, ca, tools["bao"])


@pytest.fixture(autouse=True)
def _server_logs() -> Iterator[None]:
    """After each test, the logs of the servers still running (shown if the test failed)."""
    yield
    show_logs()


def activate(cluster: Cluster) -> Server:
    """Initialise the first node with the spec's key split, unseal it, wait until active."""
    unseal = cluster.build.spec.vault.unseal
    server = cluster.first
    server.initialise(unseal.key_shares, unseal.key_threshold)
    server.unseal()
    server.wait_health(200)
    return server


# --- 1. boot -------------------------------------------------------------------------------


@pytest.mark.integration
def test_generated_config_boots_and_answers_health_over_verified_tls(boot: Boot) -> None:
    server = boot(spec_data()).first

    health = server.get("/v1/sys/health")
    assert health.status_code == 501, health.text  # answering: not initialised yet
    assert health.json()["initialized"] is False
    assert health.json()["sealed"] is True

    # api_addr (https://localhost:<port>) verifies too: the DNS SAN of the generated request.
    assert server.host.api_addr.startswith("https://localhost:")
    by_name = server.session.get(f"{server.host.api_addr}/v1/sys/health", timeout=5)
    assert by_name.status_code == 501

    # And the certificate really is the test CA's: the default trust store refuses it.
    with requests.Session() as default:
        default.trust_env = False
        with pytest.raises(requests.exceptions.SSLError):
            default.get(f"{server.url}/v1/sys/health", timeout=5)


# --- 2. raft cluster -----------------------------------------------------------------------


@pytest.mark.integration
def test_three_nodes_join_one_raft_cluster(boot: Boot) -> None:
    cluster = boot(spec_data(3, unseal={"key_shares": 3, "key_threshold": 2}))
    leader = activate(cluster)

    # The others are uninitialised: they join through their generated retry_join blocks and
    # finish joining once they get the cluster's unseal keys.
    for server in cluster.servers[1:]:
        server.keys = leader.keys
        server.unseal(timeout=45)

    client = leader.client(leader.root_token)

    def three_servers() -> list[dict[str, Any]] | None:
        servers: list[dict[str, Any]] = client.sys.read_raft_config()["data"]["config"]["servers"]
        return servers if len(servers) == 3 else None

    servers = leader.wait("3 servers in the raft configuration", three_servers)
    assert sorted(s["node_id"] for s in servers) == ["node1", "node2", "node3"]
    leaders = [s["node_id"] for s in servers if s["leader"]]
    assert leaders == ["node1"]
    for server in cluster.servers[1:]:
        server.wait_health(429)  # an unsealed standby


# --- 3. the unseal script ------------------------------------------------------------------

ATTEMPTS, RETRY_INTERVAL = 2, 1


def unseal_spec(shares: int, threshold: int) -> dict[str, Any]:
    return spec_data(
        unseal={
            "key_shares": shares,
            "key_threshold": threshold,
            "attempts": ATTEMPTS,
            "retry_interval": RETRY_INTERVAL,
        }
    )


def write_keys_file(path: Path, keys: list[str]) -> None:
    """The keys file exactly as ``picluster init`` writes it: only the keys, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"unseal_keys_b64": keys}, out)
    path.chmod(0o600)  # also when the file was already there
    assert path.stat().st_mode & 0o777 == 0o600


def wrong_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def run_unseal_script(server: Server) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        ["sh", str(server.host.unseal_script)],
        capture_output=True,
        text=True,
        env=clean_env(server.host.root),
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


KEY_SPLITS = [(1, 1), (3, 2)]  # (key_shares, key_threshold)
SPLITS = [pytest.param(*split, id=f"{split[1]}of{split[0]}") for split in KEY_SPLITS]

Initialised = dict[tuple[int, int], Server]


@pytest.fixture(scope="module")
def initialised(boot_module: Boot) -> Initialised:
    """One initialised server per key split, shared by the module; each test puts it in the
    state it needs. sys/init waits for a first raft election (5 to 10 s with the generated
    config), so the servers are initialised at the same time."""
    servers = {split: boot_module(unseal_spec(*split)).first for split in KEY_SPLITS}
    with ThreadPoolExecutor(len(servers)) as pool:
        inits = {split: pool.submit(s.initialise, *split) for split, s in servers.items()}
    for (shares, _), init in inits.items():
        assert len(init.result()["keys_base64"]) == shares
    return servers


def sealed(initialised: Initialised, shares: int, threshold: int) -> Server:
    server = initialised[shares, threshold]
    server.seal()
    return server


@pytest.mark.integration
@pytest.mark.parametrize(("shares", "threshold"), SPLITS)
def test_unseal_script_unseals_with_the_keys_file(
    initialised: Initialised, shares: int, threshold: int
) -> None:
    server = sealed(initialised, shares, threshold)
    write_keys_file(server.host.keys_file, server.keys)

    done, _ = run_unseal_script(server)

    assert done.returncode == 0, done.stderr
    assert "unsealed" in done.stderr
    assert server.seal_status()["sealed"] is False


@pytest.mark.integration
@pytest.mark.parametrize(("shares", "threshold"), SPLITS)
def test_unseal_script_gives_up_on_a_wrong_key(
    initialised: Initialised, shares: int, threshold: int
) -> None:
    server = sealed(initialised, shares, threshold)
    write_keys_file(server.host.keys_file, [wrong_key() for _ in range(threshold)])

    done, elapsed = run_unseal_script(server)

    assert done.returncode == 1, done.stderr
    assert "an unseal key was rejected" in done.stderr
    assert f"attempt {ATTEMPTS} of {ATTEMPTS}" in done.stderr
    assert f"still sealed after {ATTEMPTS} attempts" in done.stderr
    # It retried (sleeping between attempts), and gave up in bounded time.
    assert (ATTEMPTS - 1) * RETRY_INTERVAL <= elapsed < ATTEMPTS * (RETRY_INTERVAL + 3)
    assert server.seal_status()["sealed"] is True


@pytest.mark.integration
def test_unseal_script_leaves_an_uninitialised_server_alone(boot: Boot) -> None:
    server = boot(unseal_spec(1, 1)).first
    write_keys_file(server.host.keys_file, [wrong_key()])

    done, _ = run_unseal_script(server)

    assert done.returncode == 0, done.stderr
    assert "not initialised" in done.stderr
    assert server.seal_status()["initialized"] is False


# --- 4. policies ---------------------------------------------------------------------------


@dataclass
class Policies:
    server: Server
    files: dict[str, str]  # policy name -> installed HCL text
    tokens: dict[str, str]  # policy name -> a token holding it

    def client(self, policy: str) -> hvac.Client:
        return self.server.client(self.tokens[policy])


@pytest.fixture(scope="module")
def policies_installed(initialised: Initialised) -> Policies:
    """The reference spec's policies (the installed generated files) and secrets engines,
    written to a server with its root token, and a token for each policy."""
    server = initialised[1, 1]
    server.unseal()
    server.wait_health(200)
    root = server.client(server.root_token)
    vault = server.host.vault

    installed = server.host.path(server.host.layout.policy_dir)
    files = {p.stem: p.read_text() for p in sorted(installed.glob("*.hcl"))}
    assert sorted(files) == sorted(vault.policies)
    for name, text in files.items():
        root.sys.create_or_update_policy(name=name, policy=text)
    for engine in vault.secrets_engines:
        root.sys.enable_secrets_engine(
            backend_type=engine.type,
            path=engine.path,
            description=engine.description,
            options={"version": str(engine.version)},
        )
    tokens = {
        name: root.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
        for name in files
    }
    return Policies(server, files, tokens)


@pytest.fixture
def policies(policies_installed: Policies) -> Policies:
    """The policy server, active (an unseal test of the module may have sealed it)."""
    policies_installed.server.unseal()
    policies_installed.server.wait_health(200)
    return policies_installed


@pytest.mark.integration
def test_policies_are_accepted_as_generated(policies: Policies) -> None:
    root = policies.server.client(policies.server.root_token)
    for name, text in policies.files.items():
        assert root.sys.read_policy(name=name)["data"]["rules"] == text


def read(kv: Any, path: str) -> dict[str, Any]:
    result: dict[str, Any] = kv.read_secret_version(
        path, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    return result


@pytest.mark.integration
def test_readonly_cannot_write_readwrite_can_both_read(policies: Policies) -> None:
    readonly = policies.client("readonly").secrets.kv.v2
    readwrite = policies.client("readwrite").secrets.kv.v2
    secret = {"username": "admin", "password": secrets.token_hex(8)}

    with pytest.raises(Forbidden):  # 403 on PUT secret/data/secret1
        readonly.create_or_update_secret("secret1", secret=secret, mount_point="secret")
    readwrite.create_or_update_secret("secret1", secret=secret, mount_point="secret")

    assert read(readonly, "secret1") == secret
    assert read(readwrite, "secret1") == secret


@pytest.mark.integration
def test_secret_glob_covers_the_kv2_subpaths(policies: Policies) -> None:
    """``secret/*`` on a KV v2 mount: the glob reaches data/, metadata/ and the rest."""
    server = policies.server
    readonly = policies.client("readonly").secrets.kv.v2
    readwrite = policies.client("readwrite").secrets.kv.v2
    readwrite.create_or_update_secret("app/config", secret={"a": "1"}, mount_point="secret")

    def patch(policy: str) -> int:  # a real PATCH (hvac's kv2 patch is read-then-write)
        return server.request(
            "PATCH",
            "/v1/secret/data/app/config",
            policies.tokens[policy],
            headers={"Content-Type": "application/merge-patch+json"},
            json={"data": {"b": "2"}},
        ).status_code

    # readonly: read on secret/data/... and secret/metadata/..., but no list, patch or delete.
    assert read(readonly, "app/config") == {"a": "1"}
    assert readonly.read_secret_metadata("app/config", mount_point="secret")["data"]["versions"]
    with pytest.raises(Forbidden):
        readonly.list_secrets("app", mount_point="secret")
    assert patch("readonly") == 403
    with pytest.raises(Forbidden):
        readonly.delete_metadata_and_all_versions("app/config", mount_point="secret")

    # readwrite: list, patch and delete too.
    assert readwrite.list_secrets("app", mount_point="secret")["data"]["keys"] == ["config"]
    assert patch("readwrite") == 200
    assert read(readwrite, "app/config") == {"a": "1", "b": "2"}
    readwrite.delete_metadata_and_all_versions("app/config", mount_point="secret")
    with pytest.raises(InvalidPath):
        read(readwrite, "app/config")


@pytest.mark.integration
def test_unseal_script_sends_each_key_as_one_json_string(initialised: Initialised) -> None:
    """Keys that a shell or a printf would have split, globbed or spliced into the body: the
    `reset` one once reset the server's unseal progress after the first real key, so it stayed
    sealed. Each is now its own JSON string; the server rejects those, and the real two unseal."""
    server = sealed(initialised, 3, 2)
    awkward = ["*", "a b", 'abc","reset":true,"x":"']
    write_keys_file(server.host.keys_file, [server.keys[0], *awkward, server.keys[1]])

    done, _ = run_unseal_script(server)

    assert done.returncode == 0, done.stderr
    assert done.stderr.count("an unseal key was rejected") == len(awkward)
    assert server.seal_status()["sealed"] is False

"""The Vault side under attack or accident, against a real OpenBao server: apply never destroys
what picluster does not own, never loses data, and sends the token only where TLS was verified.

Each test starts from the same server (booted from the generated config, initialised and
unsealed), applies a spec through the CLI, changes the server or the record as an attacker or
a careless hand would, and checks what picluster does next.
"""

from __future__ import annotations

import copy
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hvac
import pytest
from click.testing import CliRunner
from hvac import exceptions as hvac_errors

from compiler import cli
from compiler.pipeline import Options, compile_tree
from tests.support import compile_data, need, write_spec

from . import https
from .pki import make_ca, server_cert
from .server import Server, install, show_logs, unsealed
from .sshd import free_port
from .test_openbao import spec_data

pytestmark = pytest.mark.integration

UPGRADE_TIMEOUT = 30.0  # seconds a new KV v2 mount may take to upgrade itself


@dataclass
class Vault:
    work: Path
    server: Server
    root: str
    data: dict[str, Any]

    @property
    def spec(self) -> str:
        return str(self.work / "picluster.yaml")

    @property
    def client(self) -> hvac.Client:
        return self.server.client(self.root)

    def run(self, *args: str, token: str | None = None) -> tuple[int, str, str]:
        """``args`` on the spec as the test left it, compiled first (apply needs a current
        out/), through the CLI."""
        out = self.work / "out"
        compile_tree(Options(spec_path=write_spec(self.work, self.data), out_dir=out, force=True))
        env = {"VAULT_TOKEN": token or self.root, "BAO_TOKEN": None, "VAULT_ADDR": None}
        argv = [*args, self.spec, "--only", "vault", "--tree", str(out)]
        result = CliRunner().invoke(cli.main, argv, env=env)
        assert self.root not in result.output
        return result.exit_code, result.stdout, result.stderr


def base_spec() -> dict[str, Any]:
    data = spec_data()
    data["vault"]["tls"] = {"local": {"ca_cert": "vault-ca.crt"}}
    data["vault"]["policies"]["extra"] = [{"path": "extra/*", "capabilities": ["read"]}]
    data["vault"]["secrets_engines"].append({"path": "data"})
    return data


Booted = tuple[Path, Server, dict[str, Any]]


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    need("bao", "openssl")
    ca = make_ca(tmp_path_factory.mktemp("ca"))
    work = tmp_path_factory.mktemp("spec")
    shutil.copy(ca.cert, work / "vault-ca.crt")
    data = base_spec()  # its ports are the server's: every test starts from a copy of it
    host = install(compile_data(work, data), "node1", work / "node1", ca)
    with ExitStack() as stack:
        server = stack.enter_context(unsealed(host))
        yield work, server, data
    show_logs()


@pytest.fixture
def vault(booted: Booted) -> Iterator[Vault]:
    """The server with the base spec applied; whatever a test added is taken away after it."""
    work, server, data = booted
    assert server.root_token is not None
    v = Vault(work, server, server.root_token, copy.deepcopy(data))
    code, _, err = v.run("apply")
    assert code == 0, err
    yield v
    # Back to a server picluster never touched (its record goes with its mount).
    client = v.client
    for path in client.sys.list_mounted_secrets_engines()["data"]:
        if path.rstrip("/") not in ("sys", "cubbyhole", "identity"):
            client.sys.disable_secrets_engine(path)
    for name in client.sys.list_policies()["data"]["policies"]:
        if name not in ("root", "default"):
            client.sys.delete_policy(name)


def kv_put(client: hvac.Client, mount: str, path: str, secret: dict[str, Any]) -> None:
    """A KV v2 write once the mount takes it: a `kv` mount made with version 2 upgrades itself
    just after it is made, and answers 400 ("Upgrading from non-versioned to versioned data")
    until it is done."""
    deadline = time.monotonic() + UPGRADE_TIMEOUT
    while True:
        try:
            client.secrets.kv.v2.create_or_update_secret(path, secret=secret, mount_point=mount)
            return
        except hvac_errors.InvalidRequest as exc:
            if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def record(v: Vault) -> dict[str, Any]:
    data: dict[str, Any] = v.client.read("picluster/data/ownership")["data"]["data"]
    return data


def owned(v: Vault, kind: str) -> dict[str, Any]:
    objects: dict[str, Any] = record(v)["objects"].get(kind, {})
    return objects


def test_a_forged_record_entry_cannot_make_prune_unmount_a_mount(
    vault: Vault, writes: list[tuple[str, str]]
) -> None:
    """A record entry `policy: ../../mounts/handkv` once made `apply --prune` send
    `DELETE /v1/sys/mounts/handkv`: a hand-made mount and its data were gone."""
    client = vault.client
    client.sys.enable_secrets_engine("kv", path="handkv", options={"version": "2"})
    kv_put(client, "handkv", "keep", {"v": "1"})
    forged = record(vault)
    forged["objects"]["policy"]["../../mounts/handkv"] = None
    client.secrets.kv.v2.create_or_update_secret(
        "ownership", secret=forged, mount_point="picluster"
    )
    writes.clear()
    code, _, err = vault.run("apply", "--prune")
    assert (code, err) == (
        1,
        "picluster/ownership: not a record picluster wrote ('../../mounts/handkv' is not a "
        "policy name); nothing was changed. Look at it (`bao kv get picluster/ownership`); "
        "delete it to start afresh, and picluster then owns nothing\n",
    )
    assert writes == []
    kept = client.secrets.kv.v2.read_secret_version(
        "keep", mount_point="handkv", raise_on_deleted_version=True
    )
    assert kept["data"]["data"] == {"v": "1"}


def test_prune_never_unmounts_an_engine_that_holds_keys(vault: Vault) -> None:
    """Dropping an engine from the spec once unmounted it on `--prune`, and every secret in it
    was lost; the plan showed one line."""
    client = vault.client
    kv_put(client, "data", "app/db", {"p": "x"})
    kv_put(client, "data", "other", {"p": "y"})
    vault.data["vault"]["secrets_engines"] = [
        e for e in vault.data["vault"]["secrets_engines"] if e["path"] != "data"
    ]
    note = (
        "  note: secrets engine data/ was created by picluster and is no longer in the spec, but "
        "holds 2 keys; kept: `--prune --destroy-engine data` unmounts it and destroys them"
    )
    code, out, _ = vault.run("plan", "--prune")
    assert (code, out.splitlines()[-1]) == (0, note)
    code, out, _ = vault.run("apply", "--prune")
    assert code == 0
    assert "data/" in client.sys.list_mounted_secrets_engines()["data"]
    code, out, _ = vault.run("plan", "--prune", "--destroy-engine", "data")
    assert "  - secrets engine data/ (unmounts it and destroys its 2 keys)" in out.splitlines()
    code, out, err = vault.run("apply", "--prune", "--destroy-engine", "data")
    assert code == 0, err
    assert "data/" not in client.sys.list_mounted_secrets_engines()["data"]
    assert "data/" not in owned(vault, "secrets_engine")


def test_keys_the_token_may_not_count_keep_the_engine(vault: Vault) -> None:
    """A token that may read what the plan compares but not list an engine's keys: the plan
    does not fail on the 403, and a prune keeps the engine, since it may hold data."""
    client = vault.client
    client.sys.create_or_update_policy(
        "planner",
        'path "sys/mounts" { capabilities = ["read"] }\n'
        'path "sys/auth" { capabilities = ["read"] }\n'
        'path "sys/policies/acl/*" { capabilities = ["read"] }\n'
        'path "picluster/data/ownership" { capabilities = ["read"] }\n',
    )
    token = client.auth.token.create(policies=["planner"], ttl="10m")["auth"]["client_token"]
    vault.data["vault"]["secrets_engines"] = [
        e for e in vault.data["vault"]["secrets_engines"] if e["path"] != "data"
    ]
    code, out, err = vault.run("plan", "--prune", token=token)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        "  note: secrets engine data/ was created by picluster and is no longer in the spec, but "
        "keys it may hold cannot be counted; kept: `--prune --destroy-engine data` unmounts it "
        "and destroys them"
    )


def test_an_object_made_anew_by_hand_is_kept_and_a_gone_one_forgotten(vault: Vault) -> None:
    """An object picluster made, deleted by hand and dropped from the spec once stayed in the
    record for ever, and a later hand-made object of that name was deleted by `--prune`."""
    client = vault.client
    del vault.data["vault"]["policies"]["extra"]
    client.sys.delete_policy("extra")
    code, out, _ = vault.run("apply", "--prune")
    assert code == 0
    assert "extra" not in owned(vault, "policy")  # forgotten: it is gone
    client.sys.create_or_update_policy("extra", 'path "mine/*" { capabilities = ["read"] }')
    code, out, _ = vault.run("apply", "--prune")
    assert (code, out) == (
        0,
        f"Vault {vault.server.host.api_addr}: no changes; the server matches the spec\n",
    )
    assert "extra" in client.sys.list_policies()["data"]["policies"]


def test_an_owned_object_changed_by_hand_is_reported_and_kept(vault: Vault) -> None:
    client = vault.client
    client.sys.create_or_update_policy("extra", 'path "extra/*" { capabilities = ["list"] }')
    del vault.data["vault"]["policies"]["extra"]
    code, out, _ = vault.run("apply", "--prune")
    assert code == 0
    assert out.splitlines()[-1] == (
        "  note: policy extra was created by picluster, but changed or made anew by hand since; "
        "kept (delete it by hand if it should go)"
    )
    assert "extra" in client.sys.list_policies()["data"]["policies"]


def test_an_apply_stopped_by_a_403_records_only_what_it_made(vault: Vault) -> None:
    """An apply stopped by a 403 at step 2 once recorded ownership of objects it never made."""
    client = vault.client
    client.sys.create_or_update_policy(
        "policies-only",
        'path "sys/mounts" { capabilities = ["read"] }\n'
        'path "sys/auth" { capabilities = ["read"] }\n'
        'path "sys/policies/acl/*" { capabilities = ["create", "read", "update"] }\n'
        'path "picluster/*" { capabilities = ["create", "read", "update"] }\n',
    )
    token = client.auth.token.create(policies=["policies-only"], ttl="10m")["auth"]["client_token"]
    vault.data["vault"]["policies"]["one"] = [{"path": "one/*", "capabilities": ["read"]}]
    vault.data["vault"]["secrets_engines"].append({"path": "two"})
    code, _, err = vault.run("apply", token=token)
    assert code == 1
    assert err.startswith("apply stopped at step 1 of 3 (+ secrets engine two/): ")
    assert "permission denied (403)" in err
    # Engines are made first: nothing was made, nothing is recorded.
    assert "two/" not in owned(vault, "secrets_engine")
    assert "one" not in owned(vault, "policy")


class _Redirect(https.JSONHandler):
    location = ""

    def do_GET(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.location + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Listener(http.server.BaseHTTPRequestHandler):
    """A plain-text listener: every request it gets, headers and all, is recorded."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(str(self.headers))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_redirect_is_never_followed_with_the_token(tmp_path: Path) -> None:
    """A TLS-verified server answering `307 Location: http://…` once had the token sent to a
    plain-text listener on every request, and `plan` exited 0 on the unverified answers."""
    need("openssl")
    ca = make_ca(tmp_path / "ca")
    cert = server_cert(ca, https.LOOPBACK_CONF, tmp_path / "cert")
    plain_port, tls_port = free_port(), free_port()
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", plain_port), _Listener)
    thread = threading.Thread(target=plain.serve_forever, daemon=True)
    thread.start()
    handler = type("Redirect", (_Redirect,), {"location": f"http://127.0.0.1:{plain_port}"})
    shutil.copy(ca.cert, tmp_path / "ca.crt")
    data = {
        "vault": {
            "version": "2.7.2",
            "nodes": [{"name": "node1", "address": "127.0.0.1", "api_port": tls_port}],
            "tls": {"local": {"ca_cert": "ca.crt"}},
        }
    }
    spec = write_spec(tmp_path, data)
    compile_tree(Options(spec_path=spec, out_dir=tmp_path / "out"))
    try:
        with https.serving(tls_port, handler, cert):
            result = CliRunner().invoke(
                cli.main,
                ["plan", str(spec), "--only", "vault", "--tree", str(tmp_path / "out")],
                env={"VAULT_TOKEN": "hvs.secret-token-value", "BAO_TOKEN": None},
            )
    finally:
        plain.shutdown()
        plain.server_close()
    assert result.exit_code == 1
    assert result.stderr == (
        f"https://127.0.0.1:{tls_port}: GET sys/seal-status answered 307, a redirect to "
        f"http://127.0.0.1:{plain_port}/v1/sys/seal-status; picluster sends the token nowhere "
        "else (set vault.api.address to the server that answers)\n"
    )
    assert _Listener.seen == []
    assert "hvs.secret-token-value" not in result.output


def test_applies_killed_at_random_moments_record_only_what_exists(vault: Vault) -> None:
    """Repeated kills once left 347 names in the record for 200 real policies (creates were
    recorded before they ran). SIGKILL real applies at random moments: every name the record
    holds is an object on the server; a last apply converges. (A create the server finished
    after the kill is adopted, not recorded: picluster cannot tell it from one made by hand.)"""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from tests.support import ROOT

    vault.data["vault"]["policies"].update(
        {f"many-{i:03d}": [{"path": f"many/{i}/*", "capabilities": ["read"]}] for i in range(200)}
    )
    out = vault.work / "out"
    compile_tree(Options(spec_path=write_spec(vault.work, vault.data), out_dir=out, force=True))
    command = [sys.executable, "-m", "compiler", "apply", vault.spec, "--only", "vault"]
    command += ["--tree", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAULT_TOKEN": vault.root}
    rng = random.Random(7)  # noqa: S311 -- fixed: the same moments on every run
    client = vault.client
    for _ in range(5):
        proc = subprocess.Popen(
            command, cwd=vault.work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.5, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name in owned(vault, "policy"):
            assert client.sys.read_policy(name)["data"]["rules"], name
    done = subprocess.run(command, cwd=vault.work, env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    existing = set(client.sys.list_policies()["data"]["policies"])
    assert {f"many-{i:03d}" for i in range(200)} <= existing
    assert set(owned(vault, "policy")) <= existing
    assert len(owned(vault, "policy")) >= 195  # at most one in-flight create per kill adopted

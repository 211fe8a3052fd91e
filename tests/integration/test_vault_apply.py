"""``picluster init``, ``plan`` and ``apply`` against a real OpenBao server, through the CLI.

One server (booted from the generated config: TLS, raft) carries the whole story, in order:
init → the generated unseal script → apply → the procedure's 403/200 test → a no-op apply →
an edited policy → prune → the server stopped mid-apply, restarted, converged.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hvac.exceptions import Forbidden

from compiler import cli
from compiler.apply import vault_apply
from compiler.pipeline import Options, compile_tree
from tests.support import compile_data, need, write_spec

from .pki import make_ca
from .server import Host, Server, install, running, show_logs, stop
from .test_openbao import free_ports, run_unseal_script, spec_data

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1hdXRoIn0." + secrets.token_urlsafe(32)


def story_spec() -> dict[str, Any]:
    data = spec_data(unseal={"key_shares": 3, "key_threshold": 2, "attempts": 2})
    vault = data["vault"]
    vault["tls"] = {"local": {"ca_cert": "vault-ca.crt"}}
    vault["kubernetes_auth"] = {
        "host": "https://10.0.0.10:6443",
        "ca_cert": "k8s-ca.crt",
        "token_reviewer_jwt": {"file": "reviewer.jwt"},
        "roles": {
            "external-secrets": {
                "service_accounts": ["external-secrets"],
                "namespaces": ["external-secrets"],
                "policies": ["readonly"],
                "ttl": "24h",
            },
            "prometheus": {
                "service_accounts": ["kube-prometheus-stack-prometheus"],
                "namespaces": ["kube-prom-stack"],
                "policies": ["default", "prometheus-monitoring"],
                "ttl": "15m",
            },
        },
    }
    data["kubernetes"] = {
        "external_secrets": {
            "stores": [{"name": "vault-backend", "path": "secret", "role": "external-secrets"}],
            "secrets": [
                {
                    "name": "vault-example",
                    "namespace": "default",
                    "store": "vault-backend",
                    "data": {"password": "secret1#password"},
                }
            ],
        }
    }
    return data


@dataclass
class Story:
    work: Path
    host: Host
    server: Server
    stack: ExitStack
    data: dict[str, Any]
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def spec(self) -> str:
        return str(self.work / "picluster.yaml")

    def write(self) -> None:
        """The spec, and its compiled tree beside it (apply pushes only a current out/)."""
        spec = write_spec(self.work, self.data)
        compile_tree(Options(spec_path=spec, out_dir=self.work / "out"))

    def restart(self) -> None:
        stop(self.server.process)
        keys, token = self.server.keys, self.server.root_token
        self.server = self.stack.enter_context(running(self.host))
        self.server.keys, self.server.root_token = keys, token


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    need("curl", "jq", "openssl", "bao")
    ca = make_ca(tmp_path_factory.mktemp("ca"))
    work = tmp_path_factory.mktemp("spec")
    for name in ("vault-ca.crt", "k8s-ca.crt"):
        shutil.copy(ca.cert, work / name)
    (work / "reviewer.jwt").write_text(JWT + "\n")
    data = story_spec()
    build = compile_data(work, data)
    host = install(build, "node1", work / "node1", ca)
    with ExitStack() as stack:
        server = stack.enter_context(running(host))
        env: dict[str, str | None] = {"VAULT_TOKEN": None, "BAO_TOKEN": None, "VAULT_ADDR": None}
        story = Story(work, host, server, stack, data, env)
        story.write()
        yield story


@pytest.fixture(autouse=True)
def _server_logs() -> Iterator[None]:
    yield
    show_logs()


def run(story: Story, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {**story.env, "VAULT_TOKEN": token}
    if args[0] in ("plan", "apply"):
        spec = Path(args[1])
        tree = story.work / "out" if spec.name == "picluster.yaml" else story.work / spec.stem
        if spec.name != "picluster.yaml":  # another spec: its own tree, compiled now
            compile_tree(Options(spec_path=spec, out_dir=tree))
        args = (*args, "--tree", str(tree))
        if "--plan" not in args:
            args = (*args, "--only", "vault")  # the Vault side's story (a saved plan says so)
    result = CliRunner().invoke(cli.main, [*args], env=env)
    assert JWT not in result.stdout + result.stderr
    assert not story.server.root_token or story.server.root_token not in result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.integration
def test_init_plan_apply_prune_and_recover(
    story: Story, writes: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = story.server, story.server.host.api_addr

    # Uninitialised: plan says so.
    assert run(story, "plan", story.spec, token="x") == (
        1,
        "",
        f"{url}: not initialised; run `picluster init` first\n",
    )

    # init: refuses out/, writes the keys where the unseal script reads them, warns.
    code, _, err = run(story, "init", story.spec, "--keys-file", str(story.work / "out/k.json"),
                       "--root-token-stdout")  # fmt: skip
    assert (code, err) == (2, f"{story.work}/out/k.json: inside {story.work}/out; init never "
                              "writes secrets into out/\n")  # fmt: skip
    keys_file, token_file = server.host.keys_file, story.work / "root-token"
    code, out, err = run(story, "init", story.spec, "--keys-file", str(keys_file),
                         "--root-token-file", str(token_file))  # fmt: skip
    assert code == 0, err
    assert out == ""
    assert err.splitlines() == [
        f"warning: {keys_file} is on node1, a Vault node itself: whoever gets its disk gets "
        "the data; keep the keys off the nodes",
        f"{url}: initialised; unseal keys in {keys_file}",
    ]
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert token_file.stat().st_mode & 0o777 == 0o600
    keys = json.loads(keys_file.read_text())
    assert list(keys) == ["unseal_keys_b64"]
    assert len(keys["unseal_keys_b64"]) == 3
    server.keys, server.root_token = keys["unseal_keys_b64"], token_file.read_text().strip()
    root = server.root_token
    code, _, err = run(story, "init", story.spec, "--keys-file", str(story.work / "again.json"),
                       "--root-token-stdout")  # fmt: skip
    assert (code, err) == (1, f"{url}: already initialised; init runs once (it handed out the "
                              "keys and root token then)\n")  # fmt: skip
    assert not (story.work / "again.json").exists()

    # Sealed: plan says so; the generated unseal script opens it with the keys init wrote.
    code, _, err = run(story, "plan", story.spec, token=root)
    assert (code, err) == (1, f"{url}: sealed; unseal it (the generated unseal script or "
                              "`bao operator unseal`), then retry\n")  # fmt: skip
    done, _ = run_unseal_script(server)
    assert done.returncode == 0, done.stderr
    server.wait_health(200)

    # The first apply creates everything, reporting each object.
    code, out, err = run(story, "apply", story.spec, token=root)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:3] == [
        "[1/10] + secrets engine picluster/",
        "[2/10] + secrets engine secret/",
        "[3/10] + policy prometheus-monitoring",
    ]
    assert lines[9] == "[10/10] + ownership record picluster/ownership"
    assert lines[-2:] == [
        f"Vault {url}: applied: 10 to create, 0 to update, 0 to delete",
        f"{story.spec}:76:19: kubernetes.external_secrets.secrets[0].data.password: warning: "
        "secret/secret1 does not exist in Vault; ExternalSecret default/vault-example cannot "
        "sync until it is written",
    ]

    # The record names what was made, each by what the server has: a mount by its accessor,
    # a policy by the SHA-256 of its text.
    client = server.client(root)
    record = client.read("picluster/data/ownership")["data"]["data"]
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    auths = client.sys.list_auth_methods()["data"]
    text = client.sys.read_policy("readonly")["data"]["rules"]
    assert record["format"] == 2
    assert record["objects"]["secrets_engine"] == {
        "secret/": f"accessor:{mounts['secret/']['accessor']}"
    }
    assert record["objects"]["auth_method"] == {
        "kubernetes/": f"accessor:{auths['kubernetes/']['accessor']}"
    }
    assert record["objects"]["policy"]["readonly"] == "sha256:" + sha256(text.encode()).hexdigest()
    assert sorted(record["objects"]["kubernetes_role"]) == [
        "kubernetes/external-secrets",
        "kubernetes/prometheus",
    ]

    # The procedure's own test: readonly gets 403 writing, readwrite writes, both read.
    tokens = {
        p: client.auth.token.create(policies=[p], ttl="10m")["auth"]["client_token"]
        for p in ("readonly", "readwrite")
    }
    secret = {"password": secrets.token_hex(8)}
    with pytest.raises(Forbidden):
        server.client(tokens["readonly"]).secrets.kv.v2.create_or_update_secret(
            "secret1", secret=secret, mount_point="secret"
        )
    server.client(tokens["readwrite"]).secrets.kv.v2.create_or_update_secret(
        "secret1", secret=secret, mount_point="secret"
    )
    config = client.read("auth/kubernetes/config")["data"]
    assert config["kubernetes_host"] == "https://10.0.0.10:6443"
    assert config["token_reviewer_jwt_set"] is True

    # A second apply: no changes, and not one write (the KV warning is gone too).
    writes.clear()
    assert run(story, "apply", story.spec, token=root) == (
        0,
        f"Vault {url}: no changes; the server matches the spec\n",
        "",
    )
    assert writes == []

    # 403 names the path and the capability.
    code, _, err = run(story, "plan", story.spec, token=tokens["readonly"])
    assert (code, err) == (1, f"{url}: permission denied (403): the token lacks 'read' on "
                              "sys/mounts; grant it in the token's policy\n")  # fmt: skip

    # An edited policy: one update in the plan, then applied.
    story.data["vault"]["policies"]["readonly"][0]["capabilities"] = ["read", "list"]
    story.write()
    code, out, _ = run(story, "plan", story.spec, token=root)
    assert (code, out.splitlines()) == (0, [
        f"Vault {url}: 0 to create, 2 to update, 0 to delete",
        "  ~ policy readonly",
        '      -capabilities = ["read"]',
        '      +capabilities = ["read", "list"]',
        "  ~ ownership record picluster/ownership",
        "      fingerprints: (none) -> (1 updated)",
    ])  # fmt: skip
    code, out, _ = run(story, "plan", story.spec, "--output", "json", token=root)
    assert json.loads(out)["summary"] == {"create": 0, "update": 2, "delete": 0}
    code, out, _ = run(story, "apply", story.spec, token=root)
    assert out.splitlines()[0] == "[1/2] ~ policy readonly"
    assert 'capabilities = ["read", "list"]' in client.sys.read_policy("readonly")["data"]["rules"]

    # A saved plan runs exactly as it was shown, or not at all.
    story.data["vault"]["policies"]["readonly"][0]["capabilities"] = ["read"]
    story.write()
    plan_file = story.work / "readonly.plan"
    code, out, err = run(story, "plan", story.spec, "--out", str(plan_file), token=root)
    assert (code, out.splitlines()[1], err) == (
        0,
        "  ~ policy readonly",
        f"plan saved to {plan_file}; `picluster apply --plan {plan_file}` runs it\n",
    )
    assert JWT not in plan_file.read_text()
    by_hand = 'path "secret/*" { capabilities = ["deny"] }'
    client.sys.create_or_update_policy("readonly", by_hand)  # the server changes meanwhile
    writes.clear()
    code, out, err = run(story, "apply", story.spec, "--plan", str(plan_file), token=root)
    assert (code, out, err) == (1, "", f"{plan_file}: stale plan: the step update policy readonly "
                                       "changed since it was made; nothing applied; run "
                                       f"`picluster plan --out {plan_file}` again\n")  # fmt: skip
    assert writes == []
    assert client.sys.read_policy("readonly")["data"]["rules"] == by_hand
    run(story, "plan", story.spec, "--out", str(plan_file), token=root)
    code, out, err = run(story, "apply", story.spec, "--plan", str(plan_file), token=root)
    assert (code, out.splitlines()[0], err) == (0, "[1/2] ~ policy readonly", "")
    assert writes == [("PUT", "sys/policies/acl/readonly"), ("POST", "picluster/data/ownership")]
    assert run(story, "plan", story.spec, token=root)[1] == (
        f"Vault {url}: no changes; the server matches the spec\n"
    )

    # A role removed from the spec goes only with --prune; a role made by hand stays.
    client.write("auth/kubernetes/role/by-hand", bound_service_account_names=["x"],
                 bound_service_account_namespaces=["y"], token_policies=["default"])  # fmt: skip
    del story.data["vault"]["kubernetes_auth"]["roles"]["prometheus"]
    story.write()
    code, out, _ = run(story, "plan", story.spec, token=root)
    assert out.splitlines() == [
        f"Vault {url}: no changes; the server matches the spec",
        "  note: kubernetes role kubernetes/prometheus was created by picluster and is no "
        "longer in the spec; `--prune` deletes it (no new login with it)",
    ]
    code, out, _ = run(story, "apply", story.spec, "--prune", token=root)
    assert out.splitlines()[:2] == [
        "[1/2] - kubernetes role kubernetes/prometheus",
        "[2/2] ~ ownership record picluster/ownership",
    ]
    assert sorted(client.list("auth/kubernetes/role")["data"]["keys"]) == [
        "by-hand",
        "external-secrets",
    ]

    # The server stops mid-apply: one clear line, exit 1; back up, a rerun converges.
    story.data["vault"]["policies"]["extra-one"] = [{"path": "a/*", "capabilities": ["read"]}]
    story.data["vault"]["policies"]["extra-two"] = [{"path": "b/*", "capabilities": ["read"]}]
    story.write()
    execute = vault_apply.execute

    def stop_before_step_2(conn: Any, plan: Any, jwt: Any, progress: Any) -> None:
        def hook(number: int, total: int, step: Any) -> None:
            if number == 2:
                stop(story.server.process)
            progress(number, total, step)

        execute(conn, plan, jwt, hook)

    monkeypatch.setattr(vault_apply, "execute", stop_before_step_2)
    code, out, err = run(story, "apply", story.spec, token=root)
    assert out.splitlines() == [
        "[1/3] + policy extra-one",
        "[2/3] + policy extra-two",
    ]
    assert (code, err) == (1, f"apply stopped at step 2 of 3 (+ policy extra-two): {url}: "
                              "unreachable (connection refused) after 4 attempts\n")  # fmt: skip
    monkeypatch.setattr(vault_apply, "execute", execute)

    story.restart()
    story.server.unseal()
    story.server.wait_health(200)
    # What the stopped apply made is recorded, and nothing it did not make.
    record = story.server.client(root).read("picluster/data/ownership")["data"]["data"]
    assert "extra-one" in record["objects"]["policy"]
    assert "extra-two" not in record["objects"]["policy"]
    code, out, err = run(story, "apply", story.spec, token=root)
    assert (code, out.splitlines()) == (0, [
        "[1/2] + policy extra-two",
        "[2/2] ~ ownership record picluster/ownership",
        f"Vault {url}: applied: 1 to create, 1 to update, 0 to delete",
    ]), err  # fmt: skip
    assert run(story, "plan", story.spec, token=root)[1] == (
        f"Vault {url}: no changes; the server matches the spec\n"
    )


@pytest.mark.integration
def test_tls_failure_and_unreachable_are_one_line(story: Story, tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other")
    shutil.copy(other.cert, story.work / "other-ca.crt")
    data = json.loads(json.dumps(story.data))
    data["vault"]["tls"]["local"]["ca_cert"] = "other-ca.crt"
    write_spec(story.work, data, "wrong-ca.yaml")
    url = story.server.host.api_addr
    code, _, err = run(story, "plan", str(story.work / "wrong-ca.yaml"), token="x")
    assert (code, err) == (1, f"{url}: TLS verification failed (unable to get local issuer "
                              "certificate); check vault.tls.local.ca_cert and the server's "
                              "certificate\n")  # fmt: skip

    [port] = free_ports(1)
    data["vault"]["api"] = {"address": f"https://127.0.0.1:{port}"}
    write_spec(story.work, data, "nobody.yaml")
    code, _, err = run(story, "plan", str(story.work / "nobody.yaml"), token="x")
    assert (code, err) == (1, f"https://127.0.0.1:{port}: unreachable (connection refused) "
                              "after 4 attempts\n")  # fmt: skip

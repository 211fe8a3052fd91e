"""End to end, like ESO: ``picluster apply`` configures a real OpenBao, then every generated
store logs in and every generated ExternalSecret is read exactly as External Secrets
Operator's Vault provider would, from the generated YAML alone.

Real: the OpenBao server (booted from the generated config, TLS, raft), its kubernetes auth
method (which parses each JWT, checks the role's bound names, namespaces and audience, then
sends a TokenReview), ``picluster apply --only vault`` and ``validate`` through the CLI, the
generated manifests. Stand-ins, because no Kubernetes runs here:

- the API server's TokenReview endpoint (``kube_api``, over TLS from the test CA, which the
  spec's ``kubernetes_auth.ca_cert`` names): it authenticates the tokens this test issues, for
  the audiences they were issued with, and lets a caller review only if the generated
  system:auth-delegator bindings name it (without a reviewer JWT the caller is the logging-in
  account itself);
- the tokens: what the TokenRequest API would give ESO for the store's service account and
  audiences (``serviceAccountRef``), and the pod token the Vault Agent reads (its audience
  the API server's own); unsigned, as Vault without ``pem_keys`` does not check signatures;
- ESO and the Vault Agent: the requests they make, taken from their sources
  (providers/v1/vault: the kubernetes login, ``checkToken``'s lookup-self, buildPath's KV
  path with the store's mount; Prometheus' GET sys/metrics with the agent's token).

Then each mistake of the issue, applied anyway (the access checks bypassed only here): the
ExternalSecret entries ``validate`` refuses are exactly those the server answers 403, at
exactly the path the refusal names; ``plan`` of the good spec, read-only against that server,
names the ExternalSecrets that fail now and says the apply fixes them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from compiler import cli, yamlio
from compiler.access import checks
from compiler.pipeline import Build, Options, compile_tree
from tests.support import compile_data, need, write_spec

from . import kube_api
from .pki import make_ca
from .server import Server, install, show_logs, unsealed
from .test_openbao import spec_data

pytestmark = pytest.mark.integration

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # a pod token's, by default
VALUES = {
    "gitea/db": {"password": secrets.token_hex(8), "user": "gitea"},
    "immich/db": {"password": secrets.token_hex(8), "host": "db.immich"},
    "team-a/db": {"url": "postgres://" + secrets.token_hex(4)},
    "team-a/config": {"mode": "fast", "level": "3"},
    # What a key written with the mount in front would have meant, and is never read.
    "secret/gitea/db": {"password": "stored-under-a-folder-named-like-the-mount"},
}


def good_spec(kube_url: str) -> dict[str, Any]:
    data = spec_data()
    vault = data["vault"]
    vault["tls"] = {"local": {"ca_cert": "vault-ca.crt"}}
    vault["policies"] = {
        "readonly": [{"path": "secret/data/*", "capabilities": ["read"]}],
        "prometheus-monitoring": [{"path": "sys/metrics", "capabilities": ["read"]}],
    }
    vault["kubernetes_auth"] = {
        "host": kube_url,
        "ca_cert": "k8s-ca.crt",
        "roles": {
            "external-secrets": {
                "service_accounts": ["external-secrets"],
                "namespaces": ["external-secrets", "team-a"],
                "policies": ["readonly"],
                "audience": "vault",
            },
            "prometheus": {
                "service_accounts": ["kube-prometheus-stack-prometheus"],
                "namespaces": ["kube-prom-stack"],
                "policies": ["prometheus-monitoring"],
            },
        },
    }
    data["kubernetes"] = {
        "gitops": "plain",
        "external_secrets": {
            "stores": [
                {"name": "vault-backend", "path": "secret", "role": "external-secrets"},
                {
                    "name": "team-a",
                    "kind": "SecretStore",
                    "namespace": "team-a",
                    "path": "secret",
                    "role": "external-secrets",
                },
            ],
            "secrets": [
                {
                    "name": "gitea",
                    "namespace": "gitea",
                    "store": "vault-backend",
                    "data": {"password": "gitea/db#password", "user": "gitea/db#user"},
                },
                {
                    "name": "immich",
                    "namespace": "immich",
                    "store": "vault-backend",
                    "data_from": ["immich/db"],
                },
                {
                    "name": "team-db",
                    "namespace": "team-a",
                    "store": "team-a",
                    "data": {"url": "team-a/db#url"},
                    "data_from": ["team-a/config"],
                },
            ],
        },
    }
    data["monitoring"] = {"prometheus": {}}
    return data


@dataclass
class World:
    work: Path
    server: Server
    api: kube_api.KubeAPI
    root: str
    data: dict[str, Any]

    def spec(self, data: dict[str, Any], name: str) -> Path:
        return write_spec(self.work, data, name)

    def vault(self, command: str, spec: Path) -> tuple[int, str, str]:
        """``plan`` or ``apply --only vault`` of ``spec``, from its own compiled tree."""
        tree = self.work / "trees" / spec.stem
        compile_tree(Options(spec_path=spec, out_dir=tree))
        return self.cli(command, str(spec), "--tree", str(tree), "--only", "vault")

    def cli(self, *args: str) -> tuple[int, str, str]:
        env = {"VAULT_TOKEN": self.root, "BAO_TOKEN": None, "VAULT_ADDR": None}
        result = CliRunner().invoke(cli.main, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need("bao", "openssl")
    ca = make_ca(tmp_path_factory.mktemp("ca"))
    work = tmp_path_factory.mktemp("spec")
    for name in ("vault-ca.crt", "k8s-ca.crt"):
        shutil.copy(ca.cert, work / name)
    with ExitStack() as stack:
        api = stack.enter_context(kube_api.running(tmp_path_factory.mktemp("kube"), ca))
        data = good_spec(api.url)
        host = install(compile_data(work, data), "node1", work / "node1", ca)
        server = stack.enter_context(unsealed(host))
        assert server.root_token is not None
        client = server.client(server.root_token)
        world = World(work, server, api, server.root_token, data)
        code, _, err = world.vault("apply", world.spec(data, "picluster.yaml"))
        assert code == 0, err
        for key, value in VALUES.items():
            client.secrets.kv.v2.create_or_update_secret(key, secret=value, mount_point="secret")
        yield world
    show_logs()


# --- what the generated YAML says, and what ESO and the Vault Agent do with it --------------


def generated(build: Build) -> list[dict[str, Any]]:
    out = []
    for artifact in build.artifacts:
        if artifact.kind == "k8s":
            doc = yamlio.load(artifact.text, artifact.path).data
            if isinstance(doc, dict):
                out.append(doc)
    return out


def delegators(objects: list[dict[str, Any]], *, skip: str = "") -> set[tuple[str, str]]:
    """Who the generated bindings let create TokenReviews (system:auth-delegator)."""
    return {
        (s["namespace"], s["name"])
        for o in objects
        if o["kind"] == "ClusterRoleBinding"
        and o["roleRef"]["name"] == "system:auth-delegator"
        and o["metadata"]["name"] != skip
        for s in o["subjects"]
        if s["kind"] == "ServiceAccount"
    }


def issue(api: kube_api.KubeAPI, namespace: str, name: str, audiences: list[str]) -> str:
    """A service account token as the API server would issue it (projected layout)."""
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}"))
    now = int(time.time())
    claims = {
        "aud": audiences,
        "exp": now + 600,
        "iat": now,
        "iss": API_AUDIENCE,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }

    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    token = ".".join(
        [part({"alg": "RS256", "kid": "test"}), part(claims), part(secrets.token_bytes(64))]
    )
    api.accounts[token] = (namespace, name, uid, tuple(audiences))
    return token


def build_path(mount: str, version: str, key: str) -> str:
    """ESO's buildPath with the store's path set, after its own examples (client_get.go):
    'secret/path/foo' on store path 'secret/path' reads 'secret/path/data/foo' (v2)."""
    rest = key
    if rest.startswith(mount + "/"):
        rest = rest[len(mount) + 1 :]
        if version == "v2" and rest.startswith("data/"):
            rest = rest[len("data/") :]
    return f"{mount}/data/{rest}" if version == "v2" else f"{mount}/{rest}"


@dataclass(frozen=True)
class Outcome:
    secret: str  # namespace/name
    entry: str  # "data.password" or "dataFrom[0]"
    path: str
    status: int
    value: Any = None


def login(server_url: str, ca: Path, mount: str, role: str, jwt: str) -> tuple[int, str | None]:
    answer = requests.post(
        f"{server_url}/v1/auth/{mount}/login",
        json={"role": role, "jwt": jwt},
        verify=str(ca),
        timeout=10,
    )
    token = answer.json()["auth"]["client_token"] if answer.ok else None
    return answer.status_code, token


def eso_sync(world: World, objects: list[dict[str, Any]], tmp: Path) -> list[Outcome]:
    """Every store's login, then every ExternalSecret entry read, as ESO would."""
    stores: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for o in objects:
        if o["kind"] in ("ClusterSecretStore", "SecretStore"):
            stores[(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))] = o
    tokens: dict[tuple[str, str, str | None], tuple[int, str | None, str, Path]] = {}
    for where, store in stores.items():
        vault = store["spec"]["provider"]["vault"]
        ca = tmp / f"ca-{where[1]}.pem"
        ca.write_bytes(base64.b64decode(vault["caBundle"]))
        auth = vault["auth"]["kubernetes"]
        account = auth["serviceAccountRef"]
        namespace = account.get("namespace") if where[0] == "ClusterSecretStore" else where[2]
        assert namespace is not None, where  # a SecretStore is namespaced; picluster says so
        token = issue(
            world.api, namespace, account["name"], account.get("audiences") or [API_AUDIENCE]
        )
        status, vault_token = login(vault["server"], ca, auth["mountPath"], auth["role"], token)
        if vault_token is not None:
            # checkToken: ESO looks its token up before using it.
            looked = requests.get(
                f"{vault['server']}/v1/auth/token/lookup-self",
                headers={"X-Vault-Token": vault_token},
                verify=str(ca),
                timeout=10,
            )
            assert looked.status_code == 200, looked.text
        tokens[where] = (status, vault_token, vault["server"], ca)
    out = []
    for o in objects:
        if o["kind"] != "ExternalSecret":
            continue
        name = f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        ref = o["spec"]["secretStoreRef"]
        scope: str | None = o["metadata"]["namespace"] if ref["kind"] == "SecretStore" else None
        store = stores[(ref["kind"], ref["name"], scope)]
        vault = store["spec"]["provider"]["vault"]
        status, vault_token, url, ca = tokens[(ref["kind"], ref["name"], scope)]
        entries = [
            (f"data.{d['secretKey']}", d["remoteRef"]["key"], d["remoteRef"].get("property"))
            for d in o["spec"].get("data", [])
        ]
        entries += [
            (f"dataFrom[{i}]", d["extract"]["key"], None)
            for i, d in enumerate(o["spec"].get("dataFrom", []))
        ]
        for entry, key, prop in entries:
            path = build_path(vault["path"], vault["version"], key)
            if vault_token is None:
                out.append(Outcome(name, entry, path, status))
                continue
            answer = requests.get(
                f"{url}/v1/{path}",
                headers={"X-Vault-Token": vault_token},
                verify=str(ca),
                timeout=10,
            )
            value = None
            if answer.ok:
                body = answer.json()["data"]
                data = body["data"] if vault["version"] == "v2" else body
                value = data.get(prop) if prop else data
            out.append(Outcome(name, entry, path, answer.status_code, value))
    return out


def build_of(world: World, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Build:
    """What the spec compiles to with the access checks bypassed (this test only)."""
    with monkeypatch.context() as patch:
        patch.setattr(checks, "problems", lambda spec, doc: [])
        return compile_data(world.work, data)


def apply_anyway(world: World, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    path = world.spec(data, "anyway.yaml")
    with monkeypatch.context() as patch:
        patch.setattr(checks, "problems", lambda spec, doc: [])
        code, _, err = world.vault("apply", path)
    assert code == 0, err


def refused_paths(world: World, data: dict[str, Any]) -> dict[str, str]:
    """validate's refusals: dotted entry -> the API path it names."""
    code, _, err = world.cli("validate", str(world.spec(data, "refused.yaml")))
    assert code == 2, err
    out = {}
    for line in err.splitlines():
        found = re.search(
            r": (kubernetes\.external_secrets\.secrets\[\d+\]\S*): .* cannot read (\S+):", line
        )
        assert found, line
        out[found.group(1)] = found.group(2)
    return out


def dotted(data: dict[str, Any], outcome: Outcome) -> str:
    names = [
        f"{s['namespace']}/{s['name']}" for s in data["kubernetes"]["external_secrets"]["secrets"]
    ]
    j = names.index(outcome.secret)
    secret = data["kubernetes"]["external_secrets"]["secrets"][j]
    if outcome.entry.startswith("data."):
        return f"kubernetes.external_secrets.secrets[{j}].{outcome.entry}"
    k = int(outcome.entry.removeprefix("dataFrom[").removesuffix("]"))
    assert secret["data_from"][k]
    return f"kubernetes.external_secrets.secrets[{j}].data_from[{k}]"


def expected_value(data: dict[str, Any], outcome: Outcome) -> Any:
    key_of = {
        f"{s['namespace']}/{s['name']}": s
        for s in data["kubernetes"]["external_secrets"]["secrets"]
    }
    secret = key_of[outcome.secret]
    if outcome.entry.startswith("data."):
        ref = secret["data"][outcome.entry.removeprefix("data.")]
        key, _, prop = ref.partition("#")
        return VALUES[key.removeprefix("secret/")][prop]
    k = int(outcome.entry.removeprefix("dataFrom[").removesuffix("]"))
    return VALUES[secret["data_from"][k]]


# --- the tests --------------------------------------------------------------------------------


def test_every_generated_external_secret_reads_its_values(world: World, tmp_path: Path) -> None:
    objects = generated(compile_data(world.work, world.data))
    world.api.delegators = delegators(objects)
    world.api.reviews.clear()
    outcomes = eso_sync(world, objects, tmp_path)
    assert len(outcomes) == 5  # gitea: 2 data, immich: 1 dataFrom, team-db: 1 + 1
    for outcome in outcomes:
        assert outcome.status == 200, outcome
        assert outcome.value == expected_value(world.data, outcome), outcome
    # Each login was reviewed with its own token (no reviewer JWT), for the role's audience.
    assert {tuple(r["spec"]["audiences"]) for r in world.api.reviews} == {("vault",)}


def test_prometheus_scrapes_with_the_agent_token(world: World) -> None:
    """The Vault Agent's login from the generated pod annotations (role, auth-path); the
    service account is the chart's Prometheus one, as the spec names it."""
    build = compile_data(world.work, world.data)
    world.api.delegators = delegators(generated(build))
    [chart] = [a for a in build.artifacts if a.path.endswith("kube-prometheus-stack/values.yaml")]
    values = yamlio.load(chart.text, chart.path).data
    annotations = values["prometheus"]["prometheusSpec"]["podMetadata"]["annotations"]
    token = issue(world.api, "kube-prom-stack", "kube-prometheus-stack-prometheus", [API_AUDIENCE])
    mount = annotations["vault.hashicorp.com/auth-path"].removeprefix("auth/")
    role = annotations["vault.hashicorp.com/role"]
    status, vault_token = login(world.server.url, Path(world.server.ca), mount, role, token)
    assert (status, vault_token is not None) == (200, True)
    metrics = requests.get(
        f"{world.server.url}/v1/sys/metrics",
        params={"format": "prometheus"},
        headers={"X-Vault-Token": vault_token or ""},
        verify=world.server.ca,
        timeout=10,
    )
    assert metrics.status_code == 200


@pytest.mark.parametrize(
    "mistake",
    ["role-covers-one-app", "kv2-rule-without-data", "misspelt-folder"],
)
def test_each_refused_entry_is_exactly_a_403(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str
) -> None:
    data = copy.deepcopy(world.data)
    rules = {
        "role-covers-one-app": ["secret/data/gitea/*"],
        "kv2-rule-without-data": ["secret/gitea/*", "secret/immich/*", "secret/team-a/*"],
        "misspelt-folder": ["secret/data/gitea/*", "secret/data/imich/*", "secret/data/team-a/*"],
    }[mistake]
    data["vault"]["policies"]["readonly"] = [{"path": p, "capabilities": ["read"]} for p in rules]
    predicted = refused_paths(world, data)
    apply_anyway(world, data, monkeypatch)
    try:
        objects = generated(build_of(world, data, monkeypatch))
        world.api.delegators = delegators(objects)
        outcomes = eso_sync(world, objects, tmp_path)
        forbidden = {dotted(data, o): o.path for o in outcomes if o.status == 403}
        assert forbidden == predicted
        assert forbidden, "the mistake refuses something"
        for outcome in outcomes:
            if outcome.status != 403:
                assert (outcome.status, outcome.value) == (200, expected_value(data, outcome))
        # plan, read-only against this server: what fails now, which the good spec fixes.
        code, out, err = world.vault("plan", world.spec(world.data, "good.yaml"))
        assert code == 0, err
        failing_now = {o.secret for o in outcomes if o.status == 403}
        noted = re.findall(r"note: access: ExternalSecret (\S+) cannot read (\S+).* now \(", out)
        assert {name for name, _ in noted} == failing_now
        assert {path for _, path in noted} <= set(forbidden.values())
        assert "it can after the apply" in out
        assert "warning" not in out
    finally:
        apply_anyway(world, world.data, monkeypatch)


def test_a_key_with_the_mount_in_front_reads_the_key_without_it(
    world: World, tmp_path: Path
) -> None:
    """validate warns, naming the path ESO reads; the server gives that path's value, not the
    one stored at the key as written."""
    data = copy.deepcopy(world.data)
    data["kubernetes"]["external_secrets"]["secrets"][0]["data"] = {
        "password": "secret/gitea/db#password"
    }
    code, _, err = world.cli("validate", str(world.spec(data, "prefixed.yaml")))
    assert code == 0, err
    assert "reads secret/data/gitea/db, never a key 'secret/gitea/db' inside the mount" in err
    objects = generated(compile_data(world.work, data))
    world.api.delegators = delegators(objects)
    [outcome] = [o for o in eso_sync(world, objects, tmp_path) if o.secret == "gitea/gitea"]
    assert (outcome.path, outcome.status) == ("secret/data/gitea/db", 200)
    assert outcome.value == VALUES["gitea/db"]["password"]
    assert outcome.value != VALUES["secret/gitea/db"]["password"]


def test_without_the_login_binding_every_login_is_refused(world: World, tmp_path: Path) -> None:
    """No reviewer JWT: Vault reviews each login with its own token. The generated binding
    names every account that logs in; without it (the manifests before this check) each
    TokenReview is forbidden and Vault answers the login 403."""
    objects = generated(compile_data(world.work, world.data))
    bound = delegators(objects)
    assert {("external-secrets", "external-secrets"), ("team-a", "external-secrets"),
            ("kube-prom-stack", "kube-prometheus-stack-prometheus")} <= bound  # fmt: skip
    world.api.delegators = delegators(objects, skip="vault-login-tokenreview")
    outcomes = eso_sync(world, objects, tmp_path)
    assert {o.status for o in outcomes} == {403}


def test_an_audience_the_agent_cannot_send_is_a_refused_login(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(world.data)
    data["vault"]["kubernetes_auth"]["roles"]["prometheus"]["audience"] = "vault"
    code, _, err = world.cli("validate", str(world.spec(data, "audience.yaml")))
    assert code == 2
    assert (
        "vault.kubernetes_auth.roles.prometheus.audience: role 'prometheus' wants audience 'vault'"
        in err
    )
    apply_anyway(world, data, monkeypatch)
    try:
        world.api.delegators = delegators(generated(compile_data(world.work, world.data)))
        token = issue(
            world.api, "kube-prom-stack", "kube-prometheus-stack-prometheus", [API_AUDIENCE]
        )
        status, _ = login(
            world.server.url, Path(world.server.ca), "kubernetes", "prometheus", token
        )
        assert status == 403
    finally:
        apply_anyway(world, world.data, monkeypatch)

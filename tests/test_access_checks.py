"""What ``validate`` proves with the access model, beyond the refusals of tests/bad_specs/: the
warnings (a key that starts with the store's mount, a login nobody can review), the TokenReview
bindings the manifests carry without a reviewer JWT, and the reference spec passing.

Expected values come from the sources the checks port: ESO's buildPath (a leading
``<mount>/`` is dropped from the key), the kubernetes auth plugin's token_review.go (without a
reviewer JWT the logging-in token is the bearer of its own TokenReview).
"""

from __future__ import annotations

import copy
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler import check, yamlio
from compiler.access.checks import TYPO_CANDIDATES
from compiler.access.usage import API_SERVER_AUDIENCES
from compiler.cli import main
from compiler.errors import SpecError
from compiler.pipeline import build
from tests.support import REFERENCE, ROOT, compile_data, write_spec


def reference_data() -> dict[str, Any]:
    data = yamlio.load(REFERENCE.read_text(), "picluster.yaml").data
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def validate(tmp_path: Path, data: dict[str, Any]) -> tuple[int, list[str]]:
    shutil.copytree(ROOT / "pki", tmp_path / "pki", dirs_exist_ok=True)
    write_spec(tmp_path, data)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "picluster.yaml")])
    return result.exit_code, result.stderr.splitlines()


def test_the_reference_spec_reads_everything_it_asks_for(tmp_path: Path) -> None:
    code, lines = validate(tmp_path, reference_data())
    assert code == 0
    assert lines[-1].endswith("picluster.yaml: ok")
    assert not [line for line in lines if "cannot" in line or "mount" in line]


@pytest.mark.parametrize("key", ["secret/secret1", "secret/data/secret1"])
def test_a_key_that_starts_with_the_mount_is_read_without_it(tmp_path: Path, key: str) -> None:
    """README's 'kv/key#property' wording invited writing the mount: ESO reads
    secret/data/secret1 for 'secret/secret1', which the policy allows (so no refusal), but a
    secret stored at 'secret/secret1' inside the mount is never the one read. On a KV v2 store
    ESO's buildPath also drops a 'data/' after the mount."""
    data = reference_data()
    secret = data["kubernetes"]["external_secrets"]["secrets"][0]
    secret["data"] = {"password": f"{key}#password"}
    code, lines = validate(tmp_path, data)
    assert code == 0
    path = tmp_path / "picluster.yaml"
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if key in text)
    column = path.read_text().splitlines()[line - 1].index(key) + 1
    assert (
        f"{path}:{line}:{column}: kubernetes.external_secrets.secrets[0].data.password: warning: "
        f"the key {key!r} starts with the store's mount 'secret': ESO drops it and "
        f"reads secret/data/secret1, never a key {key!r} inside the mount; did you "
        "mean 'secret1'?"
    ) in lines


def test_without_a_kubernetes_section_nobody_binds_the_logins(tmp_path: Path) -> None:
    data = reference_data()
    del data["kubernetes"], data["monitoring"]
    del data["vault"]["kubernetes_auth"]["token_reviewer_jwt"]
    code, lines = validate(tmp_path, data)
    assert code == 0
    assert any(
        line.endswith(
            "vault.kubernetes_auth: warning: without token_reviewer_jwt, Vault reviews each "
            "login with the logging-in token itself, so every service account that logs in "
            "needs the ClusterRole system:auth-delegator; with no kubernetes section picluster "
            "generates no binding: bind them yourself, or set token_reviewer_jwt"
        )
        for line in lines
    )


def _bindings(tmp_path: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    shutil.copytree(ROOT / "pki", tmp_path / "pki", dirs_exist_ok=True)
    out = []
    for artifact in compile_data(tmp_path, data).artifacts:
        if artifact.kind == "k8s":
            doc = yamlio.load(artifact.text, artifact.path).data
            if doc["kind"] == "ClusterRoleBinding":
                out.append(doc)
    return out


def test_with_a_reviewer_jwt_only_the_reviewer_is_a_delegator(tmp_path: Path) -> None:
    [binding] = _bindings(tmp_path, reference_data())
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "vault-auth", "namespace": "vault"}
    ]


def test_without_a_reviewer_jwt_every_login_is_a_delegator(tmp_path: Path) -> None:
    """The reference spec's logins: ESO's account (role external-secrets), Prometheus' (role
    prometheus), and a SecretStore's account in its own namespace, added to the role."""
    data = reference_data()
    del data["vault"]["kubernetes_auth"]["token_reviewer_jwt"]
    roles = data["vault"]["kubernetes_auth"]["roles"]
    roles["external-secrets"]["namespaces"].append("team-a")
    eso = data["kubernetes"]["external_secrets"]
    eso["stores"].append(
        {
            "name": "team-a",
            "kind": "SecretStore",
            "namespace": "team-a",
            "path": "secret",
            "role": "external-secrets",
        }
    )
    bindings = {b["metadata"]["name"]: b for b in _bindings(tmp_path, data)}
    logins = bindings["vault-login-tokenreview"]
    assert logins["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert logins["subjects"] == [
        {"kind": "ServiceAccount", "name": "external-secrets", "namespace": "external-secrets"},
        {
            "kind": "ServiceAccount",
            "name": "kube-prometheus-stack-prometheus",
            "namespace": "kube-prom-stack",
        },
        {"kind": "ServiceAccount", "name": "external-secrets", "namespace": "team-a"},
    ]


def test_the_large_bench_spec_passes(tmp_path: Path) -> None:
    """bench/compile_bench.py's spec is valid: its store's role reads every app's secrets."""
    large_spec = runpy.run_path(str(ROOT / "bench" / "compile_bench.py"))["large_spec"]
    build(write_spec(tmp_path, large_spec(3)))


# --- the hints of a refusal, and the findings that are not refusals ------------------------

STORE_ROLE = "role 'external-secrets' (store 'vault-backend')"


def _store_spec(rules: list[dict[str, Any]], keys: list[str], version: int = 2) -> dict[str, Any]:
    """One KV mount ``kv``, one role with policy ``apps`` (``rules``), one store, and one
    ExternalSecret per key (a ``data_from`` extract: ESO reads ``kv/data/<key>`` on KV v2)."""
    role = {
        "service_accounts": ["external-secrets"],
        "namespaces": ["external-secrets"],
        "policies": ["apps"],
    }
    store = {"name": "vault-backend", "path": "kv", "kv_version": version}
    return {
        "vault": {
            "version": "1.18.3",
            "nodes": [{"name": "node1", "address": "10.0.0.11"}],
            "secrets_engines": [{"path": "kv", "version": version}],
            "policies": {"apps": rules},
            "kubernetes_auth": {
                "host": "https://10.0.0.10:6443",
                "roles": {"external-secrets": role},
            },
        },
        "kubernetes": {
            "external_secrets": {
                "stores": [{**store, "role": "external-secrets"}],
                "secrets": [
                    {
                        "name": f"s{i}",
                        "namespace": "apps",
                        "store": "vault-backend",
                        "data_from": [key],
                    }
                    for i, key in enumerate(keys)
                ],
            }
        },
    }


def _findings(data: dict[str, Any]) -> list[str]:
    """The messages of the spec's problems, or of its warnings when it is valid."""
    doc = yamlio.load(yamlio.dump(data).decode(), "picluster.yaml")
    try:
        return [p.message for p in check.validate(doc)[1]]
    except SpecError as exc:
        return [p.message for p in exc.problems]


def _refusal(path: str, hint: str = "") -> str:
    return (
        f"{STORE_ROLE} cannot read {path}: no rule matches; grant 'read' on {path!r} in "
        f"policy 'apps'{hint}"
    )


def _rule(path: str, *capabilities: str) -> dict[str, Any]:
    return {"path": path, "capabilities": list(capabilities or ["read"])}


@pytest.mark.parametrize(
    ("rules", "folder", "hint"),
    [
        # An exact path, as long as the one read.
        (
            ["kv/data/imich/db"],
            "immich",
            "the rule 'kv/data/imich/db' is close: 'imich' for 'immich'",
        ),
        # A rule longer than the path, then one that differs in two folders, come first.
        (
            ["kv/data/aa/bb/cc/dd", "kv/data/aa/bb/*", "kv/data/imich/*"],
            "immich",
            "the rule 'kv/data/imich/*' is close: 'imich' for 'immich'",
        ),
        # One letter in five: difflib's ratio is exactly 0.8 (TYPO_RATIO), taken for a typo.
        (["kv/data/gitee/*"], "gitea", "the rule 'kv/data/gitee/*' is close: 'gitee' for 'gitea'"),
        # A folder that ends in 'X' keeps it (only the trailing '/' goes).
        (
            ["kv/data/immichX/*"],
            "immich",
            "the rule 'kv/data/immichX/*' is close: 'immichX' for 'immich'",
        ),
    ],
    ids=["exact-path", "after-rules-that-do-not-fit", "ratio-0.8", "folder-ending-in-X"],
)
def test_a_misspelt_folder_is_hinted(rules: list[str], folder: str, hint: str) -> None:
    data = _store_spec([_rule(r) for r in rules], [f"{folder}/db"])
    assert _findings(data) == [_refusal(f"kv/data/{folder}/db", f" ({hint}?)")]


def test_folders_that_differ_in_their_digits_are_no_typo_but_the_next_rule_may_be() -> None:
    """app-0 is not a misspelt app-1; appp-1 is."""
    data = _store_spec([_rule("kv/data/app-0/*"), _rule("kv/data/appp-1/*")], ["app-1/db"])
    hint = " (the rule 'kv/data/appp-1/*' is close: 'appp-1' for 'app-1'?)"
    assert _findings(data) == [_refusal("kv/data/app-1/db", hint)]


@pytest.mark.parametrize(
    ("fillers", "hinted"), [(TYPO_CANDIDATES - 1, True), (TYPO_CANDIDATES, False)]
)
def test_a_role_with_more_rules_than_the_typo_limit_gets_no_hint(
    fillers: int, hinted: bool
) -> None:
    rules = [_rule(f"other/app-{n}/*") for n in range(fillers)] + [_rule("kv/data/imich/*")]
    hint = " (the rule 'kv/data/imich/*' is close: 'imich' for 'immich'?)" if hinted else ""
    assert _findings(_store_spec(rules, ["immich/db"])) == [_refusal("kv/data/immich/db", hint)]


def test_a_v1_rule_that_does_not_grant_read_is_no_missing_data_hint() -> None:
    """The KV v2 hint names a rule that would have granted the read on KV v1: one that only
    lists does not."""
    data = _store_spec([_rule("kv/gitea/*", "list")], ["gitea/db"])
    assert _findings(data) == [_refusal("kv/data/gitea/db")]


def test_a_kv_v1_store_gets_no_kv_v2_hint() -> None:
    """On KV v1 ESO drops the mount from 'kv/gitea' and reads kv/gitea (buildPath); the rule
    'kv/kv/*' was written for a key 'kv/gitea' inside the mount, and has nothing to do with
    data/."""
    data = _store_spec([_rule("kv/kv/*")], ["kv/gitea"], version=1)
    assert _findings(data) == [_refusal("kv/gitea")]


def test_a_templated_rule_that_may_grant_the_read_is_a_warning() -> None:
    """Vault fills an identity template per token at login (policy templating): the spec alone
    cannot say what it grants."""
    data = _store_spec([_rule("kv/data/{{identity.entity.name}}/*")], ["immich/db"])
    found = _findings(data)
    assert (
        f"warning: {STORE_ROLE} cannot read kv/data/immich/db unless a templated rule grants "
        "it at login"
    ) in found
    assert not [m for m in found if "cannot" in m and not m.startswith("warning:")]


@pytest.mark.parametrize("audience", API_SERVER_AUDIENCES)
def test_prometheus_role_may_want_the_api_servers_audience(tmp_path: Path, audience: str) -> None:
    """The Vault Agent's token is the pod's own, whose audience is the API server's."""
    data = reference_data()
    data["vault"]["kubernetes_auth"]["roles"]["prometheus"]["audience"] = audience
    code, lines = validate(tmp_path, data)
    assert code == 0
    assert not [line for line in lines if "audience" in line]


def test_a_reviewer_jwt_without_a_kubernetes_section_is_not_warned_of(tmp_path: Path) -> None:
    data = reference_data()
    del data["kubernetes"], data["monitoring"]
    code, lines = validate(tmp_path, data)
    assert code == 0
    assert not [line for line in lines if "token_reviewer_jwt" in line]


def test_without_a_reviewer_jwt_the_kubernetes_section_binds_the_logins(tmp_path: Path) -> None:
    data = reference_data()
    del data["vault"]["kubernetes_auth"]["token_reviewer_jwt"]
    code, lines = validate(tmp_path, data)
    assert code == 0
    assert not [line for line in lines if "token_reviewer_jwt" in line]

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

from compiler import yamlio
from compiler.cli import main
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
        "vault.kubernetes_auth: warning: without token_reviewer_jwt, Vault reviews each login "
        "with the logging-in token itself" in line
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

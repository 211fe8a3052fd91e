"""The Kubernetes repository: what each GitOps flavour lays out, and the procedure's mistakes."""

from __future__ import annotations

import base64
import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler import yamlio
from compiler.pipeline import Build, build
from tests.support import REFERENCE, ROOT, compile_data

CA_FILE = ROOT / "pki" / "vault-ca.crt"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterSecretStore"}


def reference_data() -> dict[str, Any]:
    data = yamlio.load(REFERENCE.read_text(), "picluster.yaml").data
    assert isinstance(data, dict)
    return data


def flavour(tmp_path: Path, gitops: str, **changes: Any) -> Build:
    """The reference spec with another GitOps flavour (and the CA copied beside it)."""
    data = copy.deepcopy(reference_data())
    data["kubernetes"]["gitops"] = gitops
    data["kubernetes"].update(changes)
    shutil.copytree(ROOT / "pki", tmp_path / "pki", dirs_exist_ok=True)
    return compile_data(tmp_path, data)


def objects(b: Build) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for a in b.artifacts:
        if a.kind in ("k8s", "kustomization"):
            docs = yamlio.load(a.text, a.path).data
            out.append((a.path, docs))
    return out


@pytest.fixture(scope="module")
def ref() -> Build:
    return build(REFERENCE)


def test_flux_layout_has_a_kustomization_per_directory_and_one_tying_them(ref: Build) -> None:
    paths = {a.path for a in ref.artifacts if a.path.startswith("kubernetes/")}
    apps = [
        "external-secrets",
        "external-secrets-config",
        "grafana",
        "kube-prometheus-stack",
        "vault",
    ]
    for app in apps:
        assert f"kubernetes/{app}/kustomization.yaml" in paths
        assert f"kubernetes/flux/{app}.yaml" in paths
    assert "kubernetes/flux/kustomization.yaml" in paths
    flux = dict(objects(ref))["kubernetes/flux/external-secrets-config.yaml"]
    assert flux["spec"]["dependsOn"] == [{"name": "picluster-external-secrets"}]
    assert flux["spec"]["path"] == "./out/kubernetes/external-secrets-config"


def test_every_kustomization_lists_exactly_the_files_of_its_directory(ref: Build) -> None:
    by_dir: dict[str, set[str]] = {}
    for a in ref.artifacts:
        if a.path.startswith("kubernetes/") and not a.path.endswith("kustomization.yaml"):
            directory, name = a.path.rsplit("/", 1)
            by_dir.setdefault(directory, set()).add(name)
    for path, doc in objects(ref):
        if path.endswith("kustomization.yaml"):
            directory = path.rsplit("/", 1)[0]
            assert sorted(doc["resources"]) == sorted(by_dir[directory]), path


def test_no_namespace_on_cluster_scoped_objects_in_any_flavour(tmp_path: Path) -> None:
    for gitops in ("flux", "argocd", "plain"):
        for path, doc in objects(flavour(tmp_path / gitops, gitops)):
            if doc.get("kind") in CLUSTER_SCOPED:
                assert "namespace" not in doc["metadata"], path
            elif doc.get("kind") != "Kustomization" or "metadata" in doc:
                assert doc["metadata"].get("namespace"), path


def test_eso_objects_use_the_served_api_version(ref: Build) -> None:
    docs = dict(objects(ref))
    store = docs["kubernetes/external-secrets-config/clustersecretstore-vault-backend.yaml"]
    secret = docs["kubernetes/external-secrets-config/externalsecret-default-vault-example.yaml"]
    assert store["apiVersion"] == secret["apiVersion"] == "external-secrets.io/v1"
    assert "external-secrets.io/v1beta1" not in "".join(a.text for a in ref.artifacts)


def test_store_carries_the_ca_and_an_explicit_service_account(ref: Build) -> None:
    docs = dict(objects(ref))
    vault = docs["kubernetes/external-secrets-config/clustersecretstore-vault-backend.yaml"][
        "spec"
    ]["provider"]["vault"]
    assert base64.b64decode(vault["caBundle"]) == CA_FILE.read_bytes()
    assert vault["server"] == "https://vault.homelab.example.com:8200"
    assert (vault["path"], vault["version"]) == ("secret", "v2")
    assert vault["auth"]["kubernetes"] == {
        "mountPath": "kubernetes",
        "role": "external-secrets",
        "serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"},
    }


def test_external_secret_is_the_procedures(ref: Build) -> None:
    docs = dict(objects(ref))
    spec = docs["kubernetes/external-secrets-config/externalsecret-default-vault-example.yaml"][
        "spec"
    ]
    assert spec["secretStoreRef"] == {"name": "vault-backend", "kind": "ClusterSecretStore"}
    assert spec["target"]["name"] == "mysecret"
    assert spec["data"] == [
        {"secretKey": "password", "remoteRef": {"key": "secret1", "property": "password"}},
        {"secretKey": "user", "remoteRef": {"key": "secret1", "property": "user"}},
    ]


def test_prometheus_verifies_tls_with_the_ca(ref: Build) -> None:
    text = "".join(a.text for a in ref.artifacts)
    assert "tls-skip-verify" not in text
    assert "insecure_skip_verify" not in text
    docs = dict(objects(ref))
    values = docs["kubernetes/kube-prometheus-stack/helmrelease-kube-prometheus-stack.yaml"][
        "spec"
    ]["values"]["prometheus"]["prometheusSpec"]
    notes = values["podMetadata"]["annotations"]
    assert notes["vault.hashicorp.com/role"] == "prometheus"
    assert notes["vault.hashicorp.com/agent-inject-token"] == "true"
    assert notes["vault.hashicorp.com/agent-run-as-group"] == "2000"
    assert notes["vault.hashicorp.com/tls-secret"] == "vault-ca"
    assert notes["vault.hashicorp.com/ca-cert"] == "/vault/tls/ca.crt"
    (job,) = values["additionalScrapeConfigs"]
    assert job["scheme"] == "https"
    assert job["metrics_path"] == "/v1/sys/metrics"
    assert job["tls_config"] == {"ca_file": "/etc/prometheus/secrets/vault-ca/ca.crt"}
    assert job["authorization"] == {"credentials_file": "/vault/secrets/token"}
    assert values["secrets"] == ["vault-ca"]
    ca = docs["kubernetes/kube-prometheus-stack/secret-vault-ca.yaml"]
    assert ca["stringData"]["ca.crt"].encode() == CA_FILE.read_bytes()


def test_no_secret_value_lands_in_out(ref: Build) -> None:
    """The only Secrets are the token Secret (filled by Kubernetes) and the public CA."""
    for path, doc in objects(ref):
        if doc.get("kind") != "Secret":
            continue
        if doc["type"] == "kubernetes.io/service-account-token":
            assert set(doc) == {"apiVersion", "kind", "metadata", "type"}, path
        else:
            for value in doc["stringData"].values():
                assert value.startswith("-----BEGIN CERTIFICATE-----\n"), path
                assert "PRIVATE" not in value, path


def test_vault_chart_in_external_mode(ref: Build) -> None:
    values = dict(objects(ref))["kubernetes/vault/helmrelease-vault.yaml"]["spec"]["values"]
    assert values == {
        "global": {"externalVaultAddr": "https://vault.homelab.example.com:8200"},
        "injector": {"enabled": True},
    }


def test_auth_objects_come_from_manifests_or_the_chart_never_both(tmp_path: Path) -> None:
    auth = {
        "namespace": "vault",
        "service_account": "vault-auth",
        "token_secret": "vault-auth-secret",
    }
    by_chart = flavour(tmp_path / "a", "flux", vault_auth={**auth, "created_by": "chart"})
    kinds = {doc["kind"] for path, doc in objects(by_chart) if path.startswith("kubernetes/vault/")}
    assert not kinds & {"ServiceAccount", "ClusterRoleBinding", "Secret"}
    values = dict(objects(by_chart))["kubernetes/vault/helmrelease-vault.yaml"]["spec"]["values"]
    assert values["server"] == {
        "authDelegator": {"enabled": True},
        "serviceAccount": {"create": True, "name": "vault-auth", "createSecret": True},
    }

    by_manifests = flavour(tmp_path / "b", "flux", vault_auth={**auth, "created_by": "manifests"})
    docs = dict(objects(by_manifests))
    assert "server" not in docs["kubernetes/vault/helmrelease-vault.yaml"]["spec"]["values"]
    binding = docs["kubernetes/vault/clusterrolebinding-vault-auth-tokenreview.yaml"]
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "vault-auth", "namespace": "vault"}
    ]
    token = docs["kubernetes/vault/secret-vault-auth-secret.yaml"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "vault-auth"}


def test_argocd_applications_carry_the_chart_values_and_sync_in_order(tmp_path: Path) -> None:
    docs = dict(objects(flavour(tmp_path, "argocd")))
    app = docs["kubernetes/argocd/kube-prometheus-stack.yaml"]
    chart, git = app["spec"]["sources"]
    assert (chart["chart"], chart["targetRevision"]) == ("kube-prometheus-stack", "88.5.3")
    assert (
        "additionalScrapeConfigs" in chart["helm"]["valuesObject"]["prometheus"]["prometheusSpec"]
    )
    assert git == {
        "repoURL": "https://github.com/example/homelab.git",
        "targetRevision": "main",
        "path": "out/kubernetes/kube-prometheus-stack",
    }
    wave = "argocd.argoproj.io/sync-wave"
    eso = docs["kubernetes/argocd/external-secrets.yaml"]["metadata"]["annotations"][wave]
    config = docs["kubernetes/argocd/external-secrets-config.yaml"]["metadata"]["annotations"]
    assert int(config[wave]) > int(eso)


def test_plain_layout_writes_values_files_for_helm(tmp_path: Path) -> None:
    b = flavour(tmp_path, "plain")
    values = next(a for a in b.artifacts if a.path == "kubernetes/vault/values.yaml")
    assert values.kind == "helm-values"
    lines = values.text.splitlines()
    assert lines[1] == "# chart: https://helm.releases.hashicorp.com vault 0.34.1"
    assert lines[2].startswith("# helm upgrade --install vault vault --repo ")
    assert not any(
        a.path.startswith(("kubernetes/flux/", "kubernetes/argocd/")) for a in b.artifacts
    )
    assert "-f vault-values.yam " not in values.text
    assert not any("HelmRelease" in a.text for a in b.artifacts)


def test_chart_values_from_the_spec_merge_over_the_derived_ones(tmp_path: Path) -> None:
    data = copy.deepcopy(reference_data())
    data["kubernetes"]["injector"]["chart"]["values"] = {
        "injector": {"replicas": 2},
        "global": {"tlsDisable": False},
    }
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    docs = dict(objects(compile_data(tmp_path, data)))
    values = docs["kubernetes/vault/helmrelease-vault.yaml"]["spec"]["values"]
    assert values == {
        "global": {
            "externalVaultAddr": "https://vault.homelab.example.com:8200",
            "tlsDisable": False,
        },
        "injector": {"enabled": True, "replicas": 2},
    }


def test_an_injector_in_its_own_namespace_is_an_app_of_its_own(tmp_path: Path) -> None:
    """The auth objects stay in vault_auth's namespace; the chart goes where the injector
    runs, with that namespace made for it."""
    b = flavour(tmp_path, "plain", injector={"namespace": "vault-injector", "release": "vault"})
    paths = {a.path for a in b.artifacts if a.path.startswith("kubernetes/vault")}
    assert {p for p in paths if p.startswith("kubernetes/vault-injector/")} == {
        "kubernetes/vault-injector/kustomization.yaml",
        "kubernetes/vault-injector/namespace-vault-injector.yaml",
        "kubernetes/vault-injector/values.yaml",
    }
    assert "kubernetes/vault/values.yaml" not in paths
    assert "kubernetes/vault/serviceaccount-vault-auth.yaml" in paths


def test_without_an_injector_only_the_auth_objects_are_written(tmp_path: Path) -> None:
    """`injector: null` turns the chart off (the default is the chart's injector)."""
    data = copy.deepcopy(reference_data())
    data["kubernetes"]["injector"] = None
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    b = compile_data(tmp_path, data)
    kinds = {doc["kind"] for path, doc in objects(b) if path.startswith("kubernetes/vault/")}
    assert "HelmRelease" not in kinds
    assert {"Namespace", "ServiceAccount", "ClusterRoleBinding", "Secret"} <= kinds

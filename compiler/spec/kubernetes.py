"""The ``kubernetes`` and ``monitoring`` sections: what the cluster runs to consume Vault.

The Vault token-reviewer identity, the Vault chart in external mode (the Agent Injector), the
External Secrets Operator with its stores and ExternalSecrets, kube-prometheus-stack and Grafana,
and the GitOps flavour the output is laid out for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .types import Duration, Model, MountPath, Name, _matching

ChartVersion = Annotated[
    str,
    *_matching(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$", "a chart version such as 0.29.1"),
]

HttpsUrl = Annotated[
    str, *_matching(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s\"'`$\\]*)?$", "an https:// URL")
]

GitUrl = Annotated[
    str,
    *_matching(
        r"^(https://|ssh://)[^\s\"'`$\\]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s\"'`$\\]+$",
        "a git URL (https://, ssh:// or user@host:path)",
    ),
]

RepoPath = Annotated[
    str,
    *_matching(
        r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", "a relative path in the repository (no ..)"
    ),
]

SecretKey = Annotated[
    str, *_matching(r"^[-._a-zA-Z0-9]{1,253}$", "a Secret data key (letters, digits, - _ .)")
]

# "secret1#password": the KV key, then the property; a key alone takes the whole secret.
RemoteRef = Annotated[
    str,
    *_matching(
        r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*(#[A-Za-z0-9._-]+)?$",
        "a KV key such as app/db or app/db#password",
    ),
]

KVKey = Annotated[
    str, *_matching(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", "a KV key such as app/db")
]

DisplayText = Annotated[
    str, *_matching(r"^[^\x00-\x1f\x7f]{1,128}$", "1 to 128 characters, no control characters")
]


class Chart(Model):
    """A pinned Helm chart, and extra values merged over the ones picluster derives."""

    version: ChartVersion
    values: dict[str, Any] = Field(
        default={}, description="More chart values; checked against the chart's known keys."
    )


class Repository(Model):
    """Where the compiled tree is committed, for Flux and Argo CD to sync from."""

    url: GitUrl
    revision: Annotated[str, *_matching(r"^[A-Za-z0-9._/-]{1,128}$", "a branch or tag")] = "main"
    path: RepoPath = Field(default="out", description="The compiled tree's path in the repo.")
    flux_source: Name = Field(
        default="flux-system", description="The Flux GitRepository (in flux-system) to use."
    )


class VaultAuth(Model):
    """The service account whose token Vault uses to review Kubernetes tokens."""

    namespace: Name = "vault"
    service_account: Name = "vault-auth"
    token_secret: Name = "vault-auth-secret"  # noqa: S105 -- a Secret's name, not a value
    created_by: Literal["manifests", "chart"] = Field(
        default="manifests",
        description="manifests: picluster writes them; chart: the Vault chart creates them "
        "(server.authDelegator, serviceAccount.createSecret). Never both.",
    )


class Injector(Model):
    """The hashicorp/vault chart in external mode: only the Vault Agent Injector runs."""

    namespace: Name = "vault"
    release: Name = "vault"
    chart: Chart = Chart(version="0.34.1")


class Store(Model):
    """A ClusterSecretStore (or namespaced SecretStore) backed by a Vault KV mount."""

    name: Name
    kind: Literal["ClusterSecretStore", "SecretStore"] = "ClusterSecretStore"
    namespace: Name | None = Field(default=None, description="SecretStore only.")
    path: MountPath = Field(description="The KV mount, as in vault.secrets_engines.")
    kv_version: Literal[1, 2] = 2
    role: Name = Field(description="A role of vault.kubernetes_auth.roles.")
    service_account: Name | None = Field(
        default=None,
        description="The service account whose token logs in to Vault: for a "
        "ClusterSecretStore, default the operator's (in its namespace); for a SecretStore, one "
        "in the store's namespace (default: the operator's name).",
    )


class ExternalSecret(Model):
    name: Name
    namespace: Name
    store: Name = Field(description="The name of a store in external_secrets.stores.")
    target: Name | None = Field(default=None, description="The Secret to write; default: name.")
    refresh_interval: Duration = "1h"
    data: dict[SecretKey, RemoteRef] = Field(
        default={}, description="Secret key -> 'kv/key#property'."
    )
    data_from: list[KVKey] = Field(
        default=[], description="KV keys whose every property is copied."
    )


class ExternalSecrets(Model):
    """The External Secrets Operator, its stores and ExternalSecrets."""

    namespace: Name = "external-secrets"
    release: Name = "external-secrets"
    service_account: Name = "external-secrets"
    chart: Chart = Chart(version="2.9.0")
    stores: list[Store] = []
    secrets: list[ExternalSecret] = []


class Kubernetes(Model):
    gitops: Literal["flux", "argocd", "plain"] = "plain"
    repository: Repository | None = Field(default=None, description="Required for flux and argocd.")
    vault_auth: VaultAuth = VaultAuth()
    injector: Injector | None = Injector()
    external_secrets: ExternalSecrets | None = None


class Prometheus(Model):
    """kube-prometheus-stack: the Vault Agent on the Prometheus pod and the Vault scrape job."""

    namespace: Name = "kube-prom-stack"
    release: Name = "kube-prometheus-stack"
    service_account: Name = "kube-prometheus-stack-prometheus"
    role: Name = Field(default="prometheus", description="A role of vault.kubernetes_auth.roles.")
    run_as_group: int = Field(default=2000, ge=0, le=2147483647)
    scrape_interval: Duration = "60s"
    chart: Chart = Chart(version="88.5.3")


class Dashboard(Model):
    url: HttpsUrl
    datasource: DisplayText = "Prometheus"


class Grafana(Model):
    namespace: Name = "grafana"
    release: Name = "grafana"
    folder: DisplayText = "Infrastructure"
    provider: Name = "infrastructure"
    dashboards: dict[Name, Dashboard] = {}
    chart: Chart = Chart(version="12.11.1")


class Monitoring(Model):
    prometheus: Prometheus | None = None
    grafana: Grafana | None = None

"""The External Secrets Operator app, and the app of its stores and ExternalSecrets."""

from __future__ import annotations

import base64
from typing import Any

from ..crossref import store_identity
from ..inputs import Inputs
from ..spec import Spec
from ..spec.kubernetes import ExternalSecret, ExternalSecrets, Store
from .apps import App, Object, helm, namespace, obj, vault_url

API = "external-secrets.io/v1"


def build(spec: Spec, inputs: Inputs) -> list[App]:
    if spec.kubernetes is None or spec.kubernetes.external_secrets is None:
        return []
    eso = spec.kubernetes.external_secrets
    chart = helm(
        eso.chart,
        repo_name="external-secrets",
        repo_url="https://charts.external-secrets.io",
        name="external-secrets",
        release=eso.release,
        values={
            "installCRDs": True,
            "serviceAccount": {"create": True, "name": eso.service_account},
        },
    )
    apps = [App("external-secrets", eso.namespace, [namespace(eso.namespace)], chart)]
    manifests = [_store(spec, inputs, eso, s) for s in eso.stores]
    # A SecretStore logs in with a service account of its own namespace: make sure it exists.
    accounts = {store_identity(eso, s) for s in eso.stores if s.kind == "SecretStore"}
    manifests += [obj("v1", "ServiceAccount", name, ns) for name, ns in sorted(accounts)]
    manifests += [_external_secret(s, eso) for s in eso.secrets]
    if manifests:
        # The stores need the operator's CRDs: sync them after the operator.
        apps.append(
            App(
                "external-secrets-config",
                eso.namespace,
                manifests,
                depends_on=("external-secrets",),
            )
        )
    return apps


def _store(spec: Spec, inputs: Inputs, eso: ExternalSecrets, store: Store) -> Object:
    auth = spec.vault.kubernetes_auth
    assert auth is not None  # the cross-reference check guarantees it  # noqa: S101
    role = auth.roles[store.role]
    name, namespace = store_identity(eso, store)
    account: dict[str, Any] = {"name": name}
    if store.kind == "ClusterSecretStore":
        # Explicit: a ClusterSecretStore is used from every namespace.
        account["namespace"] = namespace
    if role.audience:
        account["audiences"] = [role.audience]
    vault: dict[str, Any] = {
        "server": vault_url(spec),
        "path": store.path,
        "version": f"v{store.kv_version}",
    }
    if inputs.ca_cert is not None:
        vault["caBundle"] = base64.b64encode(inputs.ca_cert).decode()
    vault["auth"] = {
        "kubernetes": {"mountPath": auth.path, "role": store.role, "serviceAccountRef": account}
    }
    return obj(API, store.kind, store.name, store.namespace, spec={"provider": {"vault": vault}})


def _external_secret(secret: ExternalSecret, eso: ExternalSecrets) -> Object:
    kind = next(s.kind for s in eso.stores if s.name == secret.store)
    body: dict[str, Any] = {
        "refreshInterval": secret.refresh_interval,
        "secretStoreRef": {"name": secret.store, "kind": kind},
        "target": {"name": secret.target or secret.name, "creationPolicy": "Owner"},
    }
    if secret.data:
        body["data"] = [
            {"secretKey": key, "remoteRef": _remote(ref)} for key, ref in secret.data.items()
        ]
    if secret.data_from:
        body["dataFrom"] = [{"extract": {"key": key}} for key in secret.data_from]
    return obj(API, "ExternalSecret", secret.name, secret.namespace, spec=body)


def _remote(ref: str) -> dict[str, str]:
    key, _, prop = ref.partition("#")
    return {"key": key, "property": prop} if prop else {"key": key}

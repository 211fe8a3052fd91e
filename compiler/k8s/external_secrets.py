"""The External Secrets Operator app, and the app of its stores and ExternalSecrets."""

from __future__ import annotations

import base64
from typing import Any

from ..model import Model, RemoteRef, SecretFacts, StoreFacts
from .apps import App, Object, helm, namespace, obj

API = "external-secrets.io/v1"


def build(model: Model) -> list[App]:
    spec = model.spec
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
    manifests = [_store(model, model.stores[s.name]) for s in eso.stores]
    # A SecretStore logs in with a service account of its own namespace: make sure it exists.
    accounts = {
        (f.account, f.namespace) for f in model.stores.values() if f.store.kind == "SecretStore"
    }
    manifests += [obj("v1", "ServiceAccount", name, ns) for name, ns in sorted(accounts)]
    manifests += [_external_secret(s) for s in model.secrets]
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


def _store(model: Model, facts: StoreFacts) -> Object:
    auth = model.spec.vault.kubernetes_auth
    assert auth is not None  # the cross-reference check guarantees it  # noqa: S101
    store = facts.store
    role = auth.roles[store.role]
    account: dict[str, Any] = {"name": facts.account}
    if store.kind == "ClusterSecretStore":
        # Explicit: a ClusterSecretStore is used from every namespace.
        account["namespace"] = facts.namespace
    if role.audience:
        account["audiences"] = [role.audience]
    vault: dict[str, Any] = {
        "server": model.vault_url,
        "path": store.path,
        "version": f"v{store.kv_version}",
    }
    if model.inputs.ca_cert is not None:
        vault["caBundle"] = base64.b64encode(model.inputs.ca_cert).decode()
    vault["auth"] = {
        "kubernetes": {"mountPath": auth.path, "role": store.role, "serviceAccountRef": account}
    }
    return obj(API, store.kind, store.name, store.namespace, spec={"provider": {"vault": vault}})


def _external_secret(facts: SecretFacts) -> Object:
    secret = facts.secret
    assert facts.store is not None  # the cross-reference check guarantees it  # noqa: S101
    body: dict[str, Any] = {
        "refreshInterval": secret.refresh_interval,
        "secretStoreRef": {"name": secret.store, "kind": facts.store.store.kind},
        "target": {"name": secret.target or secret.name, "creationPolicy": "Owner"},
    }
    if facts.data:
        body["data"] = [
            {"secretKey": key, "remoteRef": _remote(ref)} for key, ref in facts.data.items()
        ]
    if secret.data_from:
        body["dataFrom"] = [{"extract": {"key": key}} for key in secret.data_from]
    return obj(API, "ExternalSecret", secret.name, secret.namespace, spec=body)


def _remote(ref: RemoteRef) -> dict[str, str]:
    return {"key": ref.key, "property": ref.property} if ref.property else {"key": ref.key}

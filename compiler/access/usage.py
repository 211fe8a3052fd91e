"""Who logs in to Vault in a spec, with which role and token audience, and what each reads.

The consumers picluster generates: each ESO store (a ClusterSecretStore logs in with the
operator's service account in its namespace, or the one it names; a SecretStore with one of its
own namespace), and the Vault Agent the injector adds to the Prometheus pod. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ..model import Model, store_identity
from ..yamlio import Loc
from .consumers import (
    KVVersion,
    Request,
    eso_data,
    eso_extract,
    prometheus_metrics,
    token_upkeep,
)

ESO = "eso"
PROMETHEUS = "prometheus"

# What the Vault Agent logs in with: the injector gives it the pod's own service account token
# (/var/run/secrets/kubernetes.io/serviceaccount/token, Vault Agent's kubernetes auto-auth
# default) unless vault.hashicorp.com/agent-service-account-token-volume-name names a projected
# one, which picluster does not generate. That token's audience is the API server's own:
# kube-apiserver's --api-audiences, by default its --service-account-issuer, which kubeadm sets
# to https://kubernetes.default.svc.cluster.local; k3s adds "k3s".
API_SERVER_AUDIENCES = ("https://kubernetes.default.svc.cluster.local", "k3s")


class Login(NamedTuple):
    """A service account that logs in with ``role``, for ``consumer``.

    ``audiences``: the audiences of the token it sends; None for the API server's own (a
    token requested without audiences, or a pod's mounted one).
    """

    consumer: str  # ESO or PROMETHEUS
    name: str  # the store's name, or "Prometheus"
    account: str
    namespace: str
    role: str
    audiences: tuple[str, ...] | None
    loc: Loc  # where the spec names the role

    @property
    def who(self) -> str:
        return f"store {self.name!r}" if self.consumer == ESO else "Prometheus"


class Read(NamedTuple):
    """One request a login makes for the spec: an ExternalSecret's entry, or the scrape."""

    login: Login
    request: Request
    loc: Loc  # the entry that makes it
    secret: str | None = None  # namespace/name of the ExternalSecret
    key: str | None = None  # the KV key as written
    mount: str | None = None
    version: KVVersion = 2


def eso_audiences(audience: str | None) -> tuple[str, ...] | None:
    """What ESO's token carries for a store whose role expects ``audience``: picluster writes
    the role's audience into ``serviceAccountRef.audiences``, and ESO requests its token with
    exactly those (providers/v1/vault/auth.go, createServiceAccountToken); none given, the
    API server's own."""
    return (audience,) if audience else None


def logins(model: Model) -> list[Login]:
    """Every login the generated consumers make, in spec order (stores, then Prometheus).

    Only those whose role exists and whose identity is known (a SecretStore without its
    namespace is not), so a partly valid spec yields what can be said of it.
    """
    spec = model.spec
    auth = spec.vault.kubernetes_auth
    if auth is None:
        return []
    out: list[Login] = []
    k8s = spec.kubernetes
    eso = k8s.external_secrets if k8s is not None else None
    if eso is not None:
        for i, store in enumerate(eso.stores):
            role = auth.roles.get(store.role)
            if role is None or (store.kind == "SecretStore" and store.namespace is None):
                continue
            account, namespace = store_identity(eso, store)  # each store, duplicates too
            loc: Loc = ("kubernetes", "external_secrets", "stores", i, "role")
            out.append(
                Login(
                    ESO,
                    store.name,
                    account,
                    namespace,
                    store.role,
                    eso_audiences(role.audience),
                    loc,
                )
            )
    prom = spec.monitoring.prometheus if spec.monitoring is not None else None
    if prom is not None and prom.role in auth.roles:
        out.append(
            Login(
                PROMETHEUS,
                "Prometheus",
                prom.service_account,
                prom.namespace,
                prom.role,
                None,
                ("monitoring", "prometheus", "role"),
            )
        )
    return out


def reads(model: Model, every: list[Login] | None = None) -> Iterator[Read]:
    """Every request the logins make for the spec: each ExternalSecret's ``data`` and
    ``data_from`` entries through its store (in spec order), then Prometheus' scrape."""
    every = logins(model) if every is None else every
    by_store = {login.name: login for login in every if login.consumer == ESO}
    for facts in model.secrets:
        secret = facts.secret
        login = by_store.get(secret.store)
        if login is None or facts.store is None:
            continue
        store = facts.store.store
        if store.kind == "SecretStore" and store.namespace != secret.namespace:
            continue  # it cannot use that store at all (crossref says so)
        base: Loc = ("kubernetes", "external_secrets", "secrets", facts.index)
        name = f"{secret.namespace}/{secret.name}"
        version: KVVersion = store.kv_version
        for data_key, ref in facts.data.items():
            request = eso_data(store.path, version, ref.key)
            loc = (*base, "data", data_key)
            yield Read(login, request, loc, name, ref.key, store.path, version)
        for k, key in enumerate(secret.data_from):
            request = eso_extract(store.path, version, key)
            yield Read(login, request, (*base, "data_from", k), name, key, store.path, version)
    for login in every:
        if login.consumer == PROMETHEUS:
            yield Read(login, prometheus_metrics(), login.loc)


def upkeep(login: Login) -> tuple[Request, ...]:
    """What ``login``'s client does with its own token: ESO looks it up and revokes it; the
    Vault Agent renews it."""
    mine = "ESO" if login.consumer == ESO else "the Vault Agent"
    return tuple(r for r in token_upkeep() if r.what.startswith(mine))


def login_accounts(model: Model) -> list[tuple[str, str]]:
    """Every (namespace, service account) that may log in: each role's bound accounts in
    each of its namespaces, and each generated consumer's; sorted, without repeats."""
    auth = model.spec.vault.kubernetes_auth
    if auth is None:
        return []
    found = {
        (namespace, account)
        for role in auth.roles.values()
        for account in role.service_accounts
        for namespace in role.namespaces
    }
    found |= {(login.namespace, login.account) for login in logins(model)}
    return sorted(found)

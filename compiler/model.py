"""The facts every stage derives from a valid spec, computed once after check and handed to the
targets, the cross-reference checks and apply: where things are on a node, how each node is
reached, what the cluster and picluster call Vault, the out/ paths, the stores' identities, the
parsed remote references and the policies' text. No other module computes these.

Follow one value through: a node's ``address`` becomes ``NodeFacts.address`` (bracketed if
IPv6) and ``api_addr`` here; ``targets/server_config`` writes that into the HCL,
``k8s/external_secrets`` the ``vault_url`` into ESO's ``server:``, and ``apply/ssh`` logs in to
``node.ssh.host`` or that same address.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from .layout import Layout, layout, url_host
from .spec import Node, Spec
from .spec.kubernetes import ExternalSecret, ExternalSecrets, Store

if TYPE_CHECKING:
    from .access.checks import Found
    from .inputs import Inputs

HOSTS = "hosts"  # out/hosts/<node>/ mirrors each node's filesystem


def node_out(node: str, absolute: str) -> str:
    """``out/`` path of the file that lands at ``absolute`` on ``node``."""
    return f"{HOSTS}/{node}{absolute}"


def node_of(path: str) -> tuple[str, str] | None:
    """``hosts/node1/etc/x`` -> ``("node1", "/etc/x")``; None for a path outside hosts/."""
    parts = path.split("/", 2)
    if len(parts) < 3 or parts[0] != HOSTS:
        return None
    return parts[1], "/" + parts[2]


@dataclass(frozen=True)
class NodeFacts:
    """One node as every stage sees it."""

    node: Node
    address: str  # the IP as a URL host: bracketed when IPv6
    host: str  # what clients call it: its DNS name, else its address
    api_port: int
    cluster_port: int
    api_addr: str  # https://host:api_port
    cluster_addr: str
    local_api: str  # https://<loopback or listen address>:api_port: the node to itself

    @property
    def name(self) -> str:
        return self.node.name

    def out(self, absolute: str) -> str:
        return node_out(self.node.name, absolute)


@dataclass(frozen=True)
class RemoteRef:
    """``kv/key#property`` as ESO's ``remoteRef``: the key, and the property if one is named."""

    key: str
    property: str | None

    @classmethod
    def parse(cls, ref: str) -> RemoteRef:
        key, _, prop = ref.partition("#")
        return cls(key, prop or None)


@dataclass(frozen=True)
class StoreFacts:
    """A store and the service account (name, namespace) it logs in to Vault with."""

    store: Store
    account: str
    namespace: str


@dataclass(frozen=True)
class SecretFacts:
    """An ExternalSecret, its store (None when the store is unknown) and its parsed refs."""

    index: int  # in kubernetes.external_secrets.secrets
    secret: ExternalSecret
    store: StoreFacts | None
    data: dict[str, RemoteRef]  # Secret key -> remote reference


@dataclass(frozen=True)
class Model:
    """A valid spec and everything derived from it (see the module docstring)."""

    spec: Spec
    inputs: Inputs
    layout: Layout
    nodes: tuple[NodeFacts, ...]
    vault_url: str  # what clients in the cluster use
    api_address: str  # what init, plan and apply use
    auth_path: str  # the Kubernetes auth mount
    local_ip: IPv4Address | IPv6Address  # where a process on a node reaches its own server
    stores: dict[str, StoreFacts] = field(default_factory=dict)
    secrets: tuple[SecretFacts, ...] = ()

    @functools.cached_property
    def access(self) -> Found:
        """What the access model finds about who can read what (``access.checks``)."""
        from .access.checks import decide

        return decide(self)

    @functools.cached_property
    def policies(self) -> dict[str, bytes]:
        """Each policy as the HCL the node files hold and apply sends, by name, sorted."""
        from .render import render

        return {
            name: render("policy.hcl.j2", source=self.inputs.source, name=name, rules=rules)
            for name, rules in sorted(self.spec.vault.policies.items())
        }


def store_identity(eso: ExternalSecrets, store: Store) -> tuple[str, str]:
    """The service account (name, namespace) a store logs in to Vault with: its own, else the
    operator's; in its own namespace for a SecretStore, else the operator's namespace."""
    account = store.service_account or eso.service_account
    if store.kind == "SecretStore" and store.namespace is not None:
        return account, store.namespace
    return account, eso.namespace


def derive(spec: Spec, inputs: Inputs) -> Model:
    """The model of a valid ``spec`` and the files it named (``inputs``)."""
    vault = spec.vault
    lay = layout(vault)
    listen = vault.listen_address
    loopback = ipaddress.ip_address("::1" if listen.version == 6 else "127.0.0.1")
    local_ip = loopback if listen.is_unspecified else listen
    local = url_host(local_ip)
    nodes = []
    for node in vault.nodes:
        address = url_host(node.address)
        host = node.dns or address
        api_port = node.api_port or vault.api_port
        cluster_port = node.cluster_port or vault.cluster_port
        nodes.append(
            NodeFacts(
                node,
                address,
                host,
                api_port,
                cluster_port,
                f"https://{host}:{api_port}",
                f"https://{host}:{cluster_port}",
                f"https://{local}:{api_port}",
            )
        )
    shared = vault.tls.extra_dns
    vault_url = f"https://{shared[0]}:{vault.api_port}" if shared else nodes[0].api_addr
    auth = vault.kubernetes_auth
    stores: dict[str, StoreFacts] = {}
    secrets: list[SecretFacts] = []
    eso = spec.kubernetes.external_secrets if spec.kubernetes else None
    if eso is not None:
        for store in eso.stores:
            stores.setdefault(store.name, StoreFacts(store, *store_identity(eso, store)))
        for i, secret in enumerate(eso.secrets):
            refs = {k: RemoteRef.parse(ref) for k, ref in secret.data.items()}
            secrets.append(SecretFacts(i, secret, stores.get(secret.store), refs))
    return Model(
        spec,
        inputs,
        lay,
        tuple(nodes),
        vault_url,
        (vault.api.address or vault_url).rstrip("/"),
        auth.path if auth is not None else "kubernetes",
        local_ip,
        stores,
        tuple(secrets),
    )

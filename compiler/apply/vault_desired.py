"""The Vault objects a spec declares, as plain data for the planner (pure: no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Model
from ..yamlio import Document, Loc, dotted

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def seconds(duration: str) -> int:
    """A Go duration such as ``1h30m`` in whole seconds, as Vault reports a TTL."""
    return int(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(duration)))


def fingerprint(jwt: str) -> str:
    """The SHA-256 of the reviewer JWT: lets a plan see a rotated JWT without storing it."""
    return hashlib.sha256(jwt.encode()).hexdigest()


# The fields of a Kubernetes auth role that picluster writes (and compares, and fingerprints).
ROLE_FIELDS = (
    "bound_service_account_names",
    "bound_service_account_namespaces",
    "token_policies",
    "token_ttl",
    "audience",
)


@dataclass(frozen=True)
class Engine:
    type: str
    version: int
    description: str


@dataclass(frozen=True)
class KVRead:
    """A KV key an ExternalSecret reads, and where the spec says so."""

    mount: str
    key: str
    version: int
    where: str  # "picluster.yaml:LINE:COL: dotted.path" (or the dotted path alone)
    secret: str  # namespace/name of the ExternalSecret


@dataclass(frozen=True)
class Desired:
    """Every object the spec declares on the server."""

    engines: dict[str, Engine] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # name -> HCL text
    auth_path: str | None = None  # the kubernetes auth method's mount path
    k8s_config: dict[str, Any] | None = None  # every config field but the JWT
    jwt_sha256: str | None = None  # None: the spec names no JWT (Vault then uses the client's)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # "path/name" -> fields
    kv_reads: list[KVRead] = field(default_factory=list)


def desired(
    model: Model,
    jwt: str | None = None,
    doc: Document | None = None,
    policies: Mapping[str, bytes] | None = None,
) -> Desired:
    """What the model's spec declares on the server; ``jwt`` is only fingerprinted, never kept.

    Args:
        model: the spec and what was derived from it.
        jwt: the token reviewer JWT, when the spec names a source.
        doc: where each key is in the spec, to locate the KV warnings.
        policies: the policy texts to send (apply passes those of out/); default the model's.
    """
    vault = model.spec.vault
    engines = {
        e.path: Engine(e.type, e.version, e.description or "") for e in vault.secrets_engines
    }
    texts = {name: data.decode() for name, data in (policies or model.policies).items()}
    auth = vault.kubernetes_auth
    if auth is None:
        return Desired(engines, texts, kv_reads=_kv_reads(model, doc))
    inputs = model.inputs
    ca = inputs.kubernetes_ca_cert.decode() if inputs.kubernetes_ca_cert else ""
    # issuer and disable_iss_validation are deprecated (Vault 1.9; OpenBao inherited that):
    # never sent, so the server keeps its defaults (no issuer check).
    config = {
        "kubernetes_host": auth.host.rstrip("/"),
        "kubernetes_ca_cert": ca,
        "pem_keys": [],
        # Vault runs on the Pi nodes, outside the cluster: never fall back to a pod's own CA
        # and token, which would silently replace the ones above.
        "disable_local_ca_jwt": True,
    }
    roles = {
        f"{auth.path}/{name}": {
            "bound_service_account_names": list(role.service_accounts),
            "bound_service_account_namespaces": list(role.namespaces),
            "token_policies": list(role.policies),
            "token_ttl": seconds(role.ttl),
            "audience": role.audience or "",
        }
        for name, role in sorted(auth.roles.items())
    }
    return Desired(
        engines,
        texts,
        auth.path,
        config,
        None if jwt is None else fingerprint(jwt),
        roles,
        _kv_reads(model, doc),
    )


def _kv_reads(model: Model, doc: Document | None) -> list[KVRead]:
    """Every KV key an ExternalSecret reads (``data`` values and ``data_from`` keys)."""
    reads = []
    for facts in model.secrets:
        if facts.store is None:
            continue
        secret, store = facts.secret, facts.store.store
        base: Loc = ("kubernetes", "external_secrets", "secrets", facts.index)
        refs: list[tuple[Loc, str]] = [((*base, "data", k), r.key) for k, r in facts.data.items()]
        refs += [((*base, "data_from", j), key) for j, key in enumerate(secret.data_from)]
        for loc, key in refs:
            where = str(doc.problem(loc, "")).removesuffix(": ") if doc else dotted(loc)
            name = f"{secret.namespace}/{secret.name}"
            reads.append(KVRead(store.path, key, store.kv_version, where, name))
    return reads

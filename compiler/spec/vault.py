"""The ``vault`` section: the servers on the Pi nodes, their storage, seal, policies and auth."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, IPvAnyAddress

from .types import (
    AbsPath,
    Capability,
    Duration,
    Hostname,
    LocalPath,
    Model,
    MountPath,
    Name,
    PolicyName,
    PolicyPath,
    Port,
    SubjectText,
    UnixName,
    Version,
    _matching,
)


class SSH(Model):
    """How ``picluster apply`` reaches a node (defaults come from ``~/.ssh/config``)."""

    user: UnixName | None = None
    port: Port = 22


class Node(Model):
    """One Pi that runs a Vault/OpenBao server."""

    name: Name = Field(description="Node name; also the raft node_id.")
    address: IPvAnyAddress = Field(description="The node's IP address.")
    dns: Hostname | None = Field(
        default=None, description="The node's DNS name; used in api_addr and the certificate."
    )
    api_port: Port | None = Field(default=None, description="Overrides vault.api_port.")
    cluster_port: Port | None = Field(default=None, description="Overrides vault.cluster_port.")
    ssh: SSH = SSH()


class Subject(Model):
    """Distinguished-name fields of the server certificate (CN is the node's DNS name)."""

    country: Annotated[str, *_matching(r"^[A-Z]{2}$", "a two-letter country code")] | None = None
    state: SubjectText | None = None
    locality: SubjectText | None = None
    organization: SubjectText | None = None
    organizational_unit: SubjectText | None = None


class TLSLocal(Model):
    """TLS files on the machine that compiles (paths relative to the spec file)."""

    ca_cert: LocalPath = Field(
        description="The CA certificate (public): the ESO caBundle and the Prometheus CA."
    )


class TLS(Model):
    """Where the server's certificate, key and CA live on the node."""

    ca_cert: AbsPath | None = Field(
        default=None, description="Default: <config_dir>/tls/<name>-ca.crt"
    )
    cert: AbsPath | None = Field(default=None, description="Default: <config_dir>/tls/<name>.crt")
    key: AbsPath | None = Field(default=None, description="Default: <config_dir>/tls/<name>.key")
    subject: Subject = Subject()
    extra_dns: list[Hostname] = Field(default=[], description="More DNS SANs on every node.")
    extra_ips: list[IPvAnyAddress] = Field(default=[], description="More IP SANs on every node.")
    local: TLSLocal | None = Field(
        default=None, description="The same files on this machine, relative to the spec."
    )


class Raft(Model):
    path: AbsPath | None = Field(default=None, description="Default: /var/lib/<name>")


class Storage(Model):
    raft: Raft = Raft()


class Telemetry(Model):
    prometheus_retention_time: Duration = "12h"
    disable_hostname: bool = True


class Unseal(Model):
    """Shamir key split, and the boot-time unseal service."""

    key_shares: int = Field(default=1, ge=1, le=255)
    key_threshold: int = Field(default=1, ge=1, le=255)
    keys_file: AbsPath | None = Field(
        default=None,
        description="Unseal keys file on the node (root, 0600). Default: <config_dir>/unseal.json",
    )
    service: bool = Field(
        default=True, description="Generate the boot-time unseal script and unit."
    )
    attempts: int = Field(default=10, ge=1, le=1000, description="Tries before giving up.")
    retry_interval: int = Field(default=5, ge=1, le=600, description="Seconds between tries.")


class Rule(Model):
    path: PolicyPath
    capabilities: list[Capability] = Field(min_length=1)


class SecretsEngine(Model):
    path: MountPath
    type: Literal["kv"] = "kv"
    version: Literal[1, 2] = 2
    description: SubjectText | None = None


class KubernetesRole(Model):
    service_accounts: list[Name] = Field(min_length=1)
    namespaces: list[Name] = Field(min_length=1)
    policies: list[PolicyName] = Field(min_length=1)
    ttl: Duration = "1h"
    audience: (
        Annotated[str, *_matching(r"^[^\s\x00-\x1f]{1,253}$", "an audience (no spaces)")] | None
    ) = None


class KubernetesAuth(Model):
    path: MountPath = "kubernetes"
    host: Annotated[
        str, *_matching(r"^https://[A-Za-z0-9.:\[\]-]+(:[0-9]+)?/?$", "an https:// URL")
    ] = Field(description="The Kubernetes API server URL (https).")
    roles: dict[Name, KubernetesRole] = {}


class Paths(Model):
    """Overrides of the distribution's default locations on the node."""

    binary: AbsPath | None = None
    config_dir: AbsPath | None = None
    log_dir: AbsPath | None = None
    plugin_dir: AbsPath | None = None
    unseal_script: AbsPath | None = None


class Vault(Model):
    distribution: Literal["vault", "openbao"] = "vault"
    version: Version
    arch: Literal["arm64", "amd64", "arm"] = "arm64"
    user: UnixName | None = Field(
        default=None, description="Service user; default: vault or openbao."
    )
    api_port: Port = 8200
    cluster_port: Port = 8201
    listen_address: IPvAnyAddress = Field(
        default=ipaddress.IPv4Address("0.0.0.0"),  # noqa: S104 -- a server listens on all addresses
        description="Address the listener binds.",
    )
    log_level: Literal["trace", "debug", "info", "warn", "error"] = "info"
    paths: Paths = Paths()
    nodes: list[Node] = Field(min_length=1)
    tls: TLS = TLS()
    storage: Storage = Storage()
    telemetry: Telemetry | None = Telemetry()
    unseal: Unseal = Unseal()
    secrets_engines: list[SecretsEngine] = []
    policies: dict[PolicyName, list[Rule]] = {}
    kubernetes_auth: KubernetesAuth | None = None

"""The ``vault`` section: the servers on the Pi nodes, their storage, seal, policies and auth."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, IPvAnyAddress, model_validator

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

SSHHost = Annotated[str, *_matching(r"^[A-Za-z0-9._:-]{1,253}$", "a host name or IP address")]

# A local file that may differ per node: ``{node}`` stands for the node's name.
NodeLocalPath = Annotated[
    str,
    *_matching(
        r"^/?[A-Za-z0-9._@+{}-]+(/[A-Za-z0-9._@+{}-]+)*$",
        "a file path on this machine ({node} means the node's name; no spaces)",
    ),
]


class SSH(Model):
    """How ``picluster apply`` reaches a node (defaults come from ``~/.ssh/config``)."""

    user: UnixName | None = Field(default=None, description="Default: ~/.ssh/config, else you.")
    port: Port | None = Field(default=None, description="Default: ~/.ssh/config, else 22.")
    host: SSHHost | None = Field(default=None, description="Where to connect; default: address.")
    identity_file: LocalPath | None = Field(
        default=None, description="The private key to log in with (default: ~/.ssh/config, agent)."
    )
    known_hosts: LocalPath | None = Field(
        default=None,
        description="The node's host key is checked against this file (default: "
        "~/.ssh/known_hosts); an unknown or changed key is refused, never added.",
    )


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
    cert: NodeLocalPath | None = Field(
        default=None, description="The server certificate apply copies to the node."
    )
    key: NodeLocalPath | None = Field(
        default=None,
        description="The server's private key apply copies to the node (0600, never into out/).",
    )

    @model_validator(mode="after")
    def _cert_and_key(self) -> TLSLocal:
        if (self.cert is None) != (self.key is None):
            raise ValueError("name both cert and key, or neither")
        return self


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


class UnsealLocal(Model):
    """The unseal keys on this machine, for ``picluster apply`` to put on every node."""

    keys_file: LocalPath = Field(
        description="The keys file `picluster init --keys-file` wrote (relative to the spec): "
        "apply copies it to keys_file on every node (root, 0600), never into out/; until init "
        "has made it, apply installs no keys."
    )


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
    local: UnsealLocal | None = Field(
        default=None, description="The same keys file on this machine, installed by apply."
    )


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


EnvName = Annotated[
    str, *_matching(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", "an environment variable name")
]


class ReviewerJWT(Model):
    """Where ``picluster apply`` reads the token reviewer JWT (never the JWT itself)."""

    file: LocalPath | None = Field(default=None, description="A file holding the JWT.")
    env: EnvName | None = Field(default=None, description="An environment variable holding it.")
    kubeconfig: LocalPath | None = Field(
        default=None,
        description="Read kubernetes.vault_auth.token_secret from the cluster with kubectl.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReviewerJWT:
        given = [name for name in ("file", "env", "kubeconfig") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("name exactly one of file, env or kubeconfig")
        return self


class KubernetesAuth(Model):
    path: MountPath = "kubernetes"
    host: Annotated[
        str, *_matching(r"^https://[A-Za-z0-9.:\[\]-]+(:[0-9]+)?/?$", "an https:// URL")
    ] = Field(description="The Kubernetes API server URL (https).")
    ca_cert: LocalPath | None = Field(
        default=None,
        description="The cluster CA certificate on this machine (relative to the spec; public).",
    )
    token_reviewer_jwt: ReviewerJWT | None = Field(
        default=None,
        description="Where apply reads the token reviewer JWT; none: Vault reviews each login "
        "with the logging-in token itself.",
    )
    roles: dict[Name, KubernetesRole] = {}


class Paths(Model):
    """Overrides of the distribution's default locations on the node."""

    binary: AbsPath | None = None
    config_dir: AbsPath | None = None
    log_dir: AbsPath | None = None
    plugin_dir: AbsPath | None = None
    unseal_script: AbsPath | None = None


class Api(Model):
    """How ``picluster init/plan/apply`` reach the server from this machine."""

    address: (
        Annotated[str, *_matching(r"^https://[A-Za-z0-9.:\[\]-]+(:[0-9]+)?/?$", "an https:// URL")]
        | None
    ) = Field(
        default=None,
        description="Default: the first of vault.tls.extra_dns, else the first node's api_addr.",
    )
    token_file: LocalPath | None = Field(
        default=None,
        description="A file holding the token, read when VAULT_TOKEN and BAO_TOKEN are unset.",
    )


class Install(Model):
    """Where ``picluster apply`` gets the server binary, pinned by its checksum."""

    source: Annotated[
        str,
        *_matching(
            r"^https://[^\s\"'`$\\]+$|^/?[A-Za-z0-9._@+{}-]+(/[A-Za-z0-9._@+{}-]+)*$",
            "an https:// URL or a file path ({version} and {arch} are replaced)",
        ),
    ] = Field(description="A release archive (.zip, .tar.gz) or the binary itself.")
    sha256: Annotated[str, *_matching(r"^[0-9a-f]{64}$", "a SHA-256 in lowercase hex")] = Field(
        description="The SHA-256 of the file at source; a mismatch installs nothing."
    )


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
    api: Api = Api()
    install: Install | None = None

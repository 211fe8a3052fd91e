"""The picluster.yaml models: pydantic, ``extra="forbid"``, frozen.

The spec holds no secret: TLS keys, tokens and unseal keys are referred to by path and read
only at apply time. Strings that end up in a generated file are either constrained here (paths,
names, hosts: a located error on anything odd) or escaped by the target format's filter
(``render.py``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
)

# --- constrained scalars -------------------------------------------------------------------


def _matching(regex: str, what: str) -> tuple[AfterValidator, Field]:  # type: ignore[valid-type]
    """A validator with a readable message, and the same pattern in the JSON Schema."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise ValueError(f"{shown!r} is not {what}")
        return value

    return AfterValidator(check), Field(description=what, json_schema_extra={"pattern": regex})


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

Name = Annotated[str, *_matching(DNS_LABEL, "a DNS-1123 label (a-z, 0-9, '-'; at most 63)")]

UnixName = Annotated[str, *_matching(r"^[a-z_][a-z0-9_-]{0,30}$", "a Unix user name")]

Port = Annotated[int, Field(ge=1, le=65535)]

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str:
    if (
        len(value) > 253
        or not value
        or not all(_HOST_LABEL.match(label) for label in value.rstrip(".").split("."))
    ):
        raise ValueError(
            f"{value!r} is not a valid DNS name (letters, digits and '-' between dots)"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return value.lower()
    raise ValueError(f"{value!r} is an IP address; put it in an address field")


Hostname = Annotated[
    str,
    AfterValidator(_hostname),
    Field(description="A DNS name (RFC 1123).", json_schema_extra={"format": "hostname"}),
]

_SAFE_PATH = re.compile(r"^/([A-Za-z0-9._@+-]+/?)*$")


def _abs_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if not _SAFE_PATH.match(value) or "//" in value:
        raise ValueError(
            f"{value!r}: a path may hold only letters, digits and . _ @ + - between slashes"
        )
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise ValueError(f"{value!r} must not contain '.' or '..' components")
    return value.rstrip("/") or "/"


AbsPath = Annotated[
    str,
    AfterValidator(_abs_path),
    Field(description="An absolute path on the node, without spaces or shell metacharacters."),
]

Duration = Annotated[
    str,
    *_matching(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", "a duration such as 90s, 15m or 12h"),
]

Version = Annotated[
    str,
    *_matching(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$", "a release version such as 1.18.3"),
]

PolicyName = Annotated[
    str,
    *_matching(
        r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$", "a policy name (a-z, 0-9, '.', '_', '-')"
    ),
]

MountPath = Annotated[
    str,
    *_matching(
        r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(/[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$",
        "a mount path such as secret or kv/apps (no leading or trailing '/')",
    ),
]

PolicyPath = Annotated[
    str,
    *_matching(r"^[^\x00-\x1f\x7f]{1,512}$", "an API path pattern (no control characters)"),
]

Capability = Literal[
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"
]

SubjectText = Annotated[
    str, *_matching(r"^[^\x00-\x1f\x7f]{1,64}$", "1 to 64 characters, no control characters")
]


class Model(BaseModel):
    # strict: no silent coercion of "8200" or true to a number, or of "yes" or 1 to a boolean.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- vault ---------------------------------------------------------------------------------


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


class Spec(Model):
    """The whole of picluster.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="picluster")

    vault: Vault

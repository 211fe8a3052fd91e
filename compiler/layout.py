"""Where things live on a node: the distribution's defaults merged with the spec's overrides."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .spec import Vault

UNIT_DIR = "/etc/systemd/system"


@dataclass(frozen=True)
class Distribution:
    """What differs between HashiCorp Vault and OpenBao on a node."""

    name: str  # also the service user, unit and directory name
    product: str
    binary_name: str
    config_file_name: str
    docs: str
    # OpenBao dropped mlock: it refuses `disable_mlock = false` and warns on `true`.
    supports_mlock: bool


DISTRIBUTIONS = {
    "vault": Distribution(
        name="vault",
        product="HashiCorp Vault",
        binary_name="vault",
        config_file_name="vault_main.hcl",
        docs="https://developer.hashicorp.com/vault/docs",
        supports_mlock=True,
    ),
    "openbao": Distribution(
        name="openbao",
        product="OpenBao",
        binary_name="bao",
        config_file_name="openbao.hcl",
        docs="https://openbao.org/docs/",
        supports_mlock=False,
    ),
}


@dataclass(frozen=True)
class Layout:
    """Every path, name and owner the host artifacts agree on: one declaration, used everywhere."""

    dist: Distribution
    user: str
    group: str
    binary: str
    config_dir: str
    config_file: str
    tls_dir: str
    policy_dir: str
    plugin_dir: str
    data_dir: str
    log_dir: str
    ca_cert: str
    cert: str
    key: str
    keys_file: str
    unseal_script: str
    service: str
    unseal_service: str
    unit_dir: str = UNIT_DIR

    @property
    def directories(self) -> list[str]:
        """The directories the service needs, owned by the service user, mode 0750."""
        dirs = [
            self.config_dir,
            self.tls_dir,
            self.policy_dir,
            self.plugin_dir,
            self.data_dir,
            self.log_dir,
        ]
        return list(dict.fromkeys(dirs))


def layout(vault: Vault) -> Layout:
    """The node layout for ``vault``."""
    dist = DISTRIBUTIONS[vault.distribution]
    name = dist.name
    paths = vault.paths
    config_dir = paths.config_dir or f"/etc/{name}"
    tls_dir = f"{config_dir}/tls"
    return Layout(
        dist=dist,
        user=vault.user or name,
        group=vault.user or name,
        binary=paths.binary or f"/usr/local/bin/{dist.binary_name}",
        config_dir=config_dir,
        config_file=f"{config_dir}/{dist.config_file_name}",
        tls_dir=tls_dir,
        policy_dir=f"{config_dir}/policy",
        plugin_dir=paths.plugin_dir or f"{config_dir}/plugin",
        data_dir=vault.storage.raft.path or f"/var/lib/{name}",
        log_dir=paths.log_dir or f"/var/log/{name}",
        ca_cert=vault.tls.ca_cert or f"{tls_dir}/{name}-ca.crt",
        cert=vault.tls.cert or f"{tls_dir}/{name}.crt",
        key=vault.tls.key or f"{tls_dir}/{name}.key",
        keys_file=vault.unseal.keys_file or f"{config_dir}/unseal.json",
        unseal_script=paths.unseal_script or f"/usr/local/bin/{name}-unseal.sh",
        service=f"{name}.service",
        unseal_service=f"{name}-unseal.service",
    )


def url_host(ip: IPv4Address | IPv6Address) -> str:
    """An IP address as the host of a URL or a ``host:port``: IPv6 in brackets."""
    return f"[{ip}]" if ip.version == 6 else str(ip)

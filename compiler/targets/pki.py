"""``openssl.conf`` for each node's server certificate request, with its SANs.

These stay on the workstation that holds the CA (``out/pki/<node>/``), not on the node.
"""

from __future__ import annotations

from ..artifact import Artifact
from ..model import Model
from ..render import render as render_template
from ..spec import Node

_SUBJECT_FIELDS = (
    ("country", "C"),
    ("state", "ST"),
    ("locality", "L"),
    ("organization", "O"),
    ("organizational_unit", "OU"),
)


def subject_alt_names(model: Model, node: Node) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses the node's certificate must cover: what clients call it,
    and the address it calls itself at (the unseal script's)."""
    tls = model.spec.vault.tls
    dns = [n for n in (node.dns, *tls.extra_dns) if n]
    ips = [node.address, model.local_ip, *tls.extra_ips]
    return list(dict.fromkeys(dns)), [str(ip) for ip in dict.fromkeys(ips)]


def render(model: Model) -> list[Artifact]:
    vault, lay = model.spec.vault, model.layout
    artifacts = []
    for node in model.spec.vault.nodes:
        subject = [
            (short, getattr(vault.tls.subject, field))
            for field, short in _SUBJECT_FIELDS
            if getattr(vault.tls.subject, field)
        ]
        subject.append(("CN", node.dns or node.name))
        dns, ips = subject_alt_names(model, node)
        data = render_template(
            "openssl.conf.j2",
            source=model.inputs.source,
            node=node,
            layout=lay,
            subject=subject,
            dns_names=dns,
            ips=ips,
            ca_name=lay.ca_cert.rsplit("/", 1)[-1],
            cert_name=lay.cert.rsplit("/", 1)[-1],
        )
        artifacts.append(Artifact(f"pki/{node.name}/openssl.conf", data, 0o644, "openssl"))
    return artifacts

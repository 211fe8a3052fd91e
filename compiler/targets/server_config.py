"""The Vault/OpenBao server configuration (HCL), one per node."""

from __future__ import annotations

from ..artifact import Artifact, host_path
from ..inputs import Inputs
from ..layout import api_addr, api_port, cluster_addr, cluster_port, layout
from ..render import render as render_template
from ..spec import Spec


def _listen(address: object, port: int) -> str:
    text = str(address)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def render(spec: Spec, inputs: Inputs) -> list[Artifact]:
    vault = spec.vault
    lay = layout(vault)
    artifacts = []
    for node in vault.nodes:
        peers = [{"api_addr": api_addr(vault, peer)} for peer in vault.nodes if peer != node]
        data = render_template(
            "server.hcl.j2",
            source=inputs.source,
            dist=lay.dist,
            layout=lay,
            node=node,
            api_addr=api_addr(vault, node),
            cluster_addr=cluster_addr(vault, node),
            listen=_listen(vault.listen_address, api_port(vault, node)),
            cluster_listen=_listen(vault.listen_address, cluster_port(vault, node)),
            peers=peers,
            telemetry=vault.telemetry,
        )
        artifacts.append(
            Artifact(
                host_path(node.name, lay.config_file),
                data,
                0o640,
                "hcl-config",
                owner=lay.user,
                group=lay.group,
            )
        )
    return artifacts

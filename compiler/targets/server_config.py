"""The Vault/OpenBao server configuration (HCL), one per node."""

from __future__ import annotations

from ..artifact import Artifact
from ..layout import url_host
from ..model import Model
from ..render import render as render_template


def render(model: Model) -> list[Artifact]:
    vault, lay = model.spec.vault, model.layout
    listen = url_host(vault.listen_address)
    artifacts = []
    for node in model.nodes:
        peers = [{"api_addr": peer.api_addr} for peer in model.nodes if peer is not node]
        data = render_template(
            "server.hcl.j2",
            source=model.inputs.source,
            dist=lay.dist,
            layout=lay,
            node=node.node,
            api_addr=node.api_addr,
            cluster_addr=node.cluster_addr,
            listen=f"{listen}:{node.api_port}",
            cluster_listen=f"{listen}:{node.cluster_port}",
            peers=peers,
            telemetry=vault.telemetry,
        )
        artifacts.append(
            Artifact(
                node.out(lay.config_file),
                data,
                0o640,
                "hcl-config",
                owner=lay.user,
                group=lay.group,
            )
        )
    return artifacts

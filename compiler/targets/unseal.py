"""The boot-time unseal script, one per node (it talks to its own node's server)."""

from __future__ import annotations

from ..artifact import Artifact, host_path
from ..inputs import Inputs
from ..layout import api_port, layout, local_addr
from ..render import render as render_template
from ..spec import Spec


def render(spec: Spec, inputs: Inputs) -> list[Artifact]:
    vault = spec.vault
    if not vault.unseal.service:
        return []
    lay = layout(vault)
    return [
        Artifact(
            host_path(node.name, lay.unseal_script),
            render_template(
                "unseal.sh.j2",
                source=inputs.source,
                dist=lay.dist,
                layout=lay,
                addr=f"https://{local_addr(vault)}:{api_port(vault, node)}",
                attempts=vault.unseal.attempts,
                retry_interval=vault.unseal.retry_interval,
                # With peers, an uninitialised server is most likely still joining them.
                joins=len(vault.nodes) > 1,
            ),
            0o755,
            "shell",
        )
        for node in vault.nodes
    ]

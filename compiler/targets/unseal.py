"""The boot-time unseal script, one per node (it talks to its own node's server)."""

from __future__ import annotations

from ..artifact import Artifact
from ..model import Model
from ..render import render as render_template


def render(model: Model) -> list[Artifact]:
    unseal, lay = model.spec.vault.unseal, model.layout
    if not unseal.service:
        return []
    return [
        Artifact(
            node.out(lay.unseal_script),
            render_template(
                "unseal.sh.j2",
                source=model.inputs.source,
                dist=lay.dist,
                layout=lay,
                addr=node.local_api,
                attempts=unseal.attempts,
                retry_interval=unseal.retry_interval,
                # With peers, an uninitialised server is most likely still joining them.
                joins=len(model.nodes) > 1,
            ),
            0o755,
            "shell",
        )
        for node in model.nodes
    ]

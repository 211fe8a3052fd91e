"""Policy files (HCL) under the policy directory of every node."""

from __future__ import annotations

from ..artifact import Artifact
from ..model import Model


def render(model: Model) -> list[Artifact]:
    lay = model.layout
    return [
        Artifact(
            node.out(f"{lay.policy_dir}/{name}.hcl"),
            data,
            0o640,
            "hcl-policy",
            owner=lay.user,
            group=lay.group,
        )
        for node in model.nodes
        for name, data in model.policies.items()
    ]

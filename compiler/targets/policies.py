"""Policy files (HCL) under the policy directory of every node."""

from __future__ import annotations

from ..artifact import Artifact, host_path
from ..inputs import Inputs
from ..layout import layout
from ..render import render as render_template
from ..spec import Spec


def render(spec: Spec, inputs: Inputs) -> list[Artifact]:
    vault = spec.vault
    lay = layout(vault)
    rendered = {
        name: render_template("policy.hcl.j2", source=inputs.source, name=name, rules=rules)
        for name, rules in sorted(vault.policies.items())
    }
    return [
        Artifact(
            host_path(node.name, f"{lay.policy_dir}/{name}.hcl"),
            data,
            0o640,
            "hcl-policy",
            owner=lay.user,
            group=lay.group,
        )
        for node in vault.nodes
        for name, data in rendered.items()
    ]

"""sysusers.d and tmpfiles.d entries: the service user and its directories, declared once."""

from __future__ import annotations

from ..artifact import Artifact, host_path
from ..inputs import Inputs
from ..layout import layout
from ..render import render as render_template
from ..spec import Spec


def render(spec: Spec, inputs: Inputs) -> list[Artifact]:
    lay = layout(spec.vault)
    name = lay.dist.name
    files = {
        (f"/etc/sysusers.d/{name}.conf", "sysusers"): render_template(
            "sysusers.conf.j2", source=inputs.source, dist=lay.dist, layout=lay
        ),
        (f"/etc/tmpfiles.d/{name}.conf", "tmpfiles"): render_template(
            "tmpfiles.conf.j2", source=inputs.source, dist=lay.dist, layout=lay
        ),
    }
    return [
        Artifact(host_path(node.name, path), data, 0o644, kind)
        for node in spec.vault.nodes
        for (path, kind), data in files.items()
    ]

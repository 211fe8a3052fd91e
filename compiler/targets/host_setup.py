"""sysusers.d and tmpfiles.d entries: the service user and its directories, declared once."""

from __future__ import annotations

from ..artifact import Artifact
from ..model import Model
from ..render import render as render_template


def render(model: Model) -> list[Artifact]:
    lay, source = model.layout, model.inputs.source
    name = lay.dist.name
    files = {
        (f"/etc/sysusers.d/{name}.conf", "sysusers"): render_template(
            "sysusers.conf.j2", source=source, dist=lay.dist, layout=lay
        ),
        (f"/etc/tmpfiles.d/{name}.conf", "tmpfiles"): render_template(
            "tmpfiles.conf.j2", source=source, dist=lay.dist, layout=lay
        ),
    }
    return [
        Artifact(node.out(path), data, 0o644, kind)
        for node in model.nodes
        for (path, kind), data in files.items()
    ]

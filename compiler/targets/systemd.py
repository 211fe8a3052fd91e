"""systemd units: the server service and, when enabled, the boot-time unseal service."""

from __future__ import annotations

from ..artifact import Artifact
from ..model import Model
from ..render import render as render_template
from ..spec import Spec

CURL_MAX_TIME = 5  # seconds; must match --max-time in unseal.sh.j2


def unseal_timeout(spec: Spec) -> int:
    """Seconds the unseal unit may run: every attempt's requests and sleeps, plus a margin."""
    unseal = spec.vault.unseal
    per_attempt = unseal.retry_interval + CURL_MAX_TIME * (2 + unseal.key_shares)
    return unseal.attempts * per_attempt + 10


def render(model: Model) -> list[Artifact]:
    spec, lay, source = model.spec, model.layout, model.inputs.source
    vault = spec.vault
    server = render_template(
        "server.service.j2",
        source=source,
        dist=lay.dist,
        layout=lay,
        log_level=vault.log_level,
    )
    units = {lay.service: server}
    if vault.unseal.service:
        units[lay.unseal_service] = render_template(
            "unseal.service.j2",
            source=source,
            dist=lay.dist,
            layout=lay,
            attempts=vault.unseal.attempts,
            timeout=unseal_timeout(spec),
        )
    return [
        Artifact(node.out(f"{lay.unit_dir}/{name}"), data, 0o644, "systemd")
        for node in model.nodes
        for name, data in units.items()
    ]

"""The registry of output targets: each renders one family of artifacts from the model."""

from __future__ import annotations

from collections.abc import Callable

from ..artifact import Artifact
from ..model import Model
from . import host_setup, kubernetes, pki, policies, server_config, systemd, unseal

Target = Callable[[Model], list[Artifact]]
"""``render(model) -> artifacts``: pure, no I/O; the model holds the spec and what was read."""

TARGETS: dict[str, Target] = {
    "server-config": server_config.render,
    "policies": policies.render,
    "systemd": systemd.render,
    "unseal": unseal.render,
    "host-setup": host_setup.render,
    "pki": pki.render,
    "kubernetes": kubernetes.render,
}

"""The registry of output targets: each renders one family of artifacts from the spec."""

from __future__ import annotations

from collections.abc import Callable

from ..artifact import Artifact
from ..inputs import Inputs
from ..spec import Spec
from . import host_setup, kubernetes, pki, policies, server_config, systemd, unseal

Target = Callable[[Spec, Inputs], list[Artifact]]
"""``render(spec, inputs) -> artifacts``: pure, no I/O; ``inputs`` holds what was read."""

TARGETS: dict[str, Target] = {
    "server-config": server_config.render,
    "policies": policies.render,
    "systemd": systemd.render,
    "unseal": unseal.render,
    "host-setup": host_setup.render,
    "pki": pki.render,
    "kubernetes": kubernetes.render,
}

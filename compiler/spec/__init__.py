"""The picluster.yaml models: pydantic, ``extra="forbid"``, frozen, strict.

The spec holds no secret: TLS keys, tokens and unseal keys are referred to by path and read
only at apply time.
"""

from __future__ import annotations

from pydantic import ConfigDict

from .kubernetes import Kubernetes, Monitoring
from .types import Model
from .vault import SSH, TLS, KubernetesAuth, KubernetesRole, Node, Rule, SecretsEngine, Vault

__all__ = [
    "SSH",
    "TLS",
    "KubernetesAuth",
    "KubernetesRole",
    "Node",
    "Rule",
    "SecretsEngine",
    "Spec",
    "Vault",
]


class Spec(Model):
    """The whole of picluster.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="picluster")

    vault: Vault
    kubernetes: Kubernetes | None = None
    monitoring: Monitoring | None = None

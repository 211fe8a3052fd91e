"""The Kubernetes repository: every app of the spec, laid out for its GitOps flavour."""

from __future__ import annotations

from ..artifact import Artifact
from ..inputs import Inputs
from ..k8s import external_secrets, gitops, monitoring, vault
from ..spec import Spec


def render(spec: Spec, inputs: Inputs) -> list[Artifact]:
    if spec.kubernetes is None:
        return []
    apps = [
        *vault.build(spec),
        *external_secrets.build(spec, inputs),
        *monitoring.build(spec, inputs),
    ]
    return gitops.layout(spec.kubernetes, apps, inputs.source)

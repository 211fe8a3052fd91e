"""The Kubernetes repository: every app of the spec, laid out for its GitOps flavour."""

from __future__ import annotations

from ..artifact import Artifact
from ..k8s import APPS, gitops
from ..model import Model


def render(model: Model) -> list[Artifact]:
    if model.spec.kubernetes is None:
        return []
    apps = [app for build in APPS.values() for app in build(model)]
    return gitops.layout(model.spec.kubernetes, apps, model.inputs.source)

"""The Kubernetes side: applications built as data, then laid out for a GitOps flavour.

``APPS`` is the registry of application builders, in the order their directories are laid out;
each takes the model and returns the apps it makes (none when the spec does not ask for it).
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Model
from . import external_secrets, monitoring, vault
from .apps import App

AppBuilder = Callable[[Model], list[App]]

APPS: dict[str, AppBuilder] = {
    "vault": vault.build,
    "external-secrets": external_secrets.build,
    "kube-prometheus-stack": monitoring.prometheus,
    "grafana": monitoring.grafana,
}

"""An application: a namespace's manifests and, optionally, one Helm chart with its values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..spec.kubernetes import Chart
from .scopes import cluster_scoped

Object = dict[str, Any]


@dataclass(frozen=True)
class HelmChart:
    """A chart release: where the chart comes from, its pinned version and its values."""

    repo_name: str
    repo_url: str
    chart: str
    version: str
    release: str
    values: dict[str, Any]


@dataclass(frozen=True)
class App:
    """One directory of the output, synced as a unit (a Flux Kustomization, an Argo Application)."""

    name: str
    namespace: str
    manifests: list[Object] = field(default_factory=list)
    chart: HelmChart | None = None
    depends_on: tuple[str, ...] = ()


def obj(
    api_version: str, kind: str, name: str, namespace: str | None = None, **body: Any
) -> Object:
    """A Kubernetes object; cluster-scoped kinds never get a namespace."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None and not cluster_scoped(kind):
        metadata["namespace"] = namespace
    annotations = body.pop("annotations", None)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def namespace(name: str) -> Object:
    return obj("v1", "Namespace", name)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` deep-merged over ``base`` (the spec's chart values over picluster's)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def helm(
    chart: Chart, *, repo_name: str, repo_url: str, name: str, release: str, values: dict[str, Any]
) -> HelmChart:
    return HelmChart(
        repo_name, repo_url, name, chart.version, release, merged(values, chart.values)
    )

"""Lay applications out as files for a GitOps flavour: flux, argocd or plain.

Every directory gets a ``kustomization.yaml``; each object is its own file. Flux gets a
HelmRepository and a HelmRelease per chart and a Flux Kustomization per app (ordered by
``dependsOn``); Argo CD an Application per app (ordered by sync waves); plain a values file per
chart, for ``helm upgrade --install``.
"""

from __future__ import annotations

from typing import Any

from .. import yamlio
from ..artifact import Artifact
from ..render import HEADER
from ..spec.kubernetes import Kubernetes, Repository
from .apps import App, HelmChart, Object, obj

ROOT = "kubernetes"
FLUX_NAMESPACE = "flux-system"
ARGO_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"


def _yaml(path: str, data: Any, source: str, kind: str, *comments: str) -> Artifact:
    head = "".join(f"# {line}\n" for line in (HEADER.format(source=source), *comments))
    return Artifact(path, head.encode() + yamlio.dump(data), 0o644, kind)


def _file_name(item: Object, app: App) -> str:
    meta = item["metadata"]
    ns = meta.get("namespace")
    middle = f"{ns}-" if ns is not None and ns != app.namespace else ""
    return f"{item['kind'].lower()}-{middle}{meta['name']}.yaml"


def _kustomization(directory: str, resources: list[str], source: str) -> Artifact:
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    return _yaml(f"{directory}/kustomization.yaml", body, source, "kustomization")


def _flux_chart(app: App, chart: HelmChart) -> list[Object]:
    return [
        obj(
            "source.toolkit.fluxcd.io/v1",
            "HelmRepository",
            chart.repo_name,
            app.namespace,
            spec={"interval": "24h", "url": chart.repo_url},
        ),
        obj(
            "helm.toolkit.fluxcd.io/v2",
            "HelmRelease",
            chart.release,
            app.namespace,
            spec={
                "interval": "30m",
                "releaseName": chart.release,
                "chart": {
                    "spec": {
                        "chart": chart.chart,
                        "version": chart.version,
                        "sourceRef": {
                            "kind": "HelmRepository",
                            "name": chart.repo_name,
                            "namespace": app.namespace,
                        },
                    }
                },
                "install": {"crds": "CreateReplace"},
                "upgrade": {"crds": "CreateReplace"},
                "values": chart.values,
            },
        ),
    ]


def _app_path(repo: Repository, app: App) -> str:
    return f"{repo.path}/{ROOT}/{app.name}"


def _waves(apps: list[App]) -> dict[str, int]:
    """Each app's depth in the dependency order (0 for apps that depend on nothing)."""
    depth: dict[str, int] = {}
    by_name = {a.name: a for a in apps}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(d) for d in by_name[name].depends_on), default=-1)
        return depth[name]

    return {a.name: of(a.name) for a in apps}


def _argo_application(app: App, repo: Repository, wave: int) -> Object:
    sources: list[dict[str, Any]] = [
        {"repoURL": repo.url, "targetRevision": repo.revision, "path": _app_path(repo, app)}
    ]
    if app.chart is not None:
        sources.insert(
            0,
            {
                "repoURL": app.chart.repo_url,
                "chart": app.chart.chart,
                "targetRevision": app.chart.version,
                "helm": {"releaseName": app.chart.release, "valuesObject": app.chart.values},
            },
        )
    return obj(
        "argoproj.io/v1alpha1",
        "Application",
        f"picluster-{app.name}",
        ARGO_NAMESPACE,
        annotations={"argocd.argoproj.io/sync-wave": str(wave)},
        spec={
            "project": "default",
            "sources": sources,
            "destination": {"server": IN_CLUSTER, "namespace": app.namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["ServerSideApply=true"],
            },
        },
    )


def _flux_kustomization(app: App, repo: Repository) -> Object:
    spec: dict[str, Any] = {
        "interval": "10m",
        "path": f"./{_app_path(repo, app)}",
        "prune": True,
        "wait": True,
        "sourceRef": {"kind": "GitRepository", "name": repo.flux_source},
    }
    if app.depends_on:
        spec["dependsOn"] = [{"name": f"picluster-{d}"} for d in app.depends_on]
    return obj(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        f"picluster-{app.name}",
        FLUX_NAMESPACE,
        spec=spec,
    )


def layout(k8s: Kubernetes, apps: list[App], source: str) -> list[Artifact]:
    """The files of ``apps`` under ``kubernetes/`` for ``k8s.gitops``."""
    artifacts: list[Artifact] = []
    for app in apps:
        directory = f"{ROOT}/{app.name}"
        objects = list(app.manifests)
        if app.chart is not None and k8s.gitops == "flux":
            objects += _flux_chart(app, app.chart)
        names = [_file_name(item, app) for item in objects]
        artifacts += [
            _yaml(f"{directory}/{name}", item, source, "k8s")
            for name, item in zip(names, objects, strict=True)
        ]
        if app.chart is not None and k8s.gitops == "plain":
            c = app.chart
            artifacts.append(
                _yaml(
                    f"{directory}/values.yaml",
                    c.values,
                    source,
                    "helm-values",
                    f"chart: {c.repo_url} {c.chart} {c.version}",
                    f"helm upgrade --install {c.release} {c.chart} --repo {c.repo_url} "
                    f"--version {c.version} -n {app.namespace} -f values.yaml",
                )
            )
        artifacts.append(_kustomization(directory, names, source))

    repo = k8s.repository
    if k8s.gitops == "plain" or repo is None:
        return artifacts
    if k8s.gitops == "flux":
        tied = [(app.name, _flux_kustomization(app, repo)) for app in apps]
        directory = f"{ROOT}/flux"
    else:
        waves = _waves(apps)
        tied = [(app.name, _argo_application(app, repo, waves[app.name])) for app in apps]
        directory = f"{ROOT}/argocd"
    artifacts += [_yaml(f"{directory}/{name}.yaml", item, source, "k8s") for name, item in tied]
    artifacts.append(_kustomization(directory, [f"{name}.yaml" for name, _ in tied], source))
    return artifacts

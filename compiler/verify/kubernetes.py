"""Kubernetes artifacts: every object, kustomization.yaml and chart values file, checked in-process.

* Built-in kinds (Namespace, Secret, ClusterRoleBinding, ...) against the strict schemas that
  kubernetes-validate ships, for the newest Kubernetes version it carries.
* The CRD kinds (ESO, Flux, Argo CD) and ``kustomization.yaml`` against the project's own
  strict schemas in ``schemas/k8s/``; an apiVersion/kind with no schema there is a problem.
* Scope: a cluster-scoped kind takes no ``metadata.namespace``, a namespaced one must name
  its namespace explicitly.
* Helm chart values (plain ``values.yaml``, Flux ``spec.values``, Argo ``valuesObject``)
  against the known-key trees in ``schemas/k8s/values-keys/<chart>.json``.

jsonschema, referencing and kubernetes_validate are imported inside the functions that need
them, so a compile without Kubernetes output never loads them. Every schema file is read once
per process and every validator is built once per (apiVersion, kind): the ``functools.cache``
functions below are the only loaders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import yamlio
from ..artifact import Artifact
from ..errors import Problem
from ..k8s.scopes import BUILTIN_CLUSTER_SCOPED
from .k8s_schemas import (
    builtin_validator,
    crd_groups,
    crd_schemas,
    crd_scope_is_cluster,
    crd_validator,
    kubernetes_version,
    schemas_dir,
    values_keys,
)
from .schema_messages import (
    a_or_an,
    closest,
    dotted,
    json_type,
    short,
    validate,
)

if TYPE_CHECKING:
    pass

Loc = tuple[str | int, ...]

# The apiVersion/kind every kustomization.yaml is checked as.
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")

# kustomization.yaml fields kustomize deprecated, and what replaces them. The schema rejects
# most of them as unknown; commonLabels it still accepts, but kustomize warns about it.
DEPRECATED_KUSTOMIZE = {
    "bases": "resources",
    "commonLabels": "labels",
    "helmChartInflationGenerator": "helmCharts",
    "imageTags": "images",
    "patchesJson6902": "patches",
    "patchesStrategicMerge": "patches",
    "vars": "replacements",
}

_CHART_LINE = re.compile(r"# chart: (?P<repo>\S+) (?P<chart>\S+) (?P<version>\S+)\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


# --- parsing ----------------------------------------------------------------------------------


class _Unreadable(Exception):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages


def _load(artifact: Artifact) -> Any:
    """The artifact's single YAML document as plain data (a comment-only file is ``{}``)."""
    try:
        text = artifact.data.decode()
    except UnicodeDecodeError:
        raise _Unreadable(["not UTF-8"]) from None
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return {}
    try:
        documents = yamlio.parse(text)
    except ValueError as exc:
        raise _Unreadable([str(exc)]) from None
    if len(documents) != 1:
        raise _Unreadable([f"{len(documents)} YAML documents; one object per file"])
    data = documents[0]
    if not isinstance(data, dict):
        raise _Unreadable([f"the document is {json_type(data)}; expected a mapping"])
    return data


# --- the checks -------------------------------------------------------------------------------


Finding = tuple[Loc, str]


def _scope(kind: str, cluster: bool, data: dict[str, Any]) -> list[Finding]:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return []
    loc: Loc = ("metadata", "namespace")
    if cluster and "namespace" in metadata:
        return [(loc, f"{a_or_an(kind)} is cluster-scoped and takes no namespace")]
    if not cluster and not metadata.get("namespace"):
        return [(loc, f"{a_or_an(kind)} is namespaced; set its namespace explicitly")]
    return []


def _names(kind: str, data: dict[str, Any]) -> list[Finding]:
    """metadata.name and metadata.namespace of a built-in kind (its schema leaves them free)."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return [(("metadata",), "required field missing")] if metadata is None else []
    findings: list[Finding] = []
    name = metadata.get("name")
    label = kind == "Namespace"
    pattern, what = (_DNS_LABEL, "DNS label") if label else (_DNS_SUBDOMAIN, "DNS subdomain")
    if name is None:
        findings.append((("metadata", "name"), "required field missing"))
    elif isinstance(name, str) and not (
        pattern.match(name) and len(name) <= (63 if label else 253)
    ):
        findings.append((("metadata", "name"), f"{short(name)} is not a valid {what} name"))
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace and not _DNS_LABEL.match(namespace):
        findings.append((("metadata", "namespace"), f"{short(namespace)} is not a DNS label"))
    return findings


def _object(data: dict[str, Any]) -> list[Finding]:
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return [
            ((field,), "required field missing")
            for field in ("apiVersion", "kind")
            if not isinstance(data.get(field), str) or not data[field]
        ]
    group = api_version.split("/")[0] if "/" in api_version else ""
    if (api_version, kind) == KUSTOMIZATION:
        return [(("kind",), "a kustomization.yaml is not a cluster object")]
    if group in crd_groups():
        validator = crd_validator(api_version, kind)
        if validator is None:
            known = ", ".join(f"{a} {k}" for a, k in sorted(crd_schemas()) if a.startswith(group))
            return [
                (("apiVersion",), f"{api_version} {kind} is not supported (supported: {known})")
            ]
        cluster = crd_scope_is_cluster(api_version, kind)
        own = _scope(kind, cluster, data)
    else:
        validator = builtin_validator(api_version, kind)
        if validator is None:
            version = ".".join(kubernetes_version().split(".")[:2])
            return [(("kind",), f"Kubernetes {version} has no kind {kind} in {api_version}")]
        own = _scope(kind, kind in BUILTIN_CLUSTER_SCOPED, data) + _names(kind, data)
    mine = {loc for loc, _ in own}
    return own + [f for f in validate(validator, data) if f[0] not in mine]


def _values(chart: Any, chart_loc: Loc, values: Any, values_loc: Loc) -> list[Finding]:
    """Every key of ``values`` that ``chart``'s known-key tree lacks."""
    if not isinstance(chart, str) or not chart:
        return [(values_loc, "the chart is not named, so its values cannot be checked")]
    if values_keys(chart) is None:
        message = f"chart {chart!r} has no schemas/k8s/values-keys/{chart}.json to check values"
        return [(chart_loc, message)]
    return [((*values_loc, *loc), message) for loc, message in unknown_chart_keys(chart, values)]


def unknown_chart_keys(chart: str, values: Any) -> list[Finding]:
    """(location inside ``values``, message) of each key the chart ``chart`` does not know;
    nothing when the chart has no known-key tree."""
    tree = values_keys(chart)
    if tree is None:
        return []
    return [
        (loc, f"unknown key for chart {chart!r}" + (f"; did you mean {close!r}?" if close else ""))
        for loc, close in _unknown_keys(values, tree, ())
    ]


def _unknown_keys(values: Any, tree: dict[str, Any], loc: Loc) -> Iterator[tuple[Loc, str | None]]:
    """(location, closest known key) of each unknown key; a leaf or ``"*"`` accepts anything.

    Lists are not descended into: the trees describe mapping keys only.
    """
    if not isinstance(values, dict) or not tree or "*" in tree:
        return
    for key, value in values.items():
        if key in tree:
            yield from _unknown_keys(value, tree[key], (*loc, key))
        else:
            yield (*loc, key), closest(key, tree)


def _chart_values(data: dict[str, Any]) -> list[Finding]:
    """The values a HelmRelease or an Argo CD Application carries, checked against the chart."""
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return []
    if data.get("kind") == "HelmRelease" and "values" in spec:
        chart_loc: Loc = ("spec", "chart", "spec", "chart")
        return _values(_get(data, chart_loc), chart_loc, spec["values"], ("spec", "values"))
    findings: list[Finding] = []
    if data.get("kind") == "Application":
        sources: list[Loc] = [("spec", "source")]
        if isinstance(spec.get("sources"), list):
            sources += [("spec", "sources", i) for i in range(len(spec["sources"]))]
        for loc in sources:
            values_loc = (*loc, "helm", "valuesObject")
            values = _get(data, values_loc)
            if values is not None:
                chart_loc = (*loc, "chart")
                findings += _values(_get(data, chart_loc), chart_loc, values, values_loc)
    return findings


def _get(data: Any, loc: Loc) -> Any:
    """The value at ``loc`` in ``data``, or None when some step is missing or of another type
    (a list index in ``loc`` comes from that list's own length)."""
    for part in loc:
        if isinstance(part, int) and isinstance(data, list):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


# --- one artifact -----------------------------------------------------------------------------


def _problems(
    artifact: Artifact, check: Callable[[dict[str, Any]], list[Finding]]
) -> list[Problem]:
    try:
        data = _load(artifact)
    except _Unreadable as exc:
        return [Problem(artifact.path, 0, 0, "", m) for m in exc.messages]
    return [Problem(artifact.path, 0, 0, dotted(loc), message) for loc, message in check(data)]


def verify_object(artifact: Artifact) -> list[Problem]:
    """Problems of one Kubernetes object (``k8s`` artifact)."""
    return _problems(artifact, lambda data: _object(data) + _chart_values(data))


def _kustomization(data: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = [
        ((field,), f"deprecated field; use {use!r} instead")
        for field, use in DEPRECATED_KUSTOMIZE.items()
        if field in data
    ]
    validator = crd_validator(*KUSTOMIZATION)
    if validator is None:
        return [((), f"no schema for {' '.join(KUSTOMIZATION)} in {schemas_dir()}")]
    mine = {loc for loc, _ in findings}
    return findings + [f for f in validate(validator, data) if f[0] not in mine]


def verify_kustomization(artifact: Artifact) -> list[Problem]:
    """Problems of one ``kustomization.yaml``."""
    return _problems(artifact, _kustomization)


def verify_values(artifact: Artifact) -> list[Problem]:
    """Problems of one plain ``values.yaml``; line 2 names the chart."""
    lines = artifact.data.decode(errors="replace").split("\n", 2)
    match = _CHART_LINE.match(lines[1]) if len(lines) > 1 else None
    if match is None:
        message = "line 2 must be '# chart: <repo-url> <chart-name> <version>'"
        return [Problem(artifact.path, 0, 0, "", message)]
    chart = match["chart"]
    return _problems(artifact, lambda data: _values(chart, (), data, ()))

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

import difflib
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import yamlio
from ..artifact import Artifact
from ..errors import Problem

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator
    from referencing import Registry

Loc = tuple[str | int, ...]

KINDS = ("k8s", "kustomization", "helm-values")

# The apiVersion/kind every kustomization.yaml is checked as.
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")

# Built-in kinds that live outside namespaces (``kubectl api-resources --namespaced=false``).
# The CRD kinds' scope comes from their schema: cluster-scoped ones allow no metadata.namespace.
CLUSTER_SCOPED_BUILTINS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterTrustBundle",
        "ComponentStatus",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IPAddress",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "ResourceSlice",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectReview",
        "SelfSubjectRulesReview",
        "ServiceCIDR",
        "StorageClass",
        "StorageVersion",
        "StorageVersionMigration",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeAttributesClass",
    }
)

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
_CHART_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_/-]+\Z")


# --- where the schemas are --------------------------------------------------------------------


def schemas_dir() -> Path:
    """``schemas/k8s`` of the checkout, or a copy carried inside the package."""
    packaged = Path(__file__).resolve().parent.parent / "schemas" / "k8s"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "schemas/k8s"


@functools.cache
def kubernetes_version() -> str:
    """The newest Kubernetes version whose schemas kubernetes-validate ships (``1.37.0``)."""
    from kubernetes_validate.utils import latest_version

    return str(latest_version())


@functools.cache
def _builtin_dir() -> Traversable:
    """kubernetes-validate's strict schema directory for :func:`kubernetes_version`."""
    return (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{kubernetes_version()}-local-strict"
    )


@functools.cache
def _builtin_registry() -> Registry:
    """The registry holding the 1.8 MB ``_definitions.json`` every built-in schema refers to.

    Loaded once per process; kubernetes_validate.validate() would reload it on every call.
    """
    from referencing import Registry, Resource

    definitions = json.loads(_builtin_dir().joinpath("_definitions.json").read_text())
    registry: Registry = Resource.from_contents(definitions) @ Registry()
    return registry


def _builtin_file(api_version: str, kind: str) -> str:
    """kubernetes-validate's schema file name: ``rbac.authorization.k8s.io/v1`` ->
    ``clusterrolebinding-rbac-v1.json``."""
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


@functools.cache
def _builtin_validator(api_version: str, kind: str) -> Validator | None:
    """The strict validator of a built-in kind, or None when Kubernetes has no such kind."""
    from jsonschema import Draft202012Validator

    if not re.fullmatch(r"[A-Za-z0-9]+", kind) or not re.fullmatch(r"[a-z0-9./-]+", api_version):
        return None
    path = _builtin_dir().joinpath(_builtin_file(api_version, kind))
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The file name drops the group's domain: make sure this is the group asked for.
    versions = schema.get("properties", {}).get("apiVersion", {}).get("enum", [api_version])
    if api_version not in versions:
        return None
    validator: Validator = Draft202012Validator(schema, registry=_builtin_registry())
    return validator


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The project's schemas, by (apiVersion, kind), from ``<group>_<version>_<Kind>.json``."""
    schemas = {}
    for path in sorted(schemas_dir().glob("*_*_*.json")):
        group, version, kind = path.stem.split("_", 2)
        schemas[(f"{group}/{version}", kind)] = json.loads(path.read_text())
    return schemas


@functools.cache
def _crd_groups() -> frozenset[str]:
    """The API groups the project's schemas cover; any other group is a built-in one."""
    return frozenset(api.split("/")[0] for api, _ in _crd_schemas())


@functools.cache
def _crd_validator(api_version: str, kind: str) -> Validator | None:
    from jsonschema import Draft202012Validator

    schema = _crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    validator: Validator = Draft202012Validator(schema)
    return validator


@functools.cache
def _values_keys(chart: str) -> dict[str, Any] | None:
    """The known-key tree of ``chart``, or None when ``values-keys/<chart>.json`` is absent."""
    if not _CHART_NAME.match(chart):
        return None
    path = schemas_dir() / "values-keys" / f"{chart}.json"
    if not path.is_file():
        return None
    tree: dict[str, Any] = json.loads(path.read_text())["keys"]
    return tree


def _crd_scope_is_cluster(api_version: str, kind: str) -> bool:
    metadata = _crd_schemas()[(api_version, kind)]["properties"]["metadata"]
    return "namespace" not in metadata.get("properties", {})


# --- messages ---------------------------------------------------------------------------------


def dotted(loc: Iterable[str | int]) -> str:
    """``("spec", "sources", 0, "chart")`` -> ``spec.sources[0].chart``.

    A key that is not a plain word is quoted: ``annotations["vault.hashicorp.com/role"]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "AEIOU" else f"a {word}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (ignoring case), if one is close enough."""
    lowered = {c.lower(): c for c in candidates if c != "*"}
    match = difflib.get_close_matches(word.lower(), lowered, n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _schema_findings(error: ValidationError) -> Iterator[tuple[Loc, str]]:
    """One jsonschema error as (location, one-line message) pairs."""
    loc: Loc = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    value: Any = error.validator_value
    rule = error.validator
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key in instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            close = _closest(key, known)
            hint = f"; did you mean {close!r}?" if close else ""
            yield (*loc, key), f"unknown field{hint}"
    elif rule == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield (*loc, key), "required field missing"
    elif rule == "type":
        wanted = value
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        if len(wanted) > 1 and "null" in wanted:
            wanted.remove("null")  # the built-in schemas allow null beside every type
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in wanted)
        yield loc, f"must be {names}, not {_json_type(instance)} ({_short(instance)})"
    elif rule == "enum":
        choices = ", ".join(_short(c) for c in value)
        yield loc, f"must be one of {choices}, not {_short(instance)}"
    elif rule == "const":
        yield loc, f"must be {_short(value)}, not {_short(instance)}"
    elif rule == "pattern":
        yield loc, f"{_short(instance)} does not match {value}"
    elif rule in ("oneOf", "anyOf") and _alternative_fields(value):
        fields = ", ".join(_alternative_fields(value))
        if rule == "anyOf":
            yield loc, f"needs at least one of: {fields}"
        elif error.context:
            yield loc, f"needs exactly one of: {fields}"
        else:
            yield loc, f"takes only one of: {fields}"
    else:
        message = " ".join(error.message.split())
        yield loc, message if len(message) <= 200 else message[:197] + "..."


def _alternative_fields(alternatives: Any) -> list[str]:
    """``[{"required": ["a"]}, {"required": ["b"]}]`` -> ``["a", "b"]``; else empty."""
    fields: list[str] = []
    for alternative in alternatives if isinstance(alternatives, list) else ():
        if not isinstance(alternative, dict) or set(alternative) != {"required"}:
            return []
        fields.extend(alternative["required"])
    return fields


def _validate(validator: Validator, data: Any) -> list[tuple[Loc, str]]:
    findings = [f for error in validator.iter_errors(data) for f in _schema_findings(error)]
    return sorted(set(findings), key=lambda f: (dotted(f[0]), f[1]))


# --- parsing ----------------------------------------------------------------------------------


class _Unreadable(Exception):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages


def _load(artifact: Artifact) -> Any:
    """The artifact's single YAML document as plain data (a comment-only file is ``{}``)."""
    try:
        text = artifact.data.decode("utf-8")
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
        raise _Unreadable([f"the document is {_json_type(data)}; expected a mapping"])
    return data


# --- the checks -------------------------------------------------------------------------------


Finding = tuple[Loc, str]


def _scope(kind: str, cluster: bool, data: dict[str, Any]) -> list[Finding]:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return []
    loc: Loc = ("metadata", "namespace")
    if cluster and "namespace" in metadata:
        return [(loc, f"{_a(kind)} is cluster-scoped and takes no namespace")]
    if not cluster and not metadata.get("namespace"):
        return [(loc, f"{_a(kind)} is namespaced; set its namespace explicitly")]
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
        findings.append((("metadata", "name"), f"{_short(name)} is not a valid {what} name"))
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace and not _DNS_LABEL.match(namespace):
        findings.append((("metadata", "namespace"), f"{_short(namespace)} is not a DNS label"))
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
    if group in _crd_groups():
        validator = _crd_validator(api_version, kind)
        if validator is None:
            known = ", ".join(f"{a} {k}" for a, k in sorted(_crd_schemas()) if a.startswith(group))
            return [
                (("apiVersion",), f"{api_version} {kind} is not supported (supported: {known})")
            ]
        cluster = _crd_scope_is_cluster(api_version, kind)
        own = _scope(kind, cluster, data)
    else:
        validator = _builtin_validator(api_version, kind)
        if validator is None:
            version = ".".join(kubernetes_version().split(".")[:2])
            return [(("kind",), f"Kubernetes {version} has no kind {kind} in {api_version}")]
        own = _scope(kind, kind in CLUSTER_SCOPED_BUILTINS, data) + _names(kind, data)
    mine = {loc for loc, _ in own}
    return own + [f for f in _validate(validator, data) if f[0] not in mine]


def _values(chart: Any, chart_loc: Loc, values: Any, values_loc: Loc) -> list[Finding]:
    """Every key of ``values`` that ``chart``'s known-key tree lacks."""
    if not isinstance(chart, str) or not chart:
        return [(values_loc, "the chart is not named, so its values cannot be checked")]
    tree = _values_keys(chart)
    if tree is None:
        message = f"chart {chart!r} has no schemas/k8s/values-keys/{chart}.json to check values"
        return [(chart_loc, message)]
    return [
        (loc, f"unknown key for chart {chart!r}" + (f"; did you mean {close!r}?" if close else ""))
        for loc, close in _unknown_keys(values, tree, values_loc)
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
            yield (*loc, key), _closest(key, tree)


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
    """The value at ``loc`` in ``data``, or None when some step is missing or of another type."""
    for part in loc:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
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
    validator = _crd_validator(*KUSTOMIZATION)
    if validator is None:
        return [((), f"no schema for {' '.join(KUSTOMIZATION)} in {schemas_dir()}")]
    mine = {loc for loc, _ in findings}
    return findings + [f for f in _validate(validator, data) if f[0] not in mine]


def verify_kustomization(artifact: Artifact) -> list[Problem]:
    """Problems of one ``kustomization.yaml``."""
    return _problems(artifact, _kustomization)


def verify_values(artifact: Artifact) -> list[Problem]:
    """Problems of one plain ``values.yaml``; line 2 names the chart."""
    lines = artifact.data.decode("utf-8", errors="replace").split("\n", 2)
    match = _CHART_LINE.match(lines[1]) if len(lines) > 1 else None
    if match is None:
        message = "line 2 must be '# chart: <repo-url> <chart-name> <version>'"
        return [Problem(artifact.path, 0, 0, "", message)]
    chart = match["chart"]
    return _problems(artifact, lambda data: _values(chart, (), data, ()))


VERIFIERS: dict[str, Callable[[Artifact], list[Problem]]] = {
    "k8s": verify_object,
    "kustomization": verify_kustomization,
    "helm-values": verify_values,
}


def check(artifacts: Iterable[Artifact]) -> list[Problem]:
    """Every problem of the Kubernetes artifacts among ``artifacts`` (others are ignored)."""
    return [p for a in artifacts if a.kind in VERIFIERS for p in VERIFIERS[a.kind](a)]

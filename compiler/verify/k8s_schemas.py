"""Where the Kubernetes schemas are, loaded once per process: kubernetes-validate's strict
schemas for built-in kinds, the project's for ESO, Flux, Argo CD and chart values."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from referencing import Registry

Loc = tuple[str | int, ...]

CHART_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


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
def builtin_dir() -> Traversable:
    """kubernetes-validate's strict schema directory for :func:`kubernetes_version`."""
    return (
        resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{kubernetes_version()}-local-strict"
    )


@functools.cache
def builtin_registry() -> Registry:
    """The registry holding the 1.8 MB ``_definitions.json`` every built-in schema refers to.

    Loaded once per process; kubernetes_validate.validate() would reload it on every call.
    """
    from referencing import Registry, Resource

    definitions = json.loads(builtin_dir().joinpath("_definitions.json").read_text())
    registry: Registry = Resource.from_contents(definitions) @ Registry()
    return registry


def builtin_file(api_version: str, kind: str) -> str:
    """kubernetes-validate's schema file name: ``rbac.authorization.k8s.io/v1`` ->
    ``clusterrolebinding-rbac-v1.json``."""
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


@functools.cache
def builtin_validator(api_version: str, kind: str) -> Validator | None:
    """The strict validator of a built-in kind, or None when Kubernetes has no such kind."""
    from jsonschema import Draft202012Validator

    if not re.fullmatch(r"[A-Za-z0-9]+", kind) or not re.fullmatch(r"[a-z0-9./-]+", api_version):
        return None
    path = builtin_dir().joinpath(builtin_file(api_version, kind))
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The file name drops the group's domain: make sure this is the group asked for.
    versions = schema.get("properties", {}).get("apiVersion", {}).get("enum", [api_version])
    if api_version not in versions:
        return None
    validator: Validator = Draft202012Validator(schema, registry=builtin_registry())
    return validator


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The project's schemas, by (apiVersion, kind), from ``<group>_<version>_<Kind>.json``."""
    schemas = {}
    for path in sorted(schemas_dir().glob("*_*_*.json")):
        group, version, kind = path.stem.split("_", 2)
        schemas[(f"{group}/{version}", kind)] = json.loads(path.read_text())
    return schemas


@functools.cache
def crd_groups() -> frozenset[str]:
    """The API groups the project's schemas cover; any other group is a built-in one."""
    return frozenset(api.split("/")[0] for api, _ in crd_schemas())


@functools.cache
def crd_validator(api_version: str, kind: str) -> Validator | None:
    from jsonschema import Draft202012Validator

    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    validator: Validator = Draft202012Validator(schema)
    return validator


@functools.cache
def values_keys(chart: str) -> dict[str, Any] | None:
    """The known-key tree of ``chart``, or None when ``values-keys/<chart>.json`` is absent."""
    if not CHART_NAME.match(chart):
        return None
    path = schemas_dir() / "values-keys" / f"{chart}.json"
    if not path.is_file():
        return None
    tree: dict[str, Any] = json.loads(path.read_text())["keys"]
    return tree


def crd_scope_is_cluster(api_version: str, kind: str) -> bool:
    metadata = crd_schemas()[(api_version, kind)]["properties"]["metadata"]
    return "namespace" not in metadata["properties"]

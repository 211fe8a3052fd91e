"""Where the bundled Kubernetes schemas are found: a checkout's top-level ``schemas/k8s``, or the
copy an installed wheel carries inside the package (pyproject's
``[tool.hatch.build.targets.wheel.force-include]``: ``"schemas" = "compiler/schemas"``).

The module is placed in each layout by giving it that layout's ``__file__``; the real wheel is
installed and run by ``tests/test_install.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compiler.errors import Problem
from compiler.verify import k8s_schemas, kubernetes
from tests.support import ROOT
from tests.verify.test_kubernetes import KUSTOMIZATION, kustomization

CACHED = (
    k8s_schemas.crd_schemas,
    k8s_schemas.crd_groups,
    k8s_schemas.crd_validator,
    k8s_schemas.values_keys,
)


@pytest.fixture
def place(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Moves the module into the tree at a path; the schema caches are emptied before and
    after."""

    def move(root: Path) -> None:
        monkeypatch.setattr(k8s_schemas, "__file__", str(root / "compiler/verify/k8s_schemas.py"))

    for loader in CACHED:
        loader.cache_clear()
    yield move
    monkeypatch.undo()
    for loader in CACHED:
        loader.cache_clear()


def test_a_checkout_reads_its_top_level_schemas() -> None:
    assert k8s_schemas.schemas_dir() == ROOT / "schemas" / "k8s"


def test_an_installed_wheel_reads_the_copy_inside_the_package(
    place: Callable[[Path], None], tmp_path: Path
) -> None:
    site = tmp_path / "site-packages"
    (site / "compiler" / "schemas" / "k8s").mkdir(parents=True)
    (site / "schemas" / "k8s").mkdir(parents=True)  # not the package's: never read
    place(site)
    assert k8s_schemas.schemas_dir() == site / "compiler" / "schemas" / "k8s"


def test_a_checkout_elsewhere_reads_its_own_schemas(
    place: Callable[[Path], None], tmp_path: Path
) -> None:
    checkout = tmp_path / "work" / "picluster"
    (checkout / "schemas" / "k8s").mkdir(parents=True)
    (tmp_path / "work" / "schemas" / "k8s").mkdir(parents=True)  # beside it: not its own
    place(checkout)
    assert k8s_schemas.schemas_dir() == checkout / "schemas" / "k8s"


def test_a_missing_kustomization_schema_is_one_line_naming_the_directory(
    place: Callable[[Path], None], tmp_path: Path
) -> None:
    """An install that lost its schemas says where it looked, rather than passing the file."""
    site = tmp_path / "site-packages"
    (site / "compiler" / "schemas" / "k8s").mkdir(parents=True)
    place(site)
    artifact = kustomization(KUSTOMIZATION)
    assert kubernetes.verify_kustomization(artifact) == [
        Problem(
            artifact.path,
            0,
            0,
            "",
            "no schema for kustomize.config.k8s.io/v1beta1 Kustomization in "
            f"{site}/compiler/schemas/k8s",
        )
    ]

"""What a user gets from `pip install .`: the wheel, in a fresh virtualenv, without extras.

Every module of the package imports and every command answers `--help`, so a runtime
dependency that only the test extra brings fails here; `validate` and `compile` on the reference
spec make exactly the committed out/, so the templates and schemas travel in the wheel.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REFERENCE, ROOT

pytestmark = pytest.mark.integration

IMPORT_ALL = """
import importlib, pkgutil, compiler
names = [m.name for m in pkgutil.walk_packages(compiler.__path__, "compiler.")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
print(compiler.__file__)
print(len(names))
"""


def run(argv: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a fresh virtualenv holding the wheel built from this checkout, no extras."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, ROOT], work)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("picluster-*.whl")
    made = run([sys.executable, "-m", "venv", work / "venv"], work)
    assert made.returncode == 0, made.stderr
    bin_dir = work / "venv" / "bin"
    done = run([bin_dir / "pip", "install", "-q", wheel], work)
    assert done.returncode == 0, done.stdout + done.stderr
    return bin_dir


def test_every_module_imports_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = run([installed / "python", "-c", IMPORT_ALL], tmp_path)
    assert done.returncode == 0, done.stderr
    where, count = done.stdout.split()
    assert Path(where).is_relative_to(installed.parent), where  # not this checkout
    assert int(count) > 40


def test_every_command_answers_help(installed: Path, tmp_path: Path) -> None:
    listed = run([installed / "picluster", "--help"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    listing = listed.stdout.split("Commands:", 1)[1].splitlines()
    names = sorted(line.split()[0] for line in listing if line.strip())
    assert names == ["access", "apply", "compile", "diff", "init", "plan", "schema", "validate"]
    for name in names:
        done = run([installed / "picluster", name, "--help"], tmp_path)
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith(f"Usage: picluster {name}"), done.stdout


def test_validate_and_compile_the_reference_spec(installed: Path, tmp_path: Path) -> None:
    shutil.copy(REFERENCE, tmp_path / "picluster.yaml")
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    checked = run([installed / "picluster", "validate"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    compiled = run([installed / "picluster", "compile"], tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    same = filecmp.dircmp(ROOT / "out", tmp_path / "out")
    assert not _differences(same), _differences(same)


def _differences(cmp: filecmp.dircmp[str]) -> list[str]:
    found = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for sub in cmp.subdirs.values():
        found += _differences(sub)
    return found

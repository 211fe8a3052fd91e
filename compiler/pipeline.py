"""One way through: load → check → render → verify → write.

Nothing is written until every artifact is rendered and verified; bad input never reaches the
writer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from . import collector, kinds, manifest, output, verified
from .artifact import Artifact
from .check import Loaded, load
from .errors import Problem, StaleOutputError, VerifyError
from .model import Model
from .spec import Spec
from .targets import TARGETS


@dataclass(frozen=True)
class Options:
    """What ``picluster compile`` was asked to do."""

    spec_path: Path = Path("picluster.yaml")
    out_dir: Path = Path("out")
    check: bool = False
    verify_external: bool = False
    force: bool = False


@dataclass
class Build:
    """A compiled spec, in memory: every artifact, the manifest last."""

    loaded: Loaded
    artifacts: list[Artifact]

    @property
    def spec(self) -> Spec:
        return self.loaded.spec

    @property
    def model(self) -> Model:
        return self.loaded.model

    @property
    def warnings(self) -> list[Problem]:
        return self.loaded.warnings


@dataclass
class Result:
    build: Build
    written: list[str] = field(default_factory=list)
    strangers: list[str] = field(default_factory=list)  # --check: files not picluster's


def render(spec_path: Path) -> Build:
    """Load, check and render ``spec_path``, in memory; nothing is verified yet.

    Raises:
        InputError: the spec is missing or invalid.
        VerifyError: two targets generated the same path.
    """
    with collector.paused():
        loaded = load(spec_path)
        artifacts = [a for target in TARGETS.values() for a in target(loaded.model)]
    paths = [a.path for a in artifacts]
    if len(set(paths)) != len(paths):
        clash = sorted({p for p in paths if paths.count(p) > 1})
        raise VerifyError(Problem(p, 0, 0, "", "generated twice") for p in clash)
    artifacts.append(manifest.build(artifacts, loaded.inputs.source))
    return Build(loaded, artifacts)


def verify_build(b: Build, *, skip: Collection[str] = ()) -> None:
    """Run every artifact's verifier except those in ``skip``, and remember what passed.

    Raises:
        VerifyError: with every problem found.
    """
    todo = [a for a in b.artifacts if a.kind != "manifest" and a.path not in skip]
    with collector.paused():
        problems = kinds.verify(todo)
    if problems:
        raise VerifyError(problems)
    verified.remember(todo)


def verify_new(b: Build) -> None:
    """Verify what this picluster has not verified before (see ``verified``)."""
    verify_build(b, skip=verified.already(b.artifacts))


def build(spec_path: Path) -> Build:
    """Load, check, render and verify ``spec_path``; nothing touches the disk but the reads."""
    b = render(spec_path)
    verify_build(b)
    return b


def diff(options: Options) -> str:
    """A unified diff from ``options.out_dir`` to what the spec compiles to (empty: none)."""
    b = render(options.spec_path)
    verify_new(b)
    return output.unified_diff(options.out_dir, b.artifacts)


def compile_tree(options: Options) -> Result:
    """Compile ``options.spec_path`` into ``options.out_dir`` (or only compare, with check).

    Raises:
        StaleOutputError: with ``check``, when out/ differs from what the spec compiles to.
    """
    result = Result(render(options.spec_path))
    artifacts = result.build.artifacts
    verify_new(result.build)
    if options.verify_external:
        problems = kinds.prove(result.build.model, artifacts)
        if problems:
            raise VerifyError(problems)
    if options.check:
        changes = output.differences(options.out_dir, artifacts)
        result.strangers = output.strangers(options.out_dir, artifacts)
        if changes:
            forced = sum(1 for c in changes if c.reason in output.FORCED)
            raise StaleOutputError(str(options.out_dir), [str(c) for c in changes], forced)
        return result
    result.written = output.write(options.out_dir, artifacts, force=options.force)
    return result

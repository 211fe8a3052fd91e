"""The tree apply pushes: ``out/`` as it is on disk, and only when it is exactly what the spec
compiles to. Each node gets the bytes of its ``out/hosts/<node>/`` files, with the mode and
owner the manifest records; Vault gets the policy files' bytes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .. import output
from ..artifact import Artifact
from ..errors import OutOfDateError
from ..files import read_plain
from ..model import Model, node_of
from ..pipeline import Build, render, verify_new


@dataclass(frozen=True)
class Tree:
    """The compiled tree of a spec, read from ``out_dir``."""

    build: Build  # the spec, its model, and every artifact with the bytes out/ holds
    out_dir: Path

    @property
    def model(self) -> Model:
        return self.build.model

    def node_artifacts(self, node: str) -> list[Artifact]:
        """The artifacts that land on ``node``, by their path on it."""
        return [a for a in self.build.artifacts if (node_of(a.path) or ("",))[0] == node]

    @property
    def policies(self) -> dict[str, bytes]:
        """Each policy's text as the first node's policy files hold it: what Vault is sent."""
        first = self.model.nodes[0]
        lay = self.model.layout
        by_path = {a.path: a.data for a in self.build.artifacts}
        return {
            name: by_path[first.out(f"{lay.policy_dir}/{name}.hcl")] for name in self.model.policies
        }


def current(spec_path: Path, out_dir: Path) -> Tree:
    """``out_dir`` as apply will push it, checked against what ``spec_path`` compiles to.

    Raises:
        InputError: the spec is invalid.
        OutOfDateError: ``out_dir`` differs from the compiled spec (named: the first change).
    """
    build = render(spec_path)
    verify_new(build)
    changes = output.differences(out_dir, build.artifacts)
    if changes:
        raise OutOfDateError(str(out_dir), str(spec_path), [str(c) for c in changes])
    # The same bytes, by the check above: read from out/, so apply sends what is committed.
    artifacts = [dataclasses.replace(a, data=read_plain(out_dir / a.path)) for a in build.artifacts]
    return Tree(dataclasses.replace(build, artifacts=artifacts), out_dir)

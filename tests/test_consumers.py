"""Generated host files, read by the real programs that consume them on a node.

shellcheck for scripts, systemd-analyze for units, systemd-sysusers and systemd-tmpfiles applied
to an empty root, and OpenBao's own HCL parser for policies. The OpenBao server itself boots from
the generated config in ``tests/integration``.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from compiler import kinds, yamlio
from compiler.artifact import Artifact
from compiler.pipeline import Build, build
from compiler.verify import external
from tests.support import REFERENCE, ROOT, compile_data, minimal, need

pytestmark = pytest.mark.integration

SPECS = [REFERENCE, ROOT / "examples" / "openbao-ha" / "picluster.yaml"]
BUILDS = [build(spec) for spec in SPECS]
ARTIFACTS = [a for b in BUILDS for a in b.artifacts]
# A kustomization is built with the files of its own spec.
KUSTOMIZATIONS = [(b, a) for b in BUILDS for a in b.artifacts if a.kind == "kustomization"]


def of_kind(kind: str) -> list[Artifact]:
    return [a for a in ARTIFACTS if a.kind == kind]


@pytest.mark.parametrize("script", of_kind("shell"), ids=lambda a: a.path)
def test_shellcheck_prints_nothing(script: Artifact) -> None:
    need("shellcheck")
    assert external.shellcheck(script) == []


def test_shellcheck_would_catch_a_bad_script() -> None:
    need("shellcheck")
    bad = Artifact("x.sh", b"#!/bin/sh\nfor f in `ls`; do echo $f; done\n", 0o755, "shell")
    assert external.shellcheck(bad) != []


def test_systemd_analyze_verify_prints_nothing(tmp_path: Path) -> None:
    """With the server binary present (here: the real bao), systemd has nothing to say."""
    bao = need("systemd-analyze", "bao")["bao"]
    for distribution in ("vault", "openbao"):
        b = compile_data(tmp_path, minimal(distribution=distribution, paths={"binary": bao}))
        units = [a for a in b.artifacts if a.kind == "systemd"]
        assert len(units) == 2
        assert external.systemd_verify(units) == [], distribution


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_systemd_units_of_the_specs_verify(spec: Path) -> None:
    """The specs' own units: only the not-yet-installed server binary may be missing."""
    need("systemd-analyze")
    b = build(spec)
    units = [a for a in b.artifacts if a.kind == "systemd"]
    node = units[0].path.split("/")[1]
    binary = "/usr/local/bin/vault" if spec == REFERENCE else "/usr/local/bin/bao"
    assert (
        external.systemd_verify(
            [u for u in units if f"/{node}/" in u.path], installed_later=[binary]
        )
        == []
    )


def test_systemd_analyze_would_catch_the_procedures_unit() -> None:
    need("systemd-analyze")
    unit = (
        b"[Unit]\nDescription=x\n[Service]\nCapabilities=CAP_IPC_LOCK+ep\n"
        b"StartLimitInterval=60\nExecStart=/bin/true\n"
    )
    assert external.systemd_verify([Artifact("x/vault.service", unit, 0o644, "systemd")])


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_sysusers_and_tmpfiles_create_the_declared_tree(spec: Path, tmp_path: Path) -> None:
    """Apply the generated entries to an empty root with the real programs, then look."""
    need("systemd-sysusers", "systemd-tmpfiles")
    b = build(spec)
    node = next(a.path.split("/")[1] for a in b.artifacts if a.kind == "sysusers")
    root = tmp_path / "root"
    for artifact in b.artifacts:
        if artifact.kind in ("sysusers", "tmpfiles") and f"/{node}/" in artifact.path:
            target = root / artifact.path.split("/", 2)[2]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.data)
    sysusers = next(a for a in b.artifacts if a.kind == "sysusers" and f"/{node}/" in a.path)
    tmpfiles = next(a for a in b.artifacts if a.kind == "tmpfiles" and f"/{node}/" in a.path)
    assert external.host_setup(sysusers, tmpfiles) == []

    # And for real, to inspect the result.
    external._run(["systemd-sysusers", f"--root={root}"])
    external._run(["systemd-tmpfiles", f"--root={root}", "--create"])
    user = "vault" if spec == REFERENCE else "openbao"
    passwd = (root / "etc" / "passwd").read_text()
    entry = next(line.split(":") for line in passwd.splitlines() if line.startswith(f"{user}:"))
    uid, shell = int(entry[2]), entry[6]
    assert shell == "/usr/sbin/nologin"
    for directory in (
        f"etc/{user}",
        f"etc/{user}/tls",
        f"etc/{user}/policy",
        f"etc/{user}/plugin",
        f"var/lib/{user}",
        f"var/log/{user}",
    ):
        st = os.stat(root / directory)
        assert stat.S_IMODE(st.st_mode) == 0o750, directory
        if os.geteuid() == 0:
            assert st.st_uid == uid, directory


@pytest.mark.parametrize("policy", of_kind("hcl-policy"), ids=lambda a: a.path)
def test_policies_parse_with_the_real_hcl_parser(policy: Artifact) -> None:
    need("bao")
    assert external.policy_fmt(policy) == []


def test_policy_parser_would_catch_broken_hcl() -> None:
    need("bao")
    broken = Artifact(
        "p.hcl", b'path "secret/*" {\n  capabilities = ["read"\n', 0o640, "hcl-policy"
    )
    assert external.policy_fmt(broken) != []


@pytest.mark.parametrize(
    ("spec", "kustomization"),
    KUSTOMIZATIONS,
    ids=[f"{b.spec.vault.distribution}:{a.path.rsplit('/', 1)[0]}" for b, a in KUSTOMIZATIONS],
)
def test_every_kustomization_builds_with_kubectl(spec: Build, kustomization: Artifact) -> None:
    need("kubectl")
    assert external.kustomize_tree(spec.artifacts, kustomization) == []


def test_plain_layout_builds_with_kubectl(tmp_path: Path) -> None:
    """The plain flavour (not used by either bundled spec) builds too."""
    need("kubectl")
    data = yamlio.load(REFERENCE.read_text(), "picluster.yaml").data
    data["kubernetes"]["gitops"] = "plain"
    shutil.copytree(REFERENCE.parent / "pki", tmp_path / "pki")
    b = compile_data(tmp_path, data)
    kustomizations = [a for a in b.artifacts if a.kind == "kustomization"]
    assert len(kustomizations) == 5
    for k in kustomizations:
        assert external.kustomize_tree(b.artifacts, k) == [], k.path


def test_compile_verify_runs_every_consumer_cleanly() -> None:
    need("shellcheck", "systemd-analyze", "systemd-sysusers", "systemd-tmpfiles", "bao", "kubectl")
    b = build(REFERENCE)
    assert kinds.prove(b.model, b.artifacts) == []

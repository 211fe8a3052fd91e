"""out/ is hostile input: a committed tree anyone can edit. Every attack seen on it, each
refused with the path before anything is read or written (exit 2), through the real CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from compiler import cli
from tests.support import REFERENCE, ROOT

LINKS = "out/ may hold only plain files and directories: remove them"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REFERENCE, tmp_path / "picluster.yaml")
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    monkeypatch.chdir(tmp_path)
    assert run("compile").exit_code == 0
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_compile_never_writes_through_a_linked_directory(project: Path, tmp_path: Path) -> None:
    """With out/hosts/node1/etc a link to a directory elsewhere, compile once unlinked and
    rewrote a file there and created new ones."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project / "out/hosts/node1/etc", elsewhere)
    shutil.rmtree(project / "out/hosts/node1/etc")
    (project / "out/hosts/node1/etc").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    spec = project / "picluster.yaml"
    spec.write_text(spec.read_text().replace("log_level: info", "log_level: debug"))
    for args in (("compile",), ("compile", "--force"), ("compile", "--check"), ("diff",)):
        result = run(*args)
        assert (result.exit_code, result.stderr) == (
            2,
            f"out/hosts/node1/etc: a symbolic link; {LINKS}\n",
        ), args
    assert snapshot(elsewhere) == before


def test_diff_never_prints_what_a_committed_link_points_at(project: Path, tmp_path: Path) -> None:
    """A link to /proc/self/environ printed the CI runner's environment; one to a private key,
    the key."""
    secret = tmp_path / "id_ed25519"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    config = project / "out/hosts/node1/etc/vault/vault_main.hcl"
    config.unlink()
    config.symlink_to(secret)
    (project / "out/environ").symlink_to("/proc/self/environ")
    result = run("diff")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "out/environ: a symbolic link; "
        f"out/hosts/node1/etc/vault/vault_main.hcl: a symbolic link; {LINKS}\n"
    )


def test_a_fifo_in_out_is_refused_without_blocking(project: Path) -> None:
    os.mkfifo(project / "out/hosts/node1/etc/vault/pipe")
    result = run("compile", "--check")
    assert (result.exit_code, result.stderr) == (
        2,
        f"out/hosts/node1/etc/vault/pipe: not a plain file or directory; {LINKS}\n",
    )


def test_an_out_option_that_is_a_link_is_refused(project: Path, tmp_path: Path) -> None:
    """-o naming a link: the link was swapped for a directory and left behind as
    `.outlink.picluster-staging`, and the next compile failed with FileExistsError (exit 3)."""
    real = tmp_path / "real-out"
    (project / "out").rename(real)
    (project / "outlink").symlink_to(real)
    before = snapshot(real)
    result = run("compile", "-o", "outlink")
    assert (result.exit_code, result.stderr) == (
        2,
        f"outlink: a symbolic link; name the directory itself (-o {real})\n",
    )
    assert (project / "outlink").is_symlink()
    assert not (project / ".outlink.picluster-staging").exists()
    assert snapshot(real) == before
    assert run("compile", "-o", str(real)).exit_code == 0


def test_a_planted_staging_link_is_removed_not_followed(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep").write_text("mine\n")
    (project / ".out.picluster-staging").symlink_to(target)
    spec = project / "picluster.yaml"
    spec.write_text(spec.read_text().replace("log_level: info", "log_level: debug"))
    assert run("compile").exit_code == 0
    assert (target / "keep").read_text() == "mine\n"
    assert not (project / ".out.picluster-staging").exists()


def test_a_spec_file_name_cannot_inject_a_command_into_the_unseal_script(tmp_path: Path) -> None:
    """A newline in the spec's file name once landed in the unseal script's header comment as a
    command line; running the script ran it."""
    import subprocess

    name = "p\ntouch PWNED\n#.yaml"
    spec = tmp_path / name
    shutil.copy(REFERENCE, spec)
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    result = CliRunner().invoke(cli.main, ["compile", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    script = tmp_path / "out/hosts/node1/usr/local/bin/vault-unseal.sh"
    assert script.read_text().splitlines()[1] == (
        "# generated by picluster from p\\ntouch PWNED\\n#.yaml — do not edit"
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # No keys where the script looks: it stops at once (exit 2), after its header.
    done = subprocess.run(
        ["sh", str(script)],
        cwd=run_dir,
        env={"PATH": os.environ["PATH"], "CREDENTIALS_DIRECTORY": str(run_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert not (run_dir / "PWNED").exists()
    # Every generated file keeps the whole name on its header line, escaped (the manifest is
    # JSON, a string there is quoted by construction).
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            for line in path.read_text().splitlines():
                if "touch PWNED" in line:
                    assert "p\\ntouch PWNED\\n#.yaml" in line, (path, line)

"""The command line: exit codes and messages, through click's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import cli
from compiler.schema import schema_text
from tests.support import REFERENCE


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding a copy of the reference spec, as the working directory."""
    shutil.copy(REFERENCE, tmp_path / "picluster.yaml")
    shutil.copytree(REFERENCE.parent / "pki", tmp_path / "pki")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_compile_defaults_to_picluster_yaml_into_out(project: Path) -> None:
    code, stdout, stderr = run("compile")
    assert code == 0
    assert stdout == ""
    assert stderr == "out: 40 files, 40 changed\n"
    assert (project / "out/hosts/node1/etc/vault/vault_main.hcl").is_file()
    code, _, stderr = run("compile")
    assert (code, stderr) == (0, "out: 40 files, 0 changed\n")


def test_compile_to_another_directory(project: Path) -> None:
    code, _, _ = run("compile", "picluster.yaml", "-o", "elsewhere")
    assert code == 0
    assert json.loads((project / "elsewhere/manifest.json").read_text())["source"] == (
        "picluster.yaml"
    )


def test_check_exits_0_when_current_and_1_naming_each_stale_file(project: Path) -> None:
    assert run("compile")[0] == 0
    assert run("compile", "--check") == (0, "", "out: up to date\n")
    spec = project / "picluster.yaml"
    spec.write_text(spec.read_text().replace("log_level: info", "log_level: debug"))
    code, _, stderr = run("compile", "--check")
    assert code == 1
    assert stderr.splitlines() == [
        "out/hosts/node1/etc/systemd/system/vault.service: differs",
        "out/manifest.json: differs",
        "out: 2 file(s) differ from the spec; run `picluster compile`",
    ]


def test_check_on_a_missing_out_reports_every_file(project: Path) -> None:
    code, _, stderr = run("compile", "--check")
    assert code == 1
    assert "out/hosts/node1/etc/vault/vault_main.hcl: missing" in stderr.splitlines()
    assert not (project / "out").exists()


def test_validate_prints_ok_and_the_seal_warning(project: Path) -> None:
    code, _, stderr = run("validate")
    assert code == 0
    lines = stderr.splitlines()
    assert lines[-1] == "picluster.yaml: ok"
    assert lines[0].startswith("picluster.yaml:47:14: vault.unseal.service: warning: ")


def test_out_that_is_a_file_is_an_input_error(project: Path) -> None:
    (project / "out").write_text("not a directory\n")
    code, _, stderr = run("compile")
    assert (code, stderr) == (2, "out: exists and is not a directory\n")


def test_schema_writes_the_schema_file_or_stdout(project: Path) -> None:
    code, _, _ = run("schema")
    assert code == 0
    assert (project / "schemas/picluster.schema.json").read_text() == schema_text()
    code, stdout, _ = run("schema", "-o", "-")
    assert code == 0
    assert json.loads(stdout)["title"] == "picluster"


def test_unknown_command_and_option_are_usage_errors(project: Path) -> None:
    assert run("frobnicate")[0] == 2
    assert run("compile", "--no-such-option")[0] == 2


def test_an_internal_error_exits_3_without_a_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("compiler.pipeline.render", broken)
    code, _, stderr = run("compile")
    assert code == 3
    assert "Traceback" not in stderr
    assert stderr.startswith("internal error: this is a picluster bug; the traceback is in ")
    log = Path(stderr.strip().rsplit(" ", 1)[-1])
    assert "RuntimeError: boom" in log.read_text()
    log.unlink()


def test_the_advice_of_check_works_when_followed(project: Path) -> None:
    """A hand edit, and a file in the way of one the spec will generate: --check says to move
    the change into the spec and run `compile --force`; doing so makes --check pass. A stray
    file where picluster generates nothing is named, not called stale, and left alone."""
    assert run("compile")[0] == 0
    unit = project / "out/hosts/node1/etc/systemd/system/vault.service"
    unit.write_text(unit.read_text().replace("-log-level=info", "-log-level=debug"))
    (project / "out/hosts/node1/etc/vault/policy/extra.hcl").write_text("# someone else's\n")
    (project / "out/NOTES.txt").write_text("our notes\n")
    advice = (
        "of them hold changes not made by picluster: move each change into the spec, "
        "then run `picluster compile --force` (it replaces them)"
    )
    code, _, stderr = run("compile", "--check")
    assert (code, stderr.splitlines()) == (
        1,
        [
            "out/hosts/node1/etc/systemd/system/vault.service: edited by hand",
            f"out: 1 file(s) differ from the spec; 1 {advice}",
        ],
    )
    spec = project / "picluster.yaml"
    spec.write_text(
        spec.read_text()
        .replace("log_level: info", "log_level: debug")  # the hand edit, moved into the spec
        .replace("  policies:\n", '  policies:\n    extra: [{path: "x/*", capabilities: [read]}]\n')
    )
    code, _, stderr = run("compile", "--check")
    assert (code, stderr.splitlines()) == (
        1,
        [
            "out/hosts/node1/etc/vault/policy/extra.hcl: not generated by picluster",
            "out/manifest.json: differs",
            f"out: 2 file(s) differ from the spec; 1 {advice}",
        ],
    )
    assert run("compile")[0] == 1  # without --force: refused, nothing written
    assert run("compile", "--force")[0] == 0
    assert "-log-level=debug" in unit.read_text()
    assert run("compile", "--check") == (
        0,
        "",
        "out/NOTES.txt: not generated by picluster; ignored (compile leaves it)\nout: up to date\n",
    )
    assert (project / "out/NOTES.txt").read_text() == "our notes\n"


def test_init_without_a_place_for_the_root_token_is_refused(project: Path) -> None:
    """init hands the root token out once: the command refuses to start (and so to make
    keys that would be lost) until it knows where the token goes."""
    code, stdout, stderr = run("init", "--keys-file", str(project / "keys.json"))
    assert (code, stdout) == (2, "")
    assert stderr == "name where the root token goes: --root-token-file or --root-token-stdout\n"
    assert not (project / "keys.json").exists()


def test_a_lost_executable_bit_is_stale_and_diff_says_so(project: Path) -> None:
    """A checkout with core.fileMode=false (or a copy) drops the script's executable bit:
    the text is the same, the file is not, and a compile puts the bit back."""
    assert run("compile")[0] == 0
    script = project / "out/hosts/node1/usr/local/bin/vault-unseal.sh"
    script.chmod(0o644)
    code, _, stderr = run("compile", "--check")
    assert code == 1
    assert stderr.splitlines() == [
        "out/hosts/node1/usr/local/bin/vault-unseal.sh: wrong executable bit",
        "out: 1 file(s) differ from the spec; run `picluster compile`",
    ]
    assert run("diff") == (1, "mode change hosts/node1/usr/local/bin/vault-unseal.sh\n", "")
    assert run("compile")[0] == 0
    assert script.stat().st_mode & 0o111

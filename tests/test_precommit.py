"""The pre-commit hooks, run by the real pre-commit against this repository (`try-repo`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REFERENCE, ROOT, need

pytestmark = pytest.mark.integration


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pre-commit's cache in a temp dir: it builds the hook's environment from this checkout."""
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """This checkout as pre-commit will see it once committed: tracked and new files, in a
    repository of their own (try-repo ignores files git does not track yet)."""
    need("git")
    source = tmp_path_factory.mktemp("hooks") / "picluster"
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    git(source, "init", "-q")
    git(source, "add", ".")
    subprocess.run(
        ["git", "commit", "-qm", "snapshot"], cwd=source, env=env, check=True, capture_output=True
    )
    return source


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository: the reference spec, its CA and its freshly compiled out/."""
    repo = tmp_path / "homelab"
    repo.mkdir()
    shutil.copy(REFERENCE, repo / "picluster.yaml")
    shutil.copytree(ROOT / "pki", repo / "pki")
    shutil.copytree(ROOT / "out", repo / "out")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    return repo


def try_repo(
    hooks: Path, repo: Path, env: dict[str, str], hook: str
) -> subprocess.CompletedProcess[str]:
    pre_commit = need("pre-commit", "git")["pre-commit"]
    return subprocess.run(
        [pre_commit, "try-repo", str(hooks), hook, "--all-files", "--color=never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_hooks_pass_on_a_fresh_compile(hooks: Path, repo: Path, env: dict[str, str]) -> None:
    for hook in ("picluster-validate", "picluster-check"):
        result = try_repo(hooks, repo, env, hook)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Passed" in result.stdout


def test_check_fails_after_a_spec_change_that_was_not_recompiled(
    hooks: Path, repo: Path, env: dict[str, str]
) -> None:
    spec = repo / "picluster.yaml"
    spec.write_text(spec.read_text().replace("log_level: info", "log_level: debug"))
    git(repo, "add", ".")
    result = try_repo(hooks, repo, env, "picluster-check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    assert "out/hosts/node1/etc/systemd/system/vault.service: differs" in result.stdout


def readme_snippet() -> dict[str, Any]:
    """The README's `.pre-commit-config.yaml`, as a user copies it."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### pre-commit", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config: dict[str, Any] = yaml.safe_load(block)
    return config


def test_the_readme_snippet_works_as_written_from_a_plain_clone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Its `rev` resolves in a plain `git clone` of this repository (no tag is assumed to
    travel), and both hooks pass on a repository holding that commit's spec and out/."""
    pre_commit = need("pre-commit", "git")["pre-commit"]
    config = readme_snippet()
    (entry,) = config["repos"]
    rev = str(entry["rev"])
    assert [h["id"] for h in entry["hooks"]] == ["picluster-validate", "picluster-check"]
    clone = tmp_path / "picluster"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, env=env)
    found = subprocess.run(
        ["git", "-C", str(clone), "cat-file", "-e", f"{rev}^{{commit}}"], check=False
    )
    assert found.returncode == 0, f"rev {rev} is not a commit of a plain clone of this repository"
    # A user's repository, as of that commit: its spec, CA files and compiled tree.
    repo = tmp_path / "homelab"
    repo.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(clone), "archive", rev, "picluster.yaml", "pki", "out"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    entry["repo"] = str(clone)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    done = subprocess.run(
        [pre_commit, "run", "--all-files", "--color=never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "picluster validate" in done.stdout
    assert "picluster compile --check" in done.stdout

"""schemas/k8s/refresh_values_keys.py: a chart's values.yaml becomes its known-key tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, need

SCRIPT = ROOT / "schemas" / "k8s" / "refresh_values_keys.py"

# A cut-down vault chart values.yaml: both of the vault chart's hand rules have their key here.
VALUES = """\
global:
  enabled: true
  externalVaultAddr: ""
injector:
  enabled: "-"
  annotations: {}
  # agentDefaults:
  #   ephemeralLimit: 128Mi
  tolerations: []
server:
  affinity: |
    podAntiAffinity: {}
  priorityClassName: null
  authDelegator:
    enabled: true
  route:
    enabled: false
    labels: {}
    tls:
      termination: passthrough
csi:
  agent:
    securityContext:
      container:
        runAsUser: 100
        capabilities:
          drop: [ALL]
"""

# Written from VALUES: mappings keep their keys; `{}` accepts any key; strings, lists and null
# are leaves; the commented-out agentDefaults is absent; server.route.tls is free-form and
# csi.agent.securityContext.container a passthrough (the chart renders both whole).
EXPECTED = {
    "global": {"enabled": {}, "externalVaultAddr": {}},
    "injector": {"enabled": {}, "annotations": {"*": {}}, "tolerations": {}},
    "server": {
        "affinity": {},
        "priorityClassName": {},
        "authDelegator": {"enabled": {}},
        "route": {"enabled": {}, "labels": {"*": {}}, "tls": {"*": {}}},
    },
    "csi": {
        "agent": {
            "securityContext": {
                "container": {"runAsUser": {}, "capabilities": {"drop": {}}, "*": {}}
            }
        }
    },
}


def refresh(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(cwd)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_values_yaml_becomes_the_key_tree(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(VALUES, encoding="utf-8")
    proc = refresh(tmp_path, "vault", "--values", "values.yaml", "--source", "a test fixture")
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads((tmp_path / "vault.json").read_text(encoding="utf-8"))
    assert list(doc) == ["chart", "repository", "source", "note", "keys"]
    assert doc["chart"] == "vault"
    assert doc["repository"] == "https://helm.releases.hashicorp.com"
    assert doc["source"] == "a test fixture"
    assert doc["keys"] == EXPECTED


def test_a_rule_whose_key_is_gone_is_named(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(VALUES.split("csi:")[0], encoding="utf-8")
    proc = refresh(tmp_path, "vault", "--values", "values.yaml", "--source", "x")
    assert proc.returncode == 1
    assert proc.stderr == (
        "vault: passthrough csi/agent/securityContext/container: no such key in values.yaml\n"
    )
    doc = json.loads((tmp_path / "vault.json").read_text(encoding="utf-8"))
    assert "csi" not in doc["keys"]
    assert doc["keys"]["server"]["route"]["tls"] == {"*": {}}


def test_keys_documented_in_comments_are_listed_and_sub_charts_pass_through(
    tmp_path: Path,
) -> None:
    values = """\
grafana:
  enabled: true
prometheus:
  prometheusSpec:
    podMetadata: {}
    secrets: []
"""
    (tmp_path / "values.yaml").write_text(values, encoding="utf-8")
    proc = refresh(tmp_path, "kube-prometheus-stack", "--values", "values.yaml", "--source", "x")
    # Most of the chart's rules name keys this fixture does not have.
    assert proc.returncode == 1
    assert "free_form prometheusOperator: no such key in values.yaml" in proc.stderr
    keys = json.loads((tmp_path / "kube-prometheus-stack.json").read_text())["keys"]
    assert keys["grafana"] == {"enabled": {}, "*": {}}
    assert keys["prometheus"]["prometheusSpec"] == {
        "podMetadata": {"labels": {"*": {}}, "annotations": {"*": {}}},
        "secrets": {},
    }


@pytest.mark.integration
def test_from_a_git_tag_the_source_names_the_commit_and_chart_version(tmp_path: Path) -> None:
    need("git")
    repo = tmp_path / "vault-helm"
    repo.mkdir()
    (repo / "values.yaml").write_text(VALUES, encoding="utf-8")
    (repo / "Chart.yaml").write_text("name: vault\nversion: 0.34.1\nappVersion: 2.0.4\n")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "chart")
    git("tag", "v0.34.1")
    commit = git("rev-parse", "HEAD")
    proc = refresh(tmp_path, "vault", "--git", str(repo), "--rev", "v0.34.1")
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads((tmp_path / "vault.json").read_text(encoding="utf-8"))
    assert doc["source"] == f"hashicorp/vault-helm values.yaml@{commit} (chart 0.34.1, app 2.0.4)"
    assert doc["keys"] == EXPECTED
    missing = refresh(tmp_path, "vault", "--git", str(repo), "--rev", "v9.9.9")
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"{repo}: git rev-parse --verify v9.9.9^{{commit}}: ")
    assert len(missing.stderr.splitlines()) == 1

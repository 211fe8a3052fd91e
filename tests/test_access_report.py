"""``picluster access`` through the CLI: the reference spec's report as golden files (text,
JSON, Mermaid), what is flagged and why, ``--strict``, and a fixed order.

The reference spec's flags follow from its policies as written: ``readonly`` grants
``secret/*`` (the whole KV mount, where ESO reads only ``secret/data/secret1``), and
``prometheus-monitoring`` grants ``list`` on ``sys/metrics``, which Prometheus only reads.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from compiler import yamlio
from compiler.cli import main
from tests.support import REFERENCE, ROOT, write_spec


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["access", *args])


@pytest.mark.parametrize("output", ["text", "json", "mermaid"])
def test_reference_report(output: str, snapshot_file: Any) -> None:
    result = run(str(REFERENCE), "--output", output)
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot_file


def test_reference_flags_and_strict() -> None:
    document = json.loads(run(str(REFERENCE), "--output", "json").stdout)
    assert [(f["kind"], f["role"]) for f in document["flags"]] == [
        ("whole-mount", "external-secrets"),
        ("more-than-read", "prometheus"),
    ]
    [eso] = [i for i in document["identities"] if i["role"] == "external-secrets"]
    assert eso["policies"] == ["readonly", "default"]
    assert [(p["path"], p["capabilities"], p["allowed"]) for p in eso["paths"]] == [
        ("secret/data/secret1", ["read"], True),
        ("sys/metrics", ["deny"], False),
    ]
    strict = run(str(REFERENCE), "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == (
        f"{REFERENCE}: 2 flagged (roles nobody uses, grants broader than needed)"
    )


def _reference() -> dict[str, Any]:
    data = yamlio.load(REFERENCE.read_text(), "picluster.yaml").data
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def test_narrow_grants_and_no_idle_role_pass_strict(tmp_path: Path) -> None:
    data = _reference()
    data["vault"]["policies"]["readonly"] = [
        {"path": "secret/data/secret1", "capabilities": ["read"]}
    ]
    data["vault"]["policies"]["prometheus-monitoring"] = [
        {"path": "sys/metrics", "capabilities": ["read"]}
    ]
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    result = run(str(write_spec(tmp_path, data)), "--strict")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "flagged: nothing"


def test_an_idle_role_and_a_write_grant_are_flagged(tmp_path: Path) -> None:
    data = _reference()
    data["vault"]["policies"]["readonly"] = [
        {"path": "secret/data/secret1", "capabilities": ["read", "update"]}
    ]
    data["vault"]["kubernetes_auth"]["roles"]["spare"] = {
        "service_accounts": ["app"],
        "namespaces": ["apps"],
        "policies": ["readwrite"],
    }
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    document = json.loads(run(str(write_spec(tmp_path, data)), "--output", "json").stdout)
    assert [f["message"] for f in document["flags"]][:2] == [
        "role 'spare' is used by no store and not by Prometheus (an application outside the "
        "spec may still log in with it)",
        "role 'external-secrets': 'secret/data/secret1' in policy 'readonly' grants update "
        "where its consumers only read",
    ]
    # Identities in (namespace, account, role) order: apps/app comes first.
    assert [i["namespace"] for i in document["identities"]] == [
        "apps",
        "external-secrets",
        "kube-prom-stack",
    ]


def test_a_grant_of_everything_and_one_nobody_reads_are_flagged(tmp_path: Path) -> None:
    """`*` alone matches every path (Vault's glob on the empty prefix); a rule for a path no
    consumer of the role reads is a grant nobody needs."""
    data = _reference()
    data["vault"]["policies"]["readonly"] = [
        {"path": "*", "capabilities": ["read"]},
        {"path": "secret/data/other", "capabilities": ["read"]},
    ]
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    document = json.loads(run(str(write_spec(tmp_path, data)), "--output", "json").stdout)
    assert [f["message"] for f in document["flags"] if f["role"] == "external-secrets"] == [
        "role 'external-secrets': '*' in policy 'readonly' covers the whole mount 'everything'; "
        "its consumers read only the paths listed for it",
        "role 'external-secrets': 'secret/data/other' in policy 'readonly' grants what none of "
        "its consumers reads",
    ]


def test_without_kubernetes_auth_nobody_logs_in(tmp_path: Path) -> None:
    data = _reference()
    del data["vault"]["kubernetes_auth"], data["kubernetes"], data["monitoring"]
    shutil.copytree(ROOT / "pki", tmp_path / "pki")
    document = json.loads(run(str(write_spec(tmp_path, data)), "--output", "json").stdout)
    assert (document["identities"], document["flags"]) == ([], [])

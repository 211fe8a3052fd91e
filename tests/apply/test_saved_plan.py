"""Saved plan files: written whole, read strictly, and compared step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compiler.apply import saved_plan
from compiler.errors import InputFileError, StalePlanError

STEP = {"action": "update", "kind": "policy", "name": "readonly", "changes": []}
VAULT = {"address": "https://vault.lan:8200", "steps": [STEP], "warnings": []}
HOSTS = {"nodes": [{"node": "node1", "files": []}, {"node": "node2", "files": []}]}


def saved(tmp_path: Path) -> saved_plan.SavedPlan:
    path = tmp_path / "p.plan"
    saved_plan.write(path, only=None, root="/srv/{node}", prune=True, hosts=HOSTS, vault=VAULT)
    return saved_plan.read(path)


def test_a_plan_reads_back_as_written(tmp_path: Path) -> None:
    got = saved(tmp_path)
    assert (got.only, got.root, got.prune, got.hosts, got.vault) == (
        None,
        "/srv/{node}",
        True,
        HOSTS,
        VAULT,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["p.plan"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not a picluster plan (not JSON)"),
        ('{"format": "terraform"}', 'not a picluster plan (no "format": "picluster-plan/1"); '
         "make one with `picluster plan --out FILE`"),
        ("[]", 'not a picluster plan (no "format": "picluster-plan/1"); '
         "make one with `picluster plan --out FILE`"),
        ('{"format": "picluster-plan/1", "only": "vault", "vault": null}',
         "a damaged plan (its sides do not match its --only)"),
        ('{"format": "picluster-plan/1", "only": "both", "hosts": {}}',
         "a damaged plan (its sides do not match its --only)"),
    ],
    ids=["json", "format", "list", "side", "only"],
)  # fmt: skip
def test_anything_else_is_refused_in_one_line(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "x.plan"
    path.write_text(content)
    with pytest.raises(InputFileError) as caught:
        saved_plan.read(path)
    assert str(caught.value) == f"{path}: {reason}"


def test_the_same_plan_passes_and_warnings_may_differ(tmp_path: Path) -> None:
    plan = saved(tmp_path)
    saved_plan.check_hosts(plan, HOSTS)
    saved_plan.check_vault(plan, {**VAULT, "warnings": ["secret/x does not exist"]})


@pytest.mark.parametrize(
    ("now", "why"),
    [
        ({**VAULT, "address": "https://other:8200"},
         "Vault is https://other:8200 now, not https://vault.lan:8200,"),
        ({**VAULT, "steps": [STEP, STEP]}, "Vault needs 2 step(s) now, not 1,"),
        ({**VAULT, "steps": [{**STEP, "changes": [{"field": "policy"}]}]},
         "the step update policy readonly changed"),
    ],
    ids=["address", "count", "step"],
)  # fmt: skip
def test_a_changed_vault_plan_is_stale(tmp_path: Path, now: dict[str, Any], why: str) -> None:
    plan = saved(tmp_path)
    with pytest.raises(StalePlanError) as caught:
        saved_plan.check_vault(plan, now)
    assert str(caught.value) == (
        f"{plan.path}: stale plan: {why} since it was made; nothing applied; "
        f"run `picluster plan --out {plan.path}` again"
    )


def test_a_changed_node_is_named(tmp_path: Path) -> None:
    plan = saved(tmp_path)
    now = {"nodes": [{"node": "node1", "files": []}, {"node": "node2", "files": ["x"]}]}
    with pytest.raises(StalePlanError, match=r": stale plan: the plan of node2 changed since"):
        saved_plan.check_hosts(plan, now)

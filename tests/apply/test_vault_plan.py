"""The Vault planner, pure: a spec and a current state as data in, the steps out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler.apply.plan_output import as_json, text
from compiler.apply.vault_desired import Desired, desired, fingerprint, seconds
from compiler.apply.vault_model import JWT_PLACEHOLDER, RECORD_MOUNT, Current, Plan
from compiler.apply.vault_plan import plan
from compiler.check import load
from tests.support import ROOT, minimal, write_spec

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1hdXRoIn0.c2lnbmF0dXJl"
ADDRESS = "https://vault.example:8200"


def spec_data(**vault: Any) -> dict[str, Any]:
    data = minimal(
        secrets_engines=[{"path": "secret", "version": 2, "description": "Cluster secrets"}],
        policies={
            "readonly": [{"path": "secret/*", "capabilities": ["read"]}],
            "readwrite": [{"path": "secret/*", "capabilities": ["create", "read", "update"]}],
        },
        kubernetes_auth={
            "host": "https://10.0.0.10:6443",
            "ca_cert": "k8s-ca.crt",
            "token_reviewer_jwt": {"env": "REVIEWER_JWT"},
            "roles": {
                "eso": {
                    "service_accounts": ["external-secrets", "eso2"],
                    "namespaces": ["external-secrets"],
                    "policies": ["readonly"],
                    "ttl": "24h",
                }
            },
        },
    )
    data["vault"].update(vault)
    return data


def want(tmp_path: Path, data: dict[str, Any] | None = None, jwt: str | None = JWT) -> Desired:
    shutil.copy(ROOT / "pki" / "vault-ca.crt", tmp_path / "k8s-ca.crt")
    loaded = load(write_spec(tmp_path, data or spec_data()))
    return desired(loaded.spec, loaded.inputs, jwt, loaded.doc)


def converged(d: Desired, **changes: Any) -> Current:
    """The server as picluster leaves it after applying ``d`` (in the server's own shapes)."""
    assert d.k8s_config is not None
    assert d.auth_path is not None
    # Vault's own spellings: kv-v2, re-wrapped PEM, lists reordered, no header comment.
    ca = d.k8s_config["kubernetes_ca_cert"].replace("\n", "").replace("-----MII", "-----\nMII")
    ca = ca.replace("-----END", "\n-----END").replace("CERTIFICATE-----", "CERTIFICATE-----\n")
    state: dict[str, Any] = {
        "mounts": {
            RECORD_MOUNT: {"type": "kv", "options": {"version": "2"}},
            "secret": {"type": "kv-v2", "options": {}, "description": "Cluster secrets"},
            "cubbyhole": {"type": "cubbyhole"},
        },
        "auth": {d.auth_path: {"type": "kubernetes"}, "token": {"type": "token"}},
        "policies": {
            name: "\n".join(line for line in policy.splitlines() if not line.startswith("#"))
            for name, policy in d.policies.items()
        },
        "k8s_config": {
            **d.k8s_config,
            "kubernetes_ca_cert": ca,
            "token_reviewer_jwt_set": True,
        },
        "roles": {
            name: {**role, "bound_service_account_names": role["bound_service_account_names"][::-1]}
            for name, role in d.roles.items()
        },
        "record": {
            "format": 1,
            "objects": {
                "secrets_engine": ["secret/"],
                "policy": sorted(d.policies),
                "auth_method": [f"{d.auth_path}/"],
                "kubernetes_role": sorted(d.roles),
            },
            "jwt_sha256": {d.auth_path: fingerprint(JWT)},
        },
    }
    state.update(changes)
    return Current(**state)


def summary(p: Plan) -> list[tuple[str, str, str]]:
    return [(s.action, s.kind, s.name) for s in p.steps]


# --- from nothing, and back to nothing to do ---------------------------------------------------


def test_an_empty_server_gets_everything_in_order(tmp_path: Path) -> None:
    p = plan(want(tmp_path), Current())

    assert summary(p) == [
        ("create", "secrets_engine", "picluster/"),
        ("create", "ownership_record", "picluster/ownership"),
        ("create", "secrets_engine", "secret/"),
        ("create", "policy", "readonly"),
        ("create", "policy", "readwrite"),
        ("create", "auth_method", "kubernetes/"),
        ("create", "kubernetes_config", "auth/kubernetes/config"),
        ("create", "kubernetes_role", "kubernetes/eso"),
        ("update", "ownership_record", "picluster/ownership"),
    ]
    # Creates are recorded before they run; the JWT fingerprint only after the config write.
    intent, final = p.steps[1].body, p.steps[-1].body
    assert intent is not None
    assert final is not None
    assert intent["data"]["objects"]["kubernetes_role"] == ["kubernetes/eso"]
    assert intent["data"]["jwt_sha256"] == {}
    assert final["data"]["jwt_sha256"] == {"kubernetes": fingerprint(JWT)}


def test_a_converged_server_plans_nothing(tmp_path: Path) -> None:
    d = want(tmp_path)
    p = plan(d, converged(d))
    assert p.steps == []
    assert p.conflicts == []
    assert p.pruneable == []
    assert text(p, ADDRESS) == [f"Vault {ADDRESS}: no changes; the server matches the spec"]


# --- secrets engines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mount",
    [
        {"type": "kv-v2", "options": None, "description": "Cluster secrets"},
        {"type": "kv", "options": {"version": "2"}, "description": "Cluster secrets"},
    ],
    ids=["kv-v2", "kv-version-2"],
)
def test_kv_v2_and_kv_version_2_are_the_same_engine(tmp_path: Path, mount: dict[str, Any]) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.mounts["secret"] = mount
    assert plan(d, state).steps == []


def test_kv_version_1_is_upgraded_in_place_never_replaced(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.mounts["secret"] = {"type": "kv", "options": {"version": "1"}, "description": "old"}
    [step] = plan(d, state).steps
    assert (step.action, step.method, step.path) == ("update", "POST", "sys/mounts/secret/tune")
    assert step.body == {"description": "Cluster secrets", "options": {"version": "2"}}


@pytest.mark.parametrize(
    ("mount", "conflict"),
    [
        (
            {"type": "transit"},
            "secrets engine secret/: mounted as 'transit', the spec wants kv; picluster will "
            "not replace it (that would destroy its data)",
        ),
        (
            {"type": "kv-v2"},
            "secrets engine secret/: KV version 2 cannot go back to version 1 in place",
        ),
    ],
)
def test_a_mount_that_would_need_replacing_is_a_conflict(
    tmp_path: Path, mount: dict[str, Any], conflict: str
) -> None:
    data = spec_data(secrets_engines=[{"path": "secret", "version": 1}])
    d = want(tmp_path, data)
    state = converged(d)
    state.mounts["secret"] = mount
    p = plan(d, state)
    assert p.conflicts == [conflict]
    assert p.steps == []


# --- policies, roles -------------------------------------------------------------------------


def test_an_edited_policy_is_one_update_with_its_diff(tmp_path: Path) -> None:
    d = want(tmp_path)
    data = spec_data()
    data["vault"]["policies"]["readonly"][0]["capabilities"] = ["read", "list"]
    p = plan(want(tmp_path, data), converged(d))

    assert summary(p) == [("update", "policy", "readonly")]
    assert text(p, ADDRESS) == [
        f"Vault {ADDRESS}: 0 to create, 1 to update, 0 to delete",
        "  ~ policy readonly",
        '      -capabilities = ["read"]',
        '      +capabilities = ["read", "list"]',
    ]


def test_a_changed_role_sends_every_field(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.roles["kubernetes/eso"]["token_ttl"] = 3600
    [step] = plan(d, state).steps
    assert (step.action, step.path) == ("update", "auth/kubernetes/role/eso")
    assert step.body == d.roles["kubernetes/eso"]
    assert [(c.field, c.before, c.after) for c in step.changes] == [("token_ttl", 3600, 86400)]


def test_durations_are_compared_in_seconds() -> None:
    assert [seconds(d) for d in ("24h", "15m", "1h30m", "90s", "1.5h", "500ms")] == [
        86400,
        900,
        5400,
        90,
        5400,
        0,
    ]


# --- kubernetes config: CA and JWT -------------------------------------------------------------


def test_the_ca_is_compared_as_normalised_pem_and_shown_by_fingerprint(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    assert state.k8s_config["kubernetes_ca_cert"] != d.k8s_config["kubernetes_ca_cert"]  # type: ignore[index]
    assert plan(d, state).steps == []

    state.k8s_config["kubernetes_ca_cert"] = ""
    [step] = plan(d, state).steps
    [change] = step.changes
    assert change.field == "kubernetes_ca_cert"
    assert change.before is None
    assert str(change.after).startswith("1 certificate(s), sha256 ")
    assert "BEGIN" not in json.dumps([c.after for c in step.changes])


def test_a_jwt_that_cannot_be_read_back_is_no_change(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    assert "token_reviewer_jwt" not in state.k8s_config
    assert plan(d, state).steps == []
    assert plan(d, state).steps == []  # and not on the run after either


def test_a_rotated_jwt_is_one_update_that_never_shows_it(tmp_path: Path) -> None:
    rotated = JWT.replace("c2lnbmF0dXJl", "b3RoZXI")
    d = want(tmp_path, jwt=rotated)
    p = plan(d, converged(want(tmp_path)))

    assert summary(p) == [
        ("update", "kubernetes_config", "auth/kubernetes/config"),
        ("update", "ownership_record", "picluster/ownership"),
    ]
    config = p.steps[0]
    assert config.body is not None
    assert config.body["token_reviewer_jwt"] == JWT_PLACEHOLDER
    # Every field is sent, as Vault resets the ones a write leaves out.
    assert sorted(config.body) == sorted([*(d.k8s_config or {}), "token_reviewer_jwt"])
    shown = "\n".join(text(p, ADDRESS)) + as_json(p, ADDRESS) + repr(p)
    assert rotated not in shown
    assert JWT not in shown
    assert "      token_reviewer_jwt: (sensitive, not the spec's) -> (sensitive)" in shown


def test_no_jwt_source_unsets_one_set_before(tmp_path: Path) -> None:
    data = spec_data()
    del data["vault"]["kubernetes_auth"]["token_reviewer_jwt"]
    d = want(tmp_path, data, jwt=None)
    [config, _record] = plan(d, converged(want(tmp_path))).steps
    assert config.body is not None
    assert config.body["token_reviewer_jwt"] == ""
    assert [(c.field, c.before, c.after) for c in config.changes] == [
        ("token_reviewer_jwt", "(set)", "(unset)")
    ]


# --- ownership and prune ---------------------------------------------------------------------


def test_prune_deletes_only_what_picluster_created(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    # "old" was created by picluster; "by-hand" was not.
    for name in ("old", "by-hand"):
        state.roles[f"kubernetes/{name}"] = dict(state.roles["kubernetes/eso"])
        state.policies[name] = 'path "x" { capabilities = ["read"] }'
    assert state.record is not None
    state.record["objects"]["kubernetes_role"].append("kubernetes/old")
    state.record["objects"]["policy"].append("old")

    kept = plan(d, state)
    assert kept.steps == []
    assert kept.pruneable == [("kubernetes_role", "kubernetes/old"), ("policy", "old")]
    assert text(kept, ADDRESS)[1] == (
        "  note: kubernetes role kubernetes/old was created by picluster and is no longer in "
        "the spec; `--prune` deletes it"
    )

    pruned = plan(d, state, prune=True)
    assert summary(pruned) == [
        ("delete", "kubernetes_role", "kubernetes/old"),
        ("delete", "policy", "old"),
        ("update", "ownership_record", "picluster/ownership"),
    ]
    assert [(s.method, s.path) for s in pruned.steps[:2]] == [
        ("DELETE", "auth/kubernetes/role/old"),
        ("DELETE", "sys/policies/acl/old"),
    ]
    record = pruned.steps[-1].body
    assert record is not None
    assert record["data"]["objects"]["kubernetes_role"] == ["kubernetes/eso"]
    assert "old" not in record["data"]["objects"]["policy"]


def test_objects_that_existed_before_are_adopted_not_owned(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d, record=None)
    state.mounts.pop(RECORD_MOUNT)
    p = plan(d, state, prune=True)
    # Only the JWT fingerprint is news: the record is made to hold it, and claims nothing.
    assert summary(p) == [
        ("create", "secrets_engine", "picluster/"),
        ("update", "kubernetes_config", "auth/kubernetes/config"),
        ("create", "ownership_record", "picluster/ownership"),
    ]
    record = p.steps[-1].body
    assert record is not None
    assert record["data"]["objects"] == {}


def test_the_record_mount_is_reserved(tmp_path: Path) -> None:
    data = spec_data(secrets_engines=[{"path": "secret"}, {"path": RECORD_MOUNT}])
    p = plan(want(tmp_path, data), Current())
    assert p.conflicts == ["secrets engine picluster/: reserved for picluster's record"]


# --- output ----------------------------------------------------------------------------------


def test_json_plan(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.roles.pop("kubernetes/eso")
    document = json.loads(as_json(plan(d, state), ADDRESS))
    # A role picluster created and someone deleted: made again, already recorded as its own.
    assert document["summary"] == {"create": 1, "update": 0, "delete": 0}
    [step] = document["steps"]
    assert step["request"] == {"method": "POST", "path": "auth/kubernetes/role/eso"}
    assert step["changes"][0] == {
        "field": "bound_service_account_names",
        "before": None,
        "after": ["external-secrets", "eso2"],
    }
    assert document["conflicts"] == []
    assert document["warnings"] == []


def test_kv_paths_an_external_secret_reads_are_checked(tmp_path: Path) -> None:
    data = spec_data()
    data["kubernetes"] = {
        "external_secrets": {
            "stores": [{"name": "vault", "path": "secret", "role": "eso"}],
            "secrets": [
                {
                    "name": "app",
                    "namespace": "default",
                    "store": "vault",
                    "data": {"password": "app/db#password", "user": "app/db#user"},
                    "data_from": ["app/other"],
                }
            ],
        }
    }
    data["vault"]["kubernetes_auth"]["roles"]["eso"]["service_accounts"] = ["external-secrets"]
    d = want(tmp_path, data)
    p = plan(d, converged(d, kv={"secret/app/db": False, "secret/app/other": True}))
    spec = tmp_path / "picluster.yaml"
    assert p.warnings == [
        f"{spec}:47:19: kubernetes.external_secrets.secrets[0].data.password: warning: "
        "secret/app/db does not exist in Vault; ExternalSecret default/app cannot sync until "
        "it is written",
        f"{spec}:48:15: kubernetes.external_secrets.secrets[0].data.user: warning: "
        "secret/app/db does not exist in Vault; ExternalSecret default/app cannot sync until "
        "it is written",
    ]

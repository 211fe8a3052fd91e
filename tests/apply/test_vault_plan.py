"""The Vault planner, pure: a spec and a current state as data in, the steps out."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler.apply import ownership
from compiler.apply.plan_output import as_json, text
from compiler.apply.vault_desired import Desired, desired, seconds
from compiler.apply.vault_model import JWT_PLACEHOLDER, Current, Plan
from compiler.apply.vault_plan import plan
from compiler.check import load
from compiler.errors import RecordError
from compiler.pipeline import build
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
    return desired(loaded.model, jwt, loaded.doc)


def sha(text: str) -> str:
    """A fingerprint as the record stores it: ``sha256:`` and the hex digest of the text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# What OpenBao answers once picluster applied spec_data(), written out by hand in the server's
# own shapes and spellings: kv-v2 mounts with accessors, policies as someone might lay them
# out, lists in another order, TTLs in seconds, fields picluster never sets, no JWT, and no
# audience (a role read leaves an empty one out: OpenBao 2.7.2 answers so).
READONLY = 'path "secret/*" {\n  capabilities = ["read"]\n}'
READWRITE = 'path "secret/*" { capabilities = [ "create", "read", "update", ] }'
ESO_ROLE = {
    "bound_service_account_names": ["eso2", "external-secrets"],
    "bound_service_account_namespaces": ["external-secrets"],
    "token_policies": ["readonly"],
    "token_ttl": 86400,
    "token_max_ttl": 0,
    "alias_name_source": "serviceaccount_uid",
}
# The role's fields as picluster wrote them, in its order.
ESO_WRITTEN = {
    "bound_service_account_names": ["external-secrets", "eso2"],
    "bound_service_account_namespaces": ["external-secrets"],
    "token_policies": ["readonly"],
    "token_ttl": 86400,
    "audience": "",
}


def role_sha(fields: dict[str, Any]) -> str:
    """The record's fingerprint of a role: its written fields, lists sorted, as sorted JSON."""
    canonical = {k: sorted(v) if isinstance(v, list) else v for k, v in fields.items()}
    return sha(json.dumps(canonical, sort_keys=True))


def converged(d: Desired, **changes: Any) -> Current:
    """The server after picluster applied spec_data() (``d`` is used only for the CA bytes)."""
    assert d.k8s_config is not None
    ca = d.k8s_config["kubernetes_ca_cert"].replace("\n", "").replace("-----MII", "-----\nMII")
    ca = ca.replace("-----END", "\n-----END").replace("CERTIFICATE-----", "CERTIFICATE-----\n")
    state: dict[str, Any] = {
        "mounts": {
            "picluster": {"type": "kv", "options": {"version": "2"}, "accessor": "kv_0a1b"},
            "secret": {
                "type": "kv-v2",
                "options": {},
                "description": "Cluster secrets",
                "accessor": "kv_2c3d",
            },
            "cubbyhole": {"type": "cubbyhole", "accessor": "cubbyhole_4e5f"},
        },
        "auth": {
            "kubernetes": {"type": "kubernetes", "accessor": "auth_kubernetes_6a7b"},
            "token": {"type": "token", "accessor": "auth_token_8c9d"},
        },
        "policies": {"readonly": READONLY, "readwrite": READWRITE},
        "k8s_config": {
            "kubernetes_host": "https://10.0.0.10:6443",
            "kubernetes_ca_cert": ca,
            "pem_keys": [],
            "issuer": "",
            "disable_iss_validation": True,
            "disable_local_ca_jwt": True,
            "token_reviewer_jwt_set": True,
        },
        "roles": {"kubernetes/eso": dict(ESO_ROLE)},
        "record": ownership.parse(
            {
                "format": 2,
                "objects": {
                    "secrets_engine": {"secret/": "accessor:kv_2c3d"},
                    "policy": {"readonly": sha(READONLY), "readwrite": sha(READWRITE)},
                    "auth_method": {"kubernetes/": "accessor:auth_kubernetes_6a7b"},
                    "kubernetes_role": {"kubernetes/eso": role_sha(ESO_WRITTEN)},
                },
                "jwt_sha256": {"kubernetes": hashlib.sha256(JWT.encode()).hexdigest()},
            }
        ),
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
        ("create", "secrets_engine", "secret/"),
        ("create", "policy", "readonly"),
        ("create", "policy", "readwrite"),
        ("create", "auth_method", "kubernetes/"),
        ("create", "kubernetes_config", "auth/kubernetes/config"),
        ("create", "kubernetes_role", "kubernetes/eso"),
        ("create", "ownership_record", "picluster/ownership"),
    ]
    # Nothing is recorded before it exists: the record starts empty, and what it settles on
    # names each object made, the JWT by its SHA-256 (the mounts' accessors are read back).
    assert p.record_before.body()["data"]["objects"] == {}
    settled = p.record_after.body()["data"]
    assert settled["objects"] == {
        "secrets_engine": {"secret/": None},
        "policy": {"readonly": p.steps[2].fingerprint, "readwrite": p.steps[3].fingerprint},
        "auth_method": {"kubernetes/": None},
        "kubernetes_role": {"kubernetes/eso": role_sha(ESO_WRITTEN)},
    }
    assert settled["jwt_sha256"] == {"kubernetes": hashlib.sha256(JWT.encode()).hexdigest()}


def test_an_empty_server_is_sent_the_requests_vault_documents(tmp_path: Path) -> None:
    """Each step is the one request of Vault's HTTP API that makes its object: sys/mounts
    (enable secrets engine: type, description, options.version), sys/policies/acl (the policy
    text, exactly as compiled into out/), sys/auth (enable auth method), the kubernetes auth
    method's config and role endpoints (TTLs in seconds), and KV v2's data/ path."""
    p = plan(want(tmp_path), Current())
    compiled = {a.path: a.text for a in build(tmp_path / "picluster.yaml").artifacts}
    policy = "hosts/node1/etc/vault/policy/{}.hcl"
    ca = (tmp_path / "k8s-ca.crt").read_text()  # already normalised PEM: one certificate
    assert [(s.method, s.path, s.body) for s in p.steps] == [
        (
            "POST",
            "sys/mounts/picluster",
            {
                "type": "kv",
                "description": "picluster: which objects picluster created; do not edit",
                "options": {"version": "2"},
            },
        ),
        (
            "POST",
            "sys/mounts/secret",
            {"type": "kv", "description": "Cluster secrets", "options": {"version": "2"}},
        ),
        ("PUT", "sys/policies/acl/readonly", {"policy": compiled[policy.format("readonly")]}),
        ("PUT", "sys/policies/acl/readwrite", {"policy": compiled[policy.format("readwrite")]}),
        ("POST", "sys/auth/kubernetes", {"type": "kubernetes"}),
        (
            "POST",
            "auth/kubernetes/config",
            {
                "kubernetes_host": "https://10.0.0.10:6443",
                "kubernetes_ca_cert": ca,
                "pem_keys": [],
                "disable_local_ca_jwt": True,
                "token_reviewer_jwt": JWT_PLACEHOLDER,
            },
        ),
        ("POST", "auth/kubernetes/role/eso", ESO_WRITTEN),
        ("POST", "picluster/data/ownership", None),
    ]
    assert text(p, ADDRESS) == [
        f"Vault {ADDRESS}: 8 to create, 0 to update, 0 to delete",
        "  + secrets engine picluster/",
        "  + secrets engine secret/",
        '      type: "kv v2"',
        '      description: "Cluster secrets"',
        "  + policy readonly",
        "  + policy readwrite",
        "  + auth method kubernetes/",
        '      type: "kubernetes"',
        "  + kubernetes config auth/kubernetes/config",
        '      kubernetes_host: "https://10.0.0.10:6443"',
        f'      kubernetes_ca_cert: "1 certificate(s), sha256 {sha(ca)[7:23]}"',
        "      disable_local_ca_jwt: true",
        "      token_reviewer_jwt: (sensitive)",
        "  + kubernetes role kubernetes/eso",
        '      bound_service_account_names: ["external-secrets", "eso2"]',
        '      bound_service_account_namespaces: ["external-secrets"]',
        '      token_policies: ["readonly"]',
        "      token_ttl: 86400",
        '      audience: ""',
        "  + ownership record picluster/ownership",
        "      objects: 5",
    ]


def test_a_converged_server_plans_nothing(tmp_path: Path) -> None:
    d = want(tmp_path)
    p = plan(d, converged(d))
    assert p.steps == []
    assert p.conflicts == []
    assert p.notes == []
    assert text(p, ADDRESS) == [f"Vault {ADDRESS}: no changes; the server matches the spec"]


# --- secrets engines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mount",
    [
        {"type": "kv-v2", "options": None, "description": "Cluster secrets", "accessor": "kv_2c3d"},
        {
            "type": "kv",
            "options": {"version": "2"},
            "description": "Cluster secrets",
            "accessor": "kv_2c3d",
        },
    ],
    ids=["kv-v2", "kv-version-2"],
)
def test_kv_v2_and_kv_version_2_are_the_same_engine(tmp_path: Path, mount: dict[str, Any]) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.mounts["secret"] = mount
    assert plan(d, state).steps == []


# A KV mount made with version 1 answers options {"version": "1"}; one made without options
# answers options {} (OpenBao 2.7.2): both are version 1.
@pytest.mark.parametrize("options", [{"version": "1"}, {}], ids=["version-1", "no-options"])
def test_kv_version_1_is_upgraded_in_place_never_replaced(
    tmp_path: Path, options: dict[str, str]
) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.mounts["secret"] = {
        "type": "kv",
        "options": options,
        "description": "old",
        "accessor": "kv_2c3d",
    }
    [step] = plan(d, state).steps
    assert (step.action, step.method, step.path) == ("update", "POST", "sys/mounts/secret/tune")
    assert (step.kind, step.name) == ("secrets_engine", "secret/")
    assert step.body == {"description": "Cluster secrets", "options": {"version": "2"}}
    assert [(c.field, c.before, c.after) for c in step.changes] == [
        ("version", 1, 2),
        ("description", "old", "Cluster secrets"),
    ]


def test_an_engine_without_a_description_is_no_change(tmp_path: Path) -> None:
    """Vault answers an engine made without a description with ``"description": ""``."""
    d = want(tmp_path, spec_data(secrets_engines=[{"path": "secret", "version": 2}]))
    state = converged(d)
    state.mounts["secret"]["description"] = ""
    assert plan(d, state).steps == []


def test_engines_after_one_that_is_skipped_are_still_planned(tmp_path: Path) -> None:
    """A conflict, a reserved path or a create is settled for that engine alone."""
    engines = [
        {"path": "apps"},
        {"path": "bbb"},
        {"path": "ccc", "version": 1},
        {"path": ownership.MOUNT},
        {"path": "secret"},
    ]
    d = want(tmp_path, spec_data(secrets_engines=engines))
    mounts: dict[str, dict[str, Any]] = {
        "bbb": {"type": "transit", "accessor": "transit_1a2b"},
        "ccc": {"type": "kv", "options": {"version": "2"}, "accessor": "kv_3c4d"},
    }
    p = plan(d, Current(mounts=mounts))
    assert [s.name for s in p.steps if s.kind == "secrets_engine"] == [
        "picluster/",
        "apps/",
        "secret/",
    ]
    assert p.conflicts == [
        "secrets engine picluster/: reserved for picluster's record",
        "secrets engine bbb/: mounted as 'transit', the spec wants kv; picluster will not "
        "replace it (that would destroy its data)",
        "secrets engine ccc/: KV version 2 cannot go back to version 1 in place",
    ]


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
    state.mounts["secret"] = {**mount, "accessor": "kv_2c3d"}
    p = plan(d, state)
    assert p.conflicts == [conflict]
    assert p.steps == []


def test_an_auth_method_of_another_type_is_a_conflict(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.auth["kubernetes"] = {"type": "jwt", "accessor": "auth_jwt_1a2b"}
    assert plan(d, state).conflicts == [
        "auth method kubernetes/: enabled as 'jwt', the spec wants kubernetes"
    ]


# --- policies, roles -------------------------------------------------------------------------


def test_an_edited_policy_is_one_update_with_its_diff(tmp_path: Path) -> None:
    d = want(tmp_path)
    data = spec_data()
    data["vault"]["policies"]["readonly"][0]["capabilities"] = ["read", "list"]
    p = plan(want(tmp_path, data), converged(d))

    # The record learns the policy's new fingerprint.
    assert summary(p) == [
        ("update", "policy", "readonly"),
        ("update", "ownership_record", "picluster/ownership"),
    ]
    assert text(p, ADDRESS) == [
        f"Vault {ADDRESS}: 0 to create, 2 to update, 0 to delete",
        "  ~ policy readonly",
        '      -capabilities = ["read"]',
        '      +capabilities = ["read", "list"]',
        "  ~ ownership record picluster/ownership",
        "      fingerprints: (none) -> (1 updated)",
    ]


def test_a_policy_after_an_unchanged_one_is_still_compared(tmp_path: Path) -> None:
    d = want(tmp_path)
    data = spec_data()
    data["vault"]["policies"]["readwrite"][0]["capabilities"] = ["read", "update"]
    p = plan(want(tmp_path, data), converged(d))
    assert summary(p)[0] == ("update", "policy", "readwrite")
    # In the JSON plan the change is the policy text, before and after, under "policy".
    [change] = json.loads(as_json(p, ADDRESS))["steps"][0]["changes"]
    assert (change["field"], change["before"]) == ("policy", READWRITE)
    assert 'capabilities = ["read", "update"]' in change["after"]


def test_a_role_after_an_unchanged_one_is_still_compared(tmp_path: Path) -> None:
    d = want(tmp_path)
    data = spec_data()
    data["vault"]["kubernetes_auth"]["roles"]["web"] = {
        "service_accounts": ["web"],
        "namespaces": ["web"],
        "policies": ["readonly"],
    }
    p = plan(want(tmp_path, data), converged(d))
    assert summary(p)[0] == ("create", "kubernetes_role", "kubernetes/web")


def test_a_role_in_a_nested_auth_path_is_written_under_it(tmp_path: Path) -> None:
    """An auth method may be mounted at a nested path; its roles are at
    ``auth/<path>/role/<name>`` (as OpenBao 2.7.2 serves ``auth/team/k8s/role/eso``)."""
    data = spec_data()
    data["vault"]["kubernetes_auth"]["path"] = "team/k8s"
    p = plan(want(tmp_path, data), Current())
    roles = [(s.name, s.path) for s in p.steps if s.kind == "kubernetes_role"]
    assert roles == [("team/k8s/eso", "auth/team/k8s/role/eso")]


def test_a_changed_role_sends_every_field(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    state.roles["kubernetes/eso"]["token_ttl"] = 3600
    [step] = plan(d, state).steps
    assert (step.action, step.path) == ("update", "auth/kubernetes/role/eso")
    assert step.body == ESO_WRITTEN
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


def test_a_replaced_ca_shows_both_by_fingerprint(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    other = (ROOT / "pki" / "k3s-server-ca.crt").read_text()
    state.k8s_config["kubernetes_ca_cert"] = other
    [step] = plan(d, state).steps
    ca = (tmp_path / "k8s-ca.crt").read_text()
    assert [(c.field, c.before, c.after) for c in step.changes] == [
        (
            "kubernetes_ca_cert",
            f"1 certificate(s), sha256 {sha(other)[7:23]}",
            f"1 certificate(s), sha256 {sha(ca)[7:23]}",
        )
    ]


def test_config_fields_changed_by_hand_show_what_the_server_has(tmp_path: Path) -> None:
    """pem_keys are compared in any order; the spec sets none, so keys added by hand go."""
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc=\n-----END PUBLIC KEY-----"
    state.k8s_config.update(kubernetes_host="https://10.0.0.99:6443", pem_keys=[key])
    [step] = plan(d, state).steps
    assert [(c.field, c.before, c.after) for c in step.changes] == [
        ("kubernetes_host", "https://10.0.0.99:6443", "https://10.0.0.10:6443"),
        ("pem_keys", [key], []),
    ]


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
    assert sorted(config.body) == [
        "disable_local_ca_jwt",
        "kubernetes_ca_cert",
        "kubernetes_host",
        "pem_keys",
        "token_reviewer_jwt",
    ]
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


def test_a_jwt_unset_by_hand_since_is_written_again(tmp_path: Path) -> None:
    """The server says ``token_reviewer_jwt_set: false`` (its answer once no JWT is set), so
    the record's fingerprint of the last JWT sent no longer describes the server."""
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    state.k8s_config["token_reviewer_jwt_set"] = False
    [config] = plan(d, state).steps
    assert [(c.field, c.before, c.after) for c in config.changes] == [
        ("token_reviewer_jwt", "(unset)", "(sensitive)")
    ]


def test_without_token_reviewer_jwt_set_the_record_says_whether_a_jwt_is_set(
    tmp_path: Path,
) -> None:
    d = want(tmp_path)
    state = converged(d)
    assert state.k8s_config is not None
    del state.k8s_config["token_reviewer_jwt_set"]
    assert plan(d, state).steps == []


def test_no_jwt_in_the_spec_and_none_on_the_server_is_no_change(tmp_path: Path) -> None:
    data = spec_data()
    del data["vault"]["kubernetes_auth"]["token_reviewer_jwt"]
    d = want(tmp_path, data, jwt=None)
    state = converged(d)
    assert state.k8s_config is not None
    assert state.record is not None
    state.k8s_config["token_reviewer_jwt_set"] = False
    state.record.jwt.clear()
    assert plan(d, state).steps == []


# --- ownership and prune ---------------------------------------------------------------------


def with_old(state: Current, record: dict[str, Any]) -> Current:
    """``state`` with role and policy "old" (made by picluster, as ``record`` says) and
    "by-hand" (made by someone else) on the server."""
    for name in ("old", "by-hand"):
        state.roles[f"kubernetes/{name}"] = dict(ESO_ROLE)
        state.policies[name] = 'path "x" { capabilities = ["read"] }'
    return Current(**{**state.__dict__, "record": ownership.parse(record)})


def recorded(**objects: dict[str, str | None]) -> dict[str, Any]:
    base: dict[str, dict[str, str | None]] = {
        "secrets_engine": {"secret/": "accessor:kv_2c3d"},
        "policy": {"readonly": sha(READONLY), "readwrite": sha(READWRITE)},
        "auth_method": {"kubernetes/": "accessor:auth_kubernetes_6a7b"},
        "kubernetes_role": {"kubernetes/eso": role_sha(ESO_WRITTEN)},
    }
    for kind, entries in objects.items():
        base[kind] = {**base[kind], **entries}
    return {
        "format": 2,
        "objects": base,
        "jwt_sha256": {"kubernetes": hashlib.sha256(JWT.encode()).hexdigest()},
    }


OLD_RECORD = recorded(
    kubernetes_role={"kubernetes/old": role_sha(ESO_WRITTEN)},
    policy={"old": sha('path "x" { capabilities = ["read"] }')},
)


def test_prune_deletes_only_what_picluster_created(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = with_old(converged(d), OLD_RECORD)

    kept = plan(d, state)
    assert kept.steps == []
    assert text(kept, ADDRESS)[1:] == [
        "  note: kubernetes role kubernetes/old was created by picluster and is no longer in "
        "the spec; `--prune` deletes it (no new login with it)",
        "  note: policy old was created by picluster and is no longer in the spec; `--prune` "
        "deletes it (tokens that carry it lose what it grants)",
    ]

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
    assert text(pruned, ADDRESS)[1:3] == [
        "  - kubernetes role kubernetes/old (no new login with it)",
        "  - policy old (tokens that carry it lose what it grants)",
    ]
    # The record named 7 objects (5 of spec_data() and the 2 old ones) and names 5.
    assert [(c.field, c.before, c.after) for c in pruned.steps[2].changes] == [("objects", 7, 5)]
    objects = pruned.record_after.body()["data"]["objects"]
    assert list(objects["kubernetes_role"]) == ["kubernetes/eso"]
    assert "old" not in objects["policy"]


def test_an_owned_object_changed_by_hand_since_is_kept(tmp_path: Path) -> None:
    """Recreated or edited by hand after picluster made it: its fingerprint no longer matches
    the record's, so a prune reports it and leaves it."""
    d = want(tmp_path)
    state = with_old(converged(d), OLD_RECORD)
    state.policies["old"] = 'path "x" { capabilities = ["read", "list"] }'
    state.roles["kubernetes/old"]["token_policies"] = ["readwrite"]
    pruned = plan(d, state, prune=True)
    assert summary(pruned) == []
    assert pruned.notes == [
        "kubernetes role kubernetes/old was created by picluster, but changed or made anew by "
        "hand since; kept (delete it by hand if it should go)",
        "policy old was created by picluster, but changed or made anew by hand since; kept "
        "(delete it by hand if it should go)",
    ]


def test_an_entry_whose_object_is_gone_is_dropped(tmp_path: Path) -> None:
    """Deleted by hand: the record forgets it, so a later object of that name made by hand is
    never taken for picluster's."""
    d = want(tmp_path)
    state = with_old(converged(d), OLD_RECORD)
    del state.policies["old"]
    del state.roles["kubernetes/old"]
    p = plan(d, state, prune=True)
    assert summary(p) == [("update", "ownership_record", "picluster/ownership")]
    assert p.record_before.objects["policy"] == {
        "readonly": sha(READONLY),
        "readwrite": sha(READWRITE),
    }
    assert "kubernetes/old" not in p.record_after.objects["kubernetes_role"]


@pytest.mark.parametrize(
    ("keys", "note"),
    [
        (1, "holds 1 key"),
        (12, "holds 12 keys"),
        (1000, "holds 1000+ keys"),
        (None, "keys it may hold cannot be counted"),
    ],
)
def test_an_engine_that_holds_keys_is_never_unmounted_by_prune(
    tmp_path: Path, keys: int | None, note: str
) -> None:
    data = spec_data(secrets_engines=[])
    data["vault"]["kubernetes_auth"]["roles"] = {}
    del data["vault"]["policies"]
    d = want(tmp_path, data)
    state = converged(d, keys={"secret": keys}, roles={}, policies={})
    state = Current(
        **{**state.__dict__, "record": ownership.parse(recorded(policy={}, kubernetes_role={}))}
    )
    state.record.objects["policy"].clear()  # type: ignore[union-attr]
    state.record.objects["kubernetes_role"].clear()  # type: ignore[union-attr]
    p = plan(d, state, prune=True)
    assert p.notes == [
        f"secrets engine secret/ was created by picluster and is no longer in the spec, but "
        f"{note}; kept: `--prune --destroy-engine secret` unmounts it and destroys them"
    ]
    assert [s for s in p.steps if s.action == "delete"] == []
    destroyed = plan(d, state, prune=True, destroy={"secret"})
    assert text(destroyed, ADDRESS)[1] == (
        "  - secrets engine secret/ (unmounts it"
        + (f" and destroys its {note.removeprefix('holds ')})" if keys else ")")
    )


def test_pruning_an_auth_method_takes_its_roles_with_it(tmp_path: Path) -> None:
    """Vault's `DELETE sys/auth/:path` disables the method and removes every role under it:
    the roles get no delete of their own, and the JWT fingerprint of that path is forgotten."""
    state = converged(want(tmp_path))  # the server as spec_data() left it
    data = spec_data()
    del data["vault"]["kubernetes_auth"]
    data["vault"]["policies"] = {"readonly": data["vault"]["policies"]["readonly"]}
    d = want(tmp_path, data)
    p = plan(d, state, prune=True)
    assert [(s.action, s.method, s.path, s.destroys) for s in p.steps] == [
        (
            "delete",
            "DELETE",
            "sys/auth/kubernetes",
            "every role in it goes, and every token it issued is revoked",
        ),
        (
            "delete",
            "DELETE",
            "sys/policies/acl/readwrite",
            "tokens that carry it lose what it grants",
        ),
        ("update", "POST", "picluster/data/ownership", ""),
    ]
    after = p.record_after.body()["data"]
    assert after["objects"]["secrets_engine"] == {"secret/": "accessor:kv_2c3d"}
    assert after["objects"]["policy"] == {"readonly": sha(READONLY)}
    assert "auth_method" not in after["objects"]
    assert after["jwt_sha256"] == {}


def test_a_mount_made_anew_by_hand_is_no_longer_owned(tmp_path: Path) -> None:
    """Vault gives every mount a new accessor: an engine unmounted and mounted again by hand
    is not the one picluster made, so the record lets it go (and a prune could never take it)."""
    d = want(tmp_path)
    state = converged(d)
    state.mounts["secret"] = {**state.mounts["secret"], "accessor": "kv_ffff"}
    p = plan(d, state)
    assert summary(p) == [("update", "ownership_record", "picluster/ownership")]
    assert p.notes == [
        "secrets engine secret/ was mounted anew by hand since picluster created it; picluster "
        "no longer counts it as its own"
    ]
    assert "secret/" not in p.record_after.objects["secrets_engine"]


def test_an_empty_engine_is_unmounted_by_prune(tmp_path: Path) -> None:
    data = spec_data(secrets_engines=[])
    d = want(tmp_path, data)
    p = plan(d, converged(d, keys={"secret": 0}), prune=True)
    assert text(p, ADDRESS)[1] == "  - secrets engine secret/ (unmounts it)"
    # Vault's API: DELETE sys/mounts/:path disables the secrets engine at that path.
    assert [(s.method, s.path) for s in p.steps if s.action == "delete"] == [
        ("DELETE", "sys/mounts/secret")
    ]


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (
            recorded(policy={"../../mounts/handkv": None}),
            "'../../mounts/handkv' is not a policy name",
        ),
        (recorded(secrets_engine={"handkv": None}), "'handkv' is not a secrets engine name"),
        ({"format": 7}, "format 7 is not one picluster writes"),
        ({"format": 2, "objects": {"mount": {}}}, "'mount' is not a kind picluster records"),
        ({"format": 2, "objects": [], "jwt_sha256": {}}, "objects and jwt_sha256 must be mappings"),
        (recorded(policy={"ok": "sha256:zz"}), "the fingerprint of policy ok is malformed"),
        (["policy", "readonly"], "it is not a mapping"),
        # JSON's true is no format number, though Python's True == 1.
        ({"format": True}, "format true is not one picluster writes"),
        # Format 1 recorded a list of names; format 2 never does.
        (
            {"format": 2, "objects": {"policy": ["readonly"]}},
            "the policy entries must be a mapping",
        ),
        (
            {"format": 2, "objects": {}, "jwt_sha256": {"../sys/mounts": "0" * 64}},
            "'../sys/mounts' is not an auth path",
        ),
        (
            {"format": 2, "objects": {}, "jwt_sha256": {"kubernetes": "not-a-sha256"}},
            "the JWT fingerprint of kubernetes is malformed",
        ),
    ],
)
def test_a_record_that_picluster_did_not_write_is_refused_as_a_whole(
    record: dict[str, Any], why: str
) -> None:
    with pytest.raises(RecordError) as info:
        ownership.parse(record)
    assert str(info.value) == (
        f"picluster/ownership: not a record picluster wrote ({why}); nothing was changed. Look "
        "at it (`bao kv get picluster/ownership`); delete it to start afresh, and picluster "
        "then owns nothing"
    )


def test_no_record_is_a_record_of_nothing() -> None:
    """Before the first apply there is no record: picluster owns nothing, so prunes nothing."""
    empty = ownership.parse(None)
    assert (empty.count(), empty.jwt) == (0, {})


def test_a_record_of_format_1_is_read_and_fingerprinted(tmp_path: Path) -> None:
    """Names only, as an older picluster wrote them: trusted as before, and the next apply
    records each one's fingerprint."""
    d = want(tmp_path)
    old = {
        "format": 1,
        "objects": {
            "policy": ["readonly", "readwrite"],
            "secrets_engine": ["secret/"],
            "auth_method": ["kubernetes/"],
            "kubernetes_role": ["kubernetes/eso"],
        },
        "jwt_sha256": {"kubernetes": hashlib.sha256(JWT.encode()).hexdigest()},
    }
    state = converged(d, record=ownership.parse(old))
    p = plan(d, state)
    assert summary(p) == [("update", "ownership_record", "picluster/ownership")]
    assert p.record_after.body() == converged(d).record.body()  # type: ignore[union-attr]


def test_objects_that_existed_before_are_adopted_not_owned(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d, record=None)
    state.mounts.pop(ownership.MOUNT)
    p = plan(d, state, prune=True)
    # Only the JWT fingerprint is news: the record is made to hold it, and claims nothing.
    assert summary(p) == [
        ("create", "secrets_engine", "picluster/"),
        ("update", "kubernetes_config", "auth/kubernetes/config"),
        ("create", "ownership_record", "picluster/ownership"),
    ]
    assert p.record_after.body()["data"]["objects"] == {}


def test_the_record_mount_is_reserved(tmp_path: Path) -> None:
    data = spec_data(secrets_engines=[{"path": "secret"}, {"path": ownership.MOUNT}])
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
    p = plan(d, converged(d, kv={"secret/app/db": False, "secret/app/other": None}))
    spec = tmp_path / "picluster.yaml"
    assert p.warnings == [
        f"{spec}:47:19: kubernetes.external_secrets.secrets[0].data.password: warning: "
        "secret/app/db does not exist in Vault; ExternalSecret default/app cannot sync until "
        "it is written",
        f"{spec}:48:15: kubernetes.external_secrets.secrets[0].data.user: warning: "
        "secret/app/db does not exist in Vault; ExternalSecret default/app cannot sync until "
        "it is written",
        f"{spec}:50:9: kubernetes.external_secrets.secrets[0].data_from[0]: warning: cannot "
        "check secret/app/other (the token may not read its metadata)",
    ]

"""The ownership side of the Vault plan: what the record keeps, drops and lets a prune delete."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from compiler.apply import ownership
from compiler.apply.vault_model import Current
from compiler.apply.vault_plan import plan
from compiler.errors import RecordError
from tests.apply.test_vault_plan import (
    ESO_ROLE,
    ESO_WRITTEN,
    JWT,
    READONLY,
    READWRITE,
    converged,
    recorded,
    role_sha,
    sha,
    spec_data,
    summary,
    want,
)


def owning(state: Current, record: dict[str, Any]) -> Current:
    return Current(**{**state.__dict__, "record": ownership.parse(record)})


def test_what_picluster_writes_it_reads_back(tmp_path: Path) -> None:
    record = converged(want(tmp_path)).record
    assert record is not None
    assert ownership.parse(record.body()["data"]) == record


def test_a_record_that_names_nothing_owns_nothing() -> None:
    for record in ({"format": 2}, {"format": 2, "jwt_sha256": {}}):
        assert ownership.parse(record) == ownership.Ownership()


def test_a_mount_answered_without_an_accessor_gets_no_fingerprint(tmp_path: Path) -> None:
    """Such a fingerprint could not be read back (an accessor has at least one character)."""
    d = want(tmp_path)
    state = owning(converged(d), recorded(secrets_engine={"secret/": None}))
    for accessor in ("", None):
        state.mounts["secret"]["accessor"] = accessor
        after = plan(d, state).record_after
        assert after.objects["secrets_engine"] == {"secret/": None}
        assert ownership.parse(after.body()["data"]) == after


LONG = "x" * 100


@pytest.mark.parametrize(
    ("record", "why"),
    [
        # What the record holds is hostile input: shown cut short, and never a secret.
        ({"format": LONG}, f'format "{LONG[:19]} is not one picluster writes'),
        ({"format": 2, "objects": {LONG: {}}}, f"'{LONG[:40]}' is not a kind picluster records"),
        (recorded(policy={LONG.upper(): None}), f"'{LONG.upper()[:80]}' is not a policy name"),
        (
            {"format": 2, "jwt_sha256": {LONG.upper(): "0" * 64}},
            f"'{LONG.upper()[:80]}' is not an auth path",
        ),
        (
            recorded(secrets_engine={"secret/": "accessor:"}),
            "the fingerprint of secrets engine secret/ is malformed",
        ),
    ],
    ids=["format", "kind", "name", "auth-path", "engine-fingerprint"],
)
def test_a_refused_record_is_named_in_a_short_line(record: dict[str, Any], why: str) -> None:
    with pytest.raises(RecordError) as info:
        ownership.parse(record)
    assert f"({why});" in str(info.value)


def test_a_mount_made_anew_by_hand_leaves_the_rest_of_the_record_settled(tmp_path: Path) -> None:
    d = want(tmp_path)
    data = spec_data()
    data["vault"]["policies"]["readonly"][0]["capabilities"] = ["list"]
    state = converged(d)
    state.mounts["secret"] = {**state.mounts["secret"], "accessor": "kv_ffff"}
    p = plan(want(tmp_path, data), state)
    [policy] = [s for s in p.steps if s.kind == "policy"]
    assert policy.body is not None
    assert p.record_after.objects["policy"]["readonly"] == sha(policy.body["policy"])


def test_an_owned_role_read_without_an_audience_is_as_picluster_left_it(tmp_path: Path) -> None:
    """OpenBao leaves an empty audience out of a role read: that is the ``""`` picluster
    wrote, so the role still matches its fingerprint and a prune deletes it."""
    d = want(tmp_path)
    state = owning(
        converged(d), recorded(kubernetes_role={"kubernetes/old": role_sha(ESO_WRITTEN)})
    )
    state.roles["kubernetes/old"] = {k: v for k, v in ESO_ROLE.items() if k != "audience"}
    assert plan(d, state).steps == []
    assert summary(plan(d, state, prune=True))[0] == ("delete", "kubernetes_role", "kubernetes/old")


def test_deletions_go_roles_first_then_auth_methods(tmp_path: Path) -> None:
    """Nothing goes while something may still refer to it: roles, auth methods, policies,
    secrets engines."""
    d = want(tmp_path)
    state = owning(
        converged(d),
        recorded(
            auth_method={"old-k8s/": "accessor:auth_kubernetes_1111"},
            kubernetes_role={"kubernetes/old": role_sha(ESO_WRITTEN)},
        ),
    )
    state.auth["old-k8s"] = {"type": "kubernetes", "accessor": "auth_kubernetes_1111"}
    state.roles["kubernetes/old"] = dict(ESO_ROLE)
    p = plan(d, state, prune=True)
    assert [(s.kind, s.name) for s in p.steps if s.action == "delete"] == [
        ("kubernetes_role", "kubernetes/old"),
        ("auth_method", "old-k8s/"),
    ]


def test_an_engine_kept_for_its_keys_does_not_keep_the_next_one(tmp_path: Path) -> None:
    data = spec_data(secrets_engines=[])
    d = want(tmp_path, data)
    state = owning(
        converged(d, keys={"apps": 3, "secret": 0}),
        recorded(secrets_engine={"apps/": "accessor:kv_5e6f"}),
    )
    state.mounts["apps"] = {"type": "kv-v2", "options": {}, "accessor": "kv_5e6f"}
    p = plan(d, state, prune=True)
    assert [(s.action, s.name) for s in p.steps if s.kind == "secrets_engine"] == [
        ("delete", "secret/")
    ]
    assert [n for n in p.notes if n.startswith("secrets engine apps/")] != []


def test_an_auth_method_at_a_nested_path_takes_its_roles_with_it(tmp_path: Path) -> None:
    """Vault's ``DELETE sys/auth/team/k8s`` removes every role under ``auth/team/k8s/``; an
    owned role of another method is deleted at ``auth/<path>/role/<name>``."""
    data = spec_data()
    data["vault"]["kubernetes_auth"]["path"] = "team/k8s"
    data["vault"]["kubernetes_auth"]["roles"] = {}
    without = spec_data()
    del without["vault"]["kubernetes_auth"]
    d = want(tmp_path, without)
    state = owning(
        converged(want(tmp_path)),
        recorded(
            auth_method={"team/k8s/": "accessor:auth_kubernetes_2222"},
            kubernetes_role={"team/k8s/eso": role_sha(ESO_WRITTEN)},
        ),
    )
    state.auth["team/k8s"] = {"type": "kubernetes", "accessor": "auth_kubernetes_2222"}
    state.roles["team/k8s/eso"] = dict(ESO_ROLE)
    deletes = [(s.method, s.path) for s in plan(d, state, prune=True).steps if s.method == "DELETE"]
    assert ("DELETE", "sys/auth/team/k8s") in deletes
    assert not [path for _, path in deletes if path.startswith("auth/team/k8s/")]

    # The method stays (the spec declares it) and one of its roles goes.
    d = want(tmp_path, data)
    state.auth["team/k8s"] = {"type": "kubernetes", "accessor": "auth_kubernetes_2222"}
    deletes = [(s.method, s.path) for s in plan(d, state, prune=True).steps if s.method == "DELETE"]
    assert ("DELETE", "auth/team/k8s/role/eso") in deletes


def test_the_jwt_fingerprint_of_a_kept_auth_method_is_kept(tmp_path: Path) -> None:
    """Without --prune an auth method picluster made stays, and so does what the record
    knows of its JWT; nothing is written."""
    data = spec_data()
    del data["vault"]["kubernetes_auth"]
    d = want(tmp_path, data)
    p = plan(d, converged(want(tmp_path)))
    assert [s for s in p.steps if s.kind == "ownership_record"] == []


def test_the_jwt_fingerprint_of_an_adopted_auth_method_is_kept(tmp_path: Path) -> None:
    """An auth method that existed before is not owned, but the JWT picluster sent to it is
    still known: no write on every run."""
    d = want(tmp_path)
    record = {
        "format": 2,
        "objects": {},
        "jwt_sha256": {"kubernetes": hashlib.sha256(JWT.encode()).hexdigest()},
    }
    assert plan(d, owning(converged(d), record)).steps == []


def test_owned_mounts_gone_from_the_server_are_dropped(tmp_path: Path) -> None:
    d = want(tmp_path)
    state = converged(d)
    del state.mounts["secret"]
    del state.auth["kubernetes"]
    p = plan(d, state)
    assert "secret/" not in p.record_before.objects["secrets_engine"]
    assert "kubernetes/" not in p.record_before.objects["auth_method"]
    assert p.record_before.objects["policy"] == {
        "readonly": sha(READONLY),
        "readwrite": sha(READWRITE),
    }


def test_a_forged_entry_for_the_record_mount_is_never_unmounted(tmp_path: Path) -> None:
    d = want(tmp_path)
    forged = recorded(secrets_engine={"picluster/": "accessor:kv_0a1b"})
    state = owning(converged(d, keys={"picluster": 0}), forged)
    p = plan(d, state, prune=True, destroy={"picluster"})
    assert [s for s in p.steps if s.action == "delete"] == []
    assert "picluster/" not in p.record_after.objects["secrets_engine"]

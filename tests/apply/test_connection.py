"""Connection errors as one line, and where the token and the reviewer JWT come from."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from hvac import exceptions as hvac_errors

from compiler.apply.connection import api_path, describe
from compiler.apply.credentials import reviewer_jwt, token
from compiler.check import load
from compiler.errors import InputError, InputFileError
from tests.support import minimal, write_spec

ADDRESS = "https://vault.example:8200"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1hdXRoIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            hvac_errors.InternalServerError(errors=["storage unavailable"]),
            f"{ADDRESS}: server error 500 on PUT sys/policies/acl/x after 4 attempts: "
            "storage unavailable",
        ),
        (
            hvac_errors.VaultDown(errors=["Vault is sealed"]),
            f"{ADDRESS}: sealed; unseal it (the generated unseal script or `bao operator "
            "unseal`), then retry",
        ),
        (
            hvac_errors.Forbidden(errors=["permission denied"]),
            f"{ADDRESS}: permission denied (403): the token lacks 'update' on "
            "sys/policies/acl/x; grant it in the token's policy",
        ),
        (
            hvac_errors.InvalidRequest(errors=["bad policy"]),
            f"{ADDRESS}: PUT sys/policies/acl/x refused: bad policy (400)",
        ),
        (
            hvac_errors.VaultNotInitialized(errors=["Vault is not initialized"]),
            f"{ADDRESS}: not initialised; run `picluster init` first",
        ),
        # requests' own exceptions, worded as urllib3 words them on this platform.
        (
            requests.exceptions.ConnectionError(
                "HTTPSConnectionPool(host='vault.example', port=8200): Max retries exceeded "
                "(Caused by NameResolutionError(\"Failed to resolve 'vault.example' ([Errno -2] "
                'Name or service not known)"))'
            ),
            f"{ADDRESS}: unreachable (the name does not resolve) after 4 attempts",
        ),
        (
            requests.exceptions.ConnectionError(
                "HTTPSConnectionPool(host='vault.example', port=8200): Max retries exceeded "
                "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 113] "
                "No route to host'))"
            ),
            f"{ADDRESS}: unreachable (cannot connect) after 4 attempts",
        ),
        (
            requests.exceptions.ReadTimeout("Read timed out. (read timeout=10.0)"),
            f"{ADDRESS}: no answer within 10s (PUT sys/policies/acl/x)",
        ),
        (
            requests.exceptions.InvalidHeader("Invalid leading whitespace"),
            f"{ADDRESS}: PUT sys/policies/acl/x failed: InvalidHeader",
        ),
    ],
    ids=["5xx", "sealed", "403", "400", "501", "no-name", "no-route", "timeout", "other"],
)
def test_vault_errors_are_one_line(exc: Exception, line: str) -> None:
    assert describe(ADDRESS, "PUT", "sys/policies/acl/x", "update", exc) == line


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        (("sys/policies/acl", "readonly"), "sys/policies/acl/readonly"),
        (("sys/mounts", "kv/apps"), "sys/mounts/kv/apps"),
        (("sys/policies/acl", "a?b#c%2F"), "sys/policies/acl/a%3Fb%23c%252F"),
        (("sys/policies/acl", "sp ace"), "sys/policies/acl/sp%20ace"),
    ],
)
def test_each_api_path_segment_is_encoded(parts: tuple[str, ...], path: str) -> None:
    assert api_path(*parts) == path


@pytest.mark.parametrize("name", ["../../mounts/handkv", "a//b", "./x", "x/"])
def test_no_name_can_climb_out_of_its_endpoint(name: str) -> None:
    with pytest.raises(ValueError, match="not an API path"):
        api_path("sys/policies/acl", name)


def spec(tmp_path: Path, **auth: object) -> Path:
    data = minimal(
        kubernetes_auth={"host": "https://10.0.0.10:6443", **auth},
        api={"token_file": "token"},
    )
    return write_spec(tmp_path, data)


def test_the_token_comes_from_the_environment_then_the_file(tmp_path: Path) -> None:
    loaded = load(spec(tmp_path))
    assert token(loaded.model, {"BAO_TOKEN": "b", "VAULT_TOKEN": "v"}) == "v"
    assert token(loaded.model, {"BAO_TOKEN": "b"}) == "b"
    with pytest.raises(InputFileError, match=r"^token: no such file \(vault.api.token_file\)$"):
        token(loaded.model, {})
    (tmp_path / "token").write_text("s.file\n")
    assert token(loaded.model, {}) == "s.file"


def test_no_token_anywhere_is_one_line_naming_every_source(tmp_path: Path) -> None:
    """Without a token_file only the environment is asked; an empty file is no token, and a
    blank variable is as good as unset."""
    loaded = load(write_spec(tmp_path, minimal()))
    with pytest.raises(InputError) as none:
        token(loaded.model, {"VAULT_TOKEN": "  "})
    assert str(none.value) == (
        "no Vault token: set VAULT_TOKEN or BAO_TOKEN, or vault.api.token_file"
    )
    loaded = load(spec(tmp_path))
    (tmp_path / "token").write_text("\n")
    with pytest.raises(InputError) as empty:
        token(loaded.model, {})
    assert str(empty.value) == "token: empty (vault.api.token_file)"
    (tmp_path / "token").write_bytes(b"\xff\xfe")
    with pytest.raises(InputFileError) as binary:
        token(loaded.model, {})
    assert str(binary.value) == "token: not a text file (vault.api.token_file)"


def test_the_jwt_is_read_from_its_source_and_never_shown(tmp_path: Path) -> None:
    loaded = load(spec(tmp_path, token_reviewer_jwt={"env": "REVIEWER_JWT"}))
    assert reviewer_jwt(loaded.model, {"REVIEWER_JWT": JWT}) == JWT
    with pytest.raises(InputError) as unset:
        reviewer_jwt(loaded.model, {})
    assert str(unset.value) == (
        "vault.kubernetes_auth.token_reviewer_jwt.env: environment variable REVIEWER_JWT is not set"
    )
    with pytest.raises(InputError) as wrong:
        reviewer_jwt(loaded.model, {"REVIEWER_JWT": "hunter2 not a jwt"})
    assert str(wrong.value) == (
        "vault.kubernetes_auth.token_reviewer_jwt: environment variable REVIEWER_JWT does not "
        "hold a JWT"
    )

    loaded = load(spec(tmp_path, token_reviewer_jwt={"file": "reviewer.jwt"}))
    (tmp_path / "reviewer.jwt").write_text(JWT + "\n")
    assert reviewer_jwt(loaded.model, {}) == JWT


def test_a_jwt_source_is_exactly_one_of_file_env_kubeconfig(tmp_path: Path) -> None:
    from compiler.errors import SpecError

    with pytest.raises(SpecError) as caught:
        load(spec(tmp_path, token_reviewer_jwt={"file": "a", "env": "B"}))
    assert caught.value.lines() == [
        f"{tmp_path}/picluster.yaml:10:7: vault.kubernetes_auth.token_reviewer_jwt: "
        "name exactly one of file, env or kubeconfig"
    ]

"""The token reviewer JWT read from the cluster through a kubeconfig, by the real kubectl.

The cluster is a stand-in API server (no Kubernetes runs here); kubectl, its discovery, TLS
verification and credentials are real.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.apply.credentials import reviewer_jwt
from compiler.check import load
from compiler.errors import ApplyError, InputError
from tests.integration import kube_api, pki
from tests.support import minimal, need, write_spec

pytestmark = pytest.mark.integration

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1hdXRoIn0.c2lnbmF0dXJl"
LOGIN = "kubeconfig-login-token"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[kube_api.KubeAPI]:
    need("kubectl", "openssl")
    ca = pki.make_ca(tmp_path / "ca")
    with kube_api.running(tmp_path / "api", ca) as server:
        server.kubeconfig(tmp_path / "kubeconfig", LOGIN)
        yield server


def loaded(tmp_path: Path, **kubernetes: object):
    data = minimal(
        kubernetes_auth={
            "host": "https://10.0.0.10:6443",
            "token_reviewer_jwt": {"kubeconfig": "kubeconfig"},
        }
    )
    if kubernetes:
        data["kubernetes"] = kubernetes
    return load(write_spec(tmp_path, data))


def test_the_jwt_is_the_token_of_the_reviewer_secret(tmp_path: Path, api: kube_api.KubeAPI) -> None:
    api.secrets[("vault", "vault-auth-secret")] = {"token": base64.b64encode(JWT.encode()).decode()}
    got = loaded(tmp_path)
    assert reviewer_jwt(got.model, {}) == JWT
    assert f"Bearer {LOGIN}" in api.tokens


def test_a_missing_secret_is_one_line_naming_it(tmp_path: Path, api: kube_api.KubeAPI) -> None:
    api.secrets[("vault", "another")] = {}
    got = loaded(tmp_path)
    with pytest.raises(ApplyError) as caught:
        reviewer_jwt(got.model, {})
    assert str(caught.value) == (
        "kubectl: cannot read Secret vault/vault-auth-secret: Error from server (NotFound): "
        'secrets "vault-auth-secret" not found'
    )


def test_a_secret_without_a_jwt_is_refused_without_showing_it(
    tmp_path: Path, api: kube_api.KubeAPI
) -> None:
    api.secrets[("vault", "vault-auth-secret")] = {"token": base64.b64encode(b"hunter2").decode()}
    got = loaded(tmp_path)
    with pytest.raises(InputError) as caught:
        reviewer_jwt(got.model, {})
    assert str(caught.value) == (
        "vault.kubernetes_auth.token_reviewer_jwt: Secret vault/vault-auth-secret does not hold"
        " a JWT"
    )
    assert "hunter2" not in str(caught.value)

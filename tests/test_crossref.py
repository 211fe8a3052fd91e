"""The warnings of compiler.crossref: what does not stop the compile but a user must read.

Each is located at the part of the spec it is about and said in full; the facts behind them:
Vault checks the Kubernetes API server's certificate against ``kubernetes_ca_cert`` or, without
it, the host's system CAs (path_config.go of the kubernetes auth plugin), which do not hold a
k3s or kubeadm cluster's own CA; the unseal service reads its keys from the node's own disk.
"""

from __future__ import annotations

from typing import Any

from compiler import check, yamlio
from tests.support import minimal

ROLES = {"apps": {"service_accounts": ["apps"], "namespaces": ["apps"], "policies": ["default"]}}


def warnings(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dotted path, message) of each warning of a valid spec."""
    doc = yamlio.load(yamlio.dump(data).decode(), "picluster.yaml")
    return [(p.path, p.message) for p in check.validate(doc)[1]]


def test_vault_without_the_cluster_ca_is_warned_of() -> None:
    data = minimal(
        distribution="vault",
        unseal={"service": False},
        kubernetes_auth={"host": "https://10.0.0.10:6443", "roles": ROLES},
    )
    assert warnings(data) == [
        (
            "vault.kubernetes_auth",
            "warning: without ca_cert, Vault checks the Kubernetes API server against the "
            "nodes' system CAs, which do not hold a cluster's own CA (k3s, kubeadm): every "
            "login would fail; set ca_cert unless the API server's certificate is public",
        ),
        # No kubernetes section generates the TokenReview binding (compiler.access.checks).
        (
            "vault.kubernetes_auth",
            "warning: without token_reviewer_jwt, Vault reviews each login with the "
            "logging-in token itself, so every service account that logs in needs the "
            "ClusterRole system:auth-delegator; with no kubernetes section picluster generates "
            "no binding: bind them yourself, or set token_reviewer_jwt",
        ),
    ]


def test_unseal_keys_on_the_nodes_are_warned_of() -> None:
    data = minimal(unseal={"service": True})
    assert warnings(data) == [
        (
            "vault.unseal.service",
            "warning: the unseal keys will be stored on the Vault nodes themselves, so anyone "
            "who gets the disk gets the data; keep a copy of the keys off the nodes, or set "
            "service: false and unseal by hand",
        )
    ]


def test_a_minimal_spec_has_no_warning() -> None:
    assert warnings(minimal(unseal={"service": False})) == []

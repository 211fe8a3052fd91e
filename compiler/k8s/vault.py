"""The ``vault`` app: the token-reviewer identity and the Vault chart in external mode."""

from __future__ import annotations

from typing import Any

from ..access.usage import login_accounts
from ..model import Model
from .apps import App, Object, helm, namespace, obj

AUTH_DELEGATOR = "system:auth-delegator"
LOGIN_REVIEWS = "vault-login-tokenreview"


def build(model: Model) -> list[App]:
    k8s = model.spec.kubernetes
    if k8s is None:
        return []
    auth, injector = k8s.vault_auth, k8s.injector
    manifests = [namespace(auth.namespace)]
    by_chart = auth.created_by == "chart" and injector is not None
    if not by_chart:
        manifests += [
            obj("v1", "ServiceAccount", auth.service_account, auth.namespace),
            obj(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                f"{auth.service_account}-tokenreview",
                roleRef={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": AUTH_DELEGATOR,
                },
                subjects=[
                    {
                        "kind": "ServiceAccount",
                        "name": auth.service_account,
                        "namespace": auth.namespace,
                    }
                ],
            ),
            # Since Kubernetes 1.24 no long-lived token is made for a service account by itself.
            obj(
                "v1",
                "Secret",
                auth.token_secret,
                auth.namespace,
                annotations={"kubernetes.io/service-account.name": auth.service_account},
                type="kubernetes.io/service-account-token",
            ),
        ]
    manifests += _login_reviews(model)
    apps = [App("vault", auth.namespace, manifests)]
    if injector is None:
        return apps
    values: dict[str, Any] = {
        # Setting the external address turns the chart's Vault server off: injector only.
        "global": {"externalVaultAddr": model.vault_url},
        "injector": {"enabled": True},
    }
    if by_chart:
        values["server"] = {
            "authDelegator": {"enabled": True},
            "serviceAccount": {"create": True, "name": auth.service_account, "createSecret": True},
        }
    chart = helm(
        injector.chart,
        repo_name="hashicorp",
        repo_url="https://helm.releases.hashicorp.com",
        name="vault",
        release=injector.release,
        values=values,
    )
    if injector.namespace == auth.namespace:
        return [App("vault", auth.namespace, manifests, chart)]
    return [
        *apps,
        App("vault-injector", injector.namespace, [namespace(injector.namespace)], chart),
    ]


def _login_reviews(model: Model) -> list[Object]:
    """Without a reviewer JWT, Vault reviews each login's token with that token itself (the
    kubernetes auth plugin's token_review.go): every account that logs in must be allowed to
    create TokenReviews, as system:auth-delegator allows. One binding names them all."""
    auth = model.spec.vault.kubernetes_auth
    if auth is None or auth.token_reviewer_jwt is not None:
        return []
    subjects = [
        {"kind": "ServiceAccount", "name": account, "namespace": namespace}
        for namespace, account in login_accounts(model)
    ]
    if not subjects:
        return []
    return [
        obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            LOGIN_REVIEWS,
            roleRef={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": AUTH_DELEGATOR,
            },
            subjects=subjects,
        )
    ]

"""A stand-in Kubernetes API server on 127.0.0.1, enough for the real ``kubectl get secret``
and for the TokenReviews Vault's kubernetes auth sends.

No Kubernetes runs here; this serves the discovery documents kubectl asks for and the Secrets it
is given, over TLS with a certificate from the test CA, and records each request's bearer token
so a test can see that kubectl used the kubeconfig's credentials. ``POST .../tokenreviews``
answers as the API server does (authentication.k8s.io/v1 TokenReview): the caller's bearer
must be a service account allowed to create TokenReviews (``delegators``, the subjects of the
system:auth-delegator bindings a test loads), else 403; a token it issued is authenticated for
the audiences it was issued for, and only when they meet the review's ``spec.audiences``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration import https, pki, sshd

_DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "secrets",
                "singularName": "secret",
                "namespaced": True,
                "kind": "Secret",
                "verbs": ["get", "list"],
            }
        ],
    },
}


@dataclass
class KubeAPI:
    url: str
    ca: Path
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    # token -> (namespace, service account, uid, audiences): the tokens this "cluster" issued
    accounts: dict[str, tuple[str, str, str, tuple[str, ...]]] = field(default_factory=dict)
    delegators: set[tuple[str, str]] = field(default_factory=set)  # (namespace, name)
    reviews: list[dict[str, Any]] = field(default_factory=list)  # each TokenReview asked

    def kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig for this server, trusting the test CA, logging in with ``token``."""
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": self.url, "certificate-authority": str(self.ca)},
                        }
                    ],
                    "users": [{"name": "test", "user": {"token": token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                    "current-context": "test",
                }
            )
        )
        return path


@contextmanager
def running(directory: Path, ca: pki.CA) -> Iterator[KubeAPI]:
    cert = pki.server_cert(ca, https.LOOPBACK_CONF, directory)
    port = sshd.free_port()
    api = KubeAPI(f"https://127.0.0.1:{port}", ca.cert)

    class Handler(https.JSONHandler):
        def do_GET(self) -> None:
            api.tokens.append(self.headers.get("Authorization", ""))
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            body: Any = _DISCOVERY.get(path)
            status = 200
            if body is None and len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"]:
                secret = api.secrets.get((parts[3], parts[5]))
                if secret is not None and parts[4] == "secrets":
                    body = {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": parts[5], "namespace": parts[3]},
                        "type": "kubernetes.io/service-account-token",
                        "data": secret,
                    }
            namespaces = {ns for ns, _ in api.secrets}
            if (
                path.startswith("/api/v1/namespaces/")
                and len(parts) == 4
                and parts[3] in namespaces
            ):
                # kubectl asks after a 404 whether the namespace is there, to word its error.
                body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": parts[3]}}
            if body is None:
                status = 404
                name, kind = parts[-1], parts[-2]
                body = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": f'{kind} "{name}" not found',
                    "reason": "NotFound",
                    "details": {"name": name, "kind": kind},
                    "code": 404,
                }
            self.send_json(status, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.split("?", 1)[0] != "/apis/authentication.k8s.io/v1/tokenreviews":
                self.send_json(404, _status(404, "NotFound", "not found"))
                return
            api.reviews.append(body)
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            caller = api.accounts.get(bearer)
            if caller is None:
                self.send_json(401, _status(401, "Unauthorized", "Unauthorized"))
                return
            if (caller[0], caller[1]) not in api.delegators:
                user = f"system:serviceaccount:{caller[0]}:{caller[1]}"
                message = (
                    f'tokenreviews.authentication.k8s.io is forbidden: User "{user}" cannot '
                    'create resource "tokenreviews" in API group "authentication.k8s.io" at '
                    "the cluster scope"
                )
                self.send_json(403, _status(403, "Forbidden", message))
                return
            spec = body.get("spec", {})
            found = api.accounts.get(spec.get("token", ""))
            wanted = spec.get("audiences") or []
            status: dict[str, Any] = {"authenticated": False}
            if found is not None:
                audiences = [a for a in found[3] if not wanted or a in wanted]
                if audiences:
                    status = {
                        "authenticated": True,
                        "user": {
                            "username": f"system:serviceaccount:{found[0]}:{found[1]}",
                            "uid": found[2],
                        },
                        "audiences": audiences,
                    }
                else:
                    status["error"] = "token audiences are invalid for the target audiences"
            self.send_json(
                201,
                {
                    "kind": "TokenReview",
                    "apiVersion": "authentication.k8s.io/v1",
                    "spec": spec,
                    "status": status,
                },
            )

    with https.serving(port, Handler, cert):
        yield api


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }

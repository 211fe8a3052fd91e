"""A stand-in Kubernetes TokenReview endpoint on the lab's host address, and a service
account JWT it vouches for.

No Kubernetes runs here. Vault's kubernetes auth method sends the JWT a pod logs in with to
``POST /apis/authentication.k8s.io/v1/tokenreviews`` on ``kubernetes_auth.host``; this answers
as the API server does (``status.authenticated`` and ``status.user.username`` in the form
``system:serviceaccount:NAMESPACE:NAME``), for the one JWT it was given, over TLS with a
certificate from the test CA. It listens on the lab bridge's address, which the nodes reach.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.integration import https, pki

PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_jwt(namespace: str, name: str, uid: str) -> str:
    """A JWT shaped as Kubernetes signs one for a service account (ES256, the legacy claims
    Vault's kubernetes auth reads); its key is thrown away: only the stand-in vouches for it."""
    header = {"alg": "ES256", "typ": "JWT", "kid": "lab"}
    now = int(time.time())
    claims = {
        "iss": "kubernetes/serviceaccount",
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "iat": now,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "kubernetes.io/serviceaccount/secret.name": f"{name}-token",
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    key = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass
class TokenReview:
    """The stand-in's address, and every token review it answered (token, authenticated)."""

    url: str
    reviews: list[tuple[str, bool]] = field(default_factory=list)


_OPENSSL_CONF = """[req]
prompt = no
distinguished_name = dn
req_extensions = ext
[dn]
CN = {host}
[ext]
subjectAltName = IP:{host}
"""


@contextmanager
def running(
    directory: Path, ca: pki.CA, host: str, port: int, namespace: str, name: str
) -> Iterator[tuple[TokenReview, str]]:
    """Serve token reviews on https://host:port; yield it and the one JWT it accepts (that of
    service account ``namespace/name``)."""
    cert = pki.server_cert(ca, _OPENSSL_CONF.format(host=host).encode(), directory)
    uid = str(uuid.uuid4())
    jwt = service_account_jwt(namespace, name, uid)
    review = TokenReview(f"https://{host}:{port}")

    class Handler(https.JSONHandler):
        def do_POST(self) -> None:
            body: Any = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            token = ((body or {}).get("spec") or {}).get("token", "")
            ok = self.path.split("?", 1)[0] == PATH and token == jwt
            review.reviews.append((token, ok))
            status: dict[str, Any] = {"authenticated": ok}
            if ok:
                status["user"] = {
                    "username": f"system:serviceaccount:{namespace}:{name}",
                    "uid": uid,
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                }
            self.send_json(
                201,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": body.get("spec", {}),
                    "status": status,
                },
            )

    with https.serving(port, Handler, cert, host=host):
        yield review, jwt

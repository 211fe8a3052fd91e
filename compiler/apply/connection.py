"""Reaching Vault: address, CA and token discovery, bounded retries, one-line errors."""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors
from hvac.adapters import RawAdapter
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import ApplyError, InputError, InputFileError, VaultError
from ..inputs import Inputs
from ..spec import Spec
from ..spec.kubernetes import VaultAuth

TIMEOUT = 10.0  # seconds per request
INIT_TIMEOUT = 60.0  # sys/init waits for the first raft election
RETRIES = 3  # a 5xx or a refused connection is retried this many times, with backoff
BACKOFF = 0.25  # urllib3 waits 0, 0.5 then 1 s before the 2nd, 3rd and 4th attempts
TOKEN_VARIABLES = ("VAULT_TOKEN", "BAO_TOKEN")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}\Z")


def address(spec: Spec) -> str:
    """The server picluster talks to: ``vault.api.address``, else the address the cluster uses
    (the first shared DNS name, else the first node's api_addr)."""
    from ..k8s.apps import vault_url

    return (spec.vault.api.address or vault_url(spec)).rstrip("/")


@dataclass
class Connection:
    """An hvac client on one server, whose every call turns failures into ApplyError."""

    address: str
    client: hvac.Client
    # Values that must never appear in an error line (the JWT): replaced if a server echoes one.
    secrets: list[str] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        capability: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        timeout: float = TIMEOUT,
    ) -> Any:
        """``method`` on ``/v1/<path>``: the JSON answer, or None for an empty answer (or a 404
        with ``missing_ok``).

        Raises:
            ApplyError: one line naming the server, the path and what went wrong.
        """
        kwargs: dict[str, Any] = {"timeout": timeout}
        if body is not None:
            kwargs["json"] = body
        where = {"address": self.address, "method": method, "path": path}
        try:
            response = self.client.adapter.request(method, f"/v1/{path}", **kwargs)
        except hvac_errors.InvalidPath:
            if missing_ok:
                return None
            message = f"{self.address}: {method} {path}: not found (404)"
            raise VaultError(message, **where, status=404) from None
        except (requests.RequestException, hvac_errors.VaultError) as exc:
            message = self._scrub(describe(self.address, method, path, capability, exc))
            raise VaultError(message, **where, status=_status(exc)) from None
        if response.is_redirect:
            target = response.headers.get("Location", "elsewhere")
            response.close()
            raise VaultError(
                f"{self.address}: {method} {path} answered {response.status_code}, a redirect "
                f"to {self._scrub(target)[:200]}; picluster sends the token nowhere else (set "
                "vault.api.address to the server that answers)",
                **where,
                status=response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            message = f"{self.address}: {method} {path}: the answer is not JSON"
            raise VaultError(message, **where, status=response.status_code) from None

    def read(self, path: str) -> dict[str, Any] | None:
        """The ``data`` of ``path``, or None when it does not exist (404)."""
        answer = self.call("GET", path, "read", missing_ok=True)
        return None if answer is None else dict(answer.get("data") or {})

    def list(self, path: str) -> list[str]:
        """The keys under ``path`` ([] when there are none)."""
        answer = self.call("LIST", path, "list", missing_ok=True)
        return list(((answer or {}).get("data") or {}).get("keys") or [])

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "(redacted)")
        return text


def session() -> requests.Session:
    """A session that retries refused connections and 5xx answers a bounded number of times."""
    s = requests.Session()
    # The spec's CA, never a bundle or proxy from the environment (REQUESTS_CA_BUNDLE would
    # otherwise replace it); Vault sits on the LAN.
    s.trust_env = False
    retry = Retry(
        total=RETRIES,
        connect=RETRIES,
        read=0,  # a write whose answer was lost is not blindly resent
        status=RETRIES,
        backoff_factor=BACKOFF,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,  # every write picluster sends replaces a whole object: idempotent
        raise_on_status=False,
    )
    s.mount("https://", HTTPAdapter(max_retries=retry))
    s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


def connect(spec: Spec, inputs: Inputs, token: str | None) -> Connection:
    """A client for the spec's server, TLS verified against ``vault.tls.local.ca_cert`` (or the
    system's CAs when the spec names none)."""
    addr = address(spec)
    verify: str | bool = str(inputs.ca_cert_path) if inputs.ca_cert_path else True
    http = session()
    http.verify = verify  # hvac takes a given session's own verify over its argument
    client = hvac.Client(
        url=addr,
        token=token or "",  # never a token from the environment or ~/.vault-token by surprise
        verify=verify,
        timeout=TIMEOUT,
        session=http,
        adapter=RawAdapter,  # the response itself, so an empty 204 and a 200 read alike
        # The token goes only where TLS was verified: no redirect is followed (a 307 to http://
        # once sent it to a plain-text listener with every request); ``call`` refuses them.
        allow_redirects=False,
    )
    return Connection(addr, client)


def ready(conn: Connection) -> None:
    """Check the server is initialised and unsealed, and the token is accepted.

    Raises:
        ApplyError: unreachable, TLS failure, uninitialised, sealed, or a refused token.
    """
    status = conn.call("GET", "sys/seal-status", "read") or {}
    if not status.get("initialized"):
        raise ApplyError(f"{conn.address}: not initialised; run `picluster init` first")
    if status.get("sealed"):
        raise ApplyError(
            f"{conn.address}: sealed; unseal it (the generated unseal script or "
            "`bao operator unseal`), then retry"
        )
    try:
        conn.call("GET", "auth/token/lookup-self", "read")
    except VaultError as exc:
        if exc.status == 403:
            raise ApplyError(
                f"{conn.address}: the token was refused (403 on auth/token/lookup-self): "
                "it is invalid or expired"
            ) from None
        raise


# --- credentials, read at run time, never stored ---------------------------------------------


def token(spec: Spec, inputs: Inputs, env: Mapping[str, str]) -> str:
    """The Vault token: ``VAULT_TOKEN``, else ``BAO_TOKEN``, else ``vault.api.token_file``.

    Raises:
        InputError: no token is to be found.
    """
    for name in TOKEN_VARIABLES:
        if env.get(name, "").strip():
            return _token_text(env[name].strip(), f"environment variable {name}")
    token_file = spec.vault.api.token_file
    if token_file is None:
        raise InputError("no Vault token: set VAULT_TOKEN or BAO_TOKEN, or vault.api.token_file")
    value = _read_secret_file(inputs.base_dir / token_file, token_file, "vault.api.token_file")
    if not value:
        raise InputError(f"{token_file}: empty (vault.api.token_file)")
    return _token_text(value, f"{token_file} (vault.api.token_file)")


def _token_text(value: str, where: str) -> str:
    """``value`` if it can be a token: printable ASCII without spaces, as every Vault and
    OpenBao token is (an HTTP header could not carry anything else). Never shown."""
    if not _TOKEN.match(value):
        raise InputError(
            f"{where} does not hold a Vault token (a token is printable ASCII without spaces)"
        )
    return value


def reviewer_jwt(spec: Spec, inputs: Inputs, env: Mapping[str, str]) -> str | None:
    """The token reviewer JWT from the source the spec names, or None when it names none.

    Raises:
        InputError: the source is missing or does not hold a JWT (the value is never shown).
        ApplyError: kubectl could not read it from the cluster.
    """
    auth = spec.vault.kubernetes_auth
    source = auth.token_reviewer_jwt if auth else None
    if source is None:
        return None
    where = "vault.kubernetes_auth.token_reviewer_jwt"
    if source.env is not None:
        value = env.get(source.env, "").strip()
        if not value:
            raise InputError(f"{where}.env: environment variable {source.env} is not set")
        shown = f"environment variable {source.env}"
    elif source.file is not None:
        value = _read_secret_file(inputs.base_dir / source.file, source.file, f"{where}.file")
        shown = source.file
    else:
        kubeconfig = source.kubeconfig or ""  # the model requires exactly one source
        vault_auth = spec.kubernetes.vault_auth if spec.kubernetes else VaultAuth()
        value = _from_cluster(inputs.base_dir / kubeconfig, vault_auth)
        shown = f"Secret {vault_auth.namespace}/{vault_auth.token_secret}"
    if not _JWT.match(value):
        raise InputError(f"{where}: {shown} does not hold a JWT")
    return value


def _read_secret_file(path: Path, name: str, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise InputFileError(f"{name}: no such file ({key})") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InputFileError(f"{name}: {reason} ({key})") from None


def _from_cluster(kubeconfig: Path, vault_auth: VaultAuth) -> str:
    """The token of the reviewer's Secret, read with kubectl (its stderr never holds it)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ApplyError("kubectl is not installed: cannot read the token reviewer JWT")
    done = subprocess.run(
        [
            kubectl,
            f"--kubeconfig={kubeconfig}",
            f"--namespace={vault_auth.namespace}",
            "get",
            "secret",
            vault_auth.token_secret,
            "--output=jsonpath={.data.token}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    secret = f"Secret {vault_auth.namespace}/{vault_auth.token_secret}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ApplyError(f"kubectl: cannot read {secret}: {last}")
    try:
        return base64.b64decode(done.stdout.strip(), validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise ApplyError(f"kubectl: {secret} has no readable token") from None


# --- errors --------------------------------------------------------------------------------

_STATUS = {
    hvac_errors.InvalidRequest: 400,
    hvac_errors.Unauthorized: 401,
    hvac_errors.Forbidden: 403,
    hvac_errors.InvalidPath: 404,
    hvac_errors.PreconditionFailed: 412,
    hvac_errors.RateLimitExceeded: 429,
    hvac_errors.InternalServerError: 500,
    hvac_errors.VaultNotInitialized: 501,
    hvac_errors.BadGateway: 502,
    hvac_errors.VaultDown: 503,
}


def _status(exc: BaseException) -> int:
    """The HTTP status of a failed request; 0 when no answer came (unreachable, TLS)."""
    return next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 0)


def api_path(*parts: str) -> str:
    """An API path from ``parts``, each segment percent-encoded: no name, however it was read,
    can change the endpoint (``..``, ``?``, ``#``, ``%2F`` stay inside their segment)."""
    from urllib.parse import quote

    segments = [s for part in parts for s in part.split("/")]
    if any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"not an API path: {'/'.join(parts)!r}")
    return "/".join(quote(s, safe="") for s in segments)


def describe(address: str, method: str, path: str, capability: str, exc: BaseException) -> str:
    """One line for a failed request: what failed, where, and what to do."""
    if isinstance(exc, requests.exceptions.SSLError):
        found = re.search(r"certificate verify failed: ([^(')]+)", str(exc))
        reason = found.group(1).strip() if found else "TLS handshake failed"
        return (
            f"{address}: TLS verification failed ({reason}); "
            "check vault.tls.local.ca_cert and the server's certificate"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{address}: no answer within {TIMEOUT:.0f}s ({method} {path})"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection refused" in text:
            reason = "connection refused"
        elif "resolve" in text or "Name or service not known" in text:
            reason = "the name does not resolve"
        else:
            reason = "cannot connect"
        return f"{address}: unreachable ({reason}) after {RETRIES + 1} attempts"
    if isinstance(exc, requests.RequestException):
        return f"{address}: {method} {path} failed: {type(exc).__name__}"
    status = _status(exc)
    errors = getattr(exc, "errors", None)
    detail = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors or "")
    detail = " ".join(detail.split())[:300]
    if status == 403:
        return (
            f"{address}: permission denied (403): the token lacks '{capability}' on {path}; "
            "grant it in the token's policy"
        )
    if status == 501:
        return f"{address}: not initialised; run `picluster init` first"
    if status == 503 and "sealed" in detail.lower():
        return (
            f"{address}: sealed; unseal it (the generated unseal script or "
            "`bao operator unseal`), then retry"
        )
    if status >= 500:
        return (
            f"{address}: server error {status} on {method} {path} after {RETRIES + 1} attempts"
            + (f": {detail}" if detail else "")
        )
    shown = f": {detail}" if detail else ""
    return f"{address}: {method} {path} refused{shown} ({status or 'error'})"

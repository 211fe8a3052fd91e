"""Reaching Vault: TLS against the spec's CA, bounded retries, no redirects, one-line errors
with fields. (The token and the reviewer JWT are read in ``credentials``.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors
from hvac.adapters import RawAdapter
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import ApplyError, VaultError
from ..model import Model

TIMEOUT = 10.0  # seconds per request
INIT_TIMEOUT = 60.0  # sys/init waits for the first raft election
RETRIES = 3  # a 5xx or a refused connection is retried this many times, with backoff
BACKOFF = 0.25  # urllib3 waits 0, 0.5 then 1 s before the 2nd, 3rd and 4th attempts


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

        def failed(message: str, status: int, errors: tuple[str, ...] = ()) -> VaultError:
            return VaultError(
                message, address=self.address, method=method, path=path, status=status,
                errors=errors,
            )  # fmt: skip

        try:
            response = self.client.adapter.request(method, f"/v1/{path}", **kwargs)
        except hvac_errors.InvalidPath:
            if missing_ok:
                return None
            message = f"{self.address}: {method} {path}: not found (404)"
            raise failed(message, 404) from None
        except (requests.RequestException, hvac_errors.VaultError) as exc:
            message = self._scrub(describe(self.address, method, path, capability, exc))
            said = getattr(exc, "errors", None)
            errors = tuple(str(e) for e in said) if isinstance(said, list) else ()
            raise failed(message, _status(exc), errors) from None
        if response.is_redirect:
            target = response.headers.get("Location", "elsewhere")
            response.close()
            raise failed(
                f"{self.address}: {method} {path} answered {response.status_code}, a redirect "
                f"to {self._scrub(target)[:200]}; picluster sends the token nowhere else (set "
                "vault.api.address to the server that answers)",
                response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            message = f"{self.address}: {method} {path}: the answer is not JSON"
            raise failed(message, response.status_code) from None

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


def connect(model: Model, token: str | None) -> Connection:
    """A client for the spec's server (``model.api_address``), TLS verified against
    ``vault.tls.local.ca_cert`` (or the system's CAs when the spec names none)."""
    addr = model.api_address
    ca = model.inputs.ca_cert_path
    verify: str | bool = str(ca) if ca else True
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

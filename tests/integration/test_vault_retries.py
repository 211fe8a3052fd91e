"""5xx answers are retried a bounded number of times with backoff, for reads and writes alike.

A real OpenBao server cannot be made to answer 5xx on demand, so a stand-in HTTPS server plays
a failing Vault; the client, its retry policy, TLS verification and the error wording are real.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from compiler.apply.connection import connect
from compiler.apply.vault_apply import execute
from compiler.apply.vault_model import Plan, Step
from compiler.check import load
from compiler.errors import ApplyError
from tests.integration import https, pki, sshd
from tests.support import minimal, need, write_spec

pytestmark = pytest.mark.integration

UPGRADING = (
    "Upgrading from non-versioned to versioned data. This backend will be unavailable for a "
    "brief period and will resume service shortly."
)


@dataclass
class Failing:
    """Answers the next statuses in ``script`` (then 200), recording each request."""

    script: list[int] = field(default_factory=list)
    seen: list[tuple[float, str, str]] = field(default_factory=list)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[tuple[Failing, Any]]:
    need("openssl")
    ca = pki.make_ca(tmp_path / "ca")
    cert = pki.server_cert(ca, https.LOOPBACK_CONF, tmp_path / "server")
    (tmp_path / "ca.crt").write_bytes(ca.cert.read_bytes())
    state = Failing()

    class Handler(https.JSONHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            state.seen.append((time.monotonic(), self.command, self.path))
            status = state.script.pop(0) if state.script else 200
            if status >= 500:
                body: dict[str, Any] = {"errors": ["storage unavailable"]}
            elif status == 400:  # what a KV v2 mount says for a moment after it is made
                body = {"errors": [UPGRADING]}
            else:
                body = {"data": {"ok": 1}}
            self.send_json(status, body)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

    port = sshd.free_port()
    data = minimal(
        api={"address": f"https://127.0.0.1:{port}"},
        tls={"local": {"ca_cert": "ca.crt"}},
    )
    loaded = load(write_spec(tmp_path, data))
    with https.serving(port, Handler, cert):
        yield state, connect(loaded.model, "token")


def gaps(state: Failing) -> list[float]:
    times = [t for t, _, _ in state.seen]
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_transient_5xx_is_retried_until_the_server_answers(
    vault: tuple[Failing, Any],
) -> None:
    state, conn = vault
    state.script = [503, 502]
    assert conn.call("GET", "sys/mounts", "read") == {"data": {"ok": 1}}
    assert [m for _, m, _ in state.seen] == ["GET", "GET", "GET"]
    # A write replaces a whole object, so it is safe to send again.
    state.seen.clear()
    state.script = [500]
    conn.call("PUT", "sys/policies/acl/x", "update", {"policy": 'path "a" {}'})
    assert [(m, p) for _, m, p in state.seen] == [("PUT", "/v1/sys/policies/acl/x")] * 2


def test_a_lasting_5xx_is_one_line_after_bounded_attempts_with_backoff(
    vault: tuple[Failing, Any],
) -> None:
    state, conn = vault
    state.script = [500] * 10
    with pytest.raises(ApplyError) as caught:
        conn.call("PUT", "sys/policies/acl/x", "update", {"policy": 'path "a" {}'})
    assert str(caught.value) == (
        f"{conn.address}: server error 500 on PUT sys/policies/acl/x after 4 attempts: "
        "storage unavailable"
    )
    assert len(state.seen) == 4
    # urllib3's backoff: at once, then 0.5 s, then 1 s (lower bounds only: never a timing test).
    waits = gaps(state)
    assert (waits[1] >= 0.45, waits[2] >= 0.9, waits[2] > waits[1]) == (True, True, True)


def test_the_record_waits_for_a_kv_mount_that_is_still_upgrading(
    vault: tuple[Failing, Any],
) -> None:
    """OpenBao answers 400 for a moment after a KV v2 mount is made; the first write of the
    ownership record, right after mounting picluster/, waits for it (a bounded while) instead
    of stopping the apply."""
    state, conn = vault
    policy = Step("create", "policy", "x", "PUT", "sys/policies/acl/x", {"policy": "p"},
                  fingerprint="sha256:" + "0" * 64)  # fmt: skip
    state.script = [200, 400, 400]  # the policy, then the record twice refused
    execute(conn, Plan(steps=[policy]), None, lambda *a: None)
    assert [(m, p) for _, m, p in state.seen] == [
        ("PUT", "/v1/sys/policies/acl/x"),
        ("POST", "/v1/picluster/data/ownership"),
        ("POST", "/v1/picluster/data/ownership"),
        ("POST", "/v1/picluster/data/ownership"),
    ]
    state.seen.clear()
    state.script = [400]  # any other 400 is refused at once
    with pytest.raises(ApplyError, match="refused"):
        conn.call("POST", "sys/mounts/x", "update", {"type": "kv"})
    assert len(state.seen) == 1

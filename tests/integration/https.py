"""Stand-in HTTPS servers on 127.0.0.1 for what no real component can play here (a Pi's health
endpoint during a host apply, a Kubernetes API server, a failing Vault)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.integration import pki

# A certificate for 127.0.0.1, requested through the real openssl like every test certificate.
LOOPBACK_CONF = b"""[req]
prompt = no
distinguished_name = dn
req_extensions = ext
[dn]
CN = 127.0.0.1
[ext]
subjectAltName = IP:127.0.0.1
"""


class JSONHandler(http.server.BaseHTTPRequestHandler):
    """A quiet handler that answers JSON, as Vault and the Kubernetes API do."""

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(
    port: int,
    handler: type[http.server.BaseHTTPRequestHandler],
    cert: pki.ServerCert,
    host: str = "127.0.0.1",
) -> Iterator[None]:
    """``handler`` on https://host:port with ``cert``, until the block ends (``host``: the
    loopback, or the lab's own address on its bridge)."""
    server = http.server.ThreadingHTTPServer((host, port), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

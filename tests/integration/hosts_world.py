"""A test world for the host apply: N sshd nodes, a CA, certificates, a binary, health servers."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.apply.tree import Tree, current
from compiler.pipeline import Build, Options, compile_tree, render
from tests.integration import https, pki, sshd
from tests.support import write_spec

BINARY = b"#!/bin/sh\necho 'Vault v1.18.3 (stand-in)'\n"


def release_archive() -> bytes:
    """A release .tar.gz holding a stand-in ``vault`` binary."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        info = tarfile.TarInfo("vault")
        info.size, info.mode = len(BINARY), 0o755
        tf.addfile(info, io.BytesIO(BINARY))
    return buffer.getvalue()


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` (URL path to bytes); 404 for anything else."""

    files: dict[str, bytes] = {}  # noqa: RUF012 -- set per server by a subclass

    def do_GET(self) -> None:
        data = type(self).files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class World:
    """Everything one test needs; ``spec`` is the data the test changes and recompiles."""

    directory: Path
    nodes: list[sshd.Sshd]
    spec: dict[str, Any]
    health: list[type[_Health]] = field(default_factory=list)

    def root(self, node: str) -> Path:
        return self.directory / "roots" / node

    def build(self) -> Build:
        return render(write_spec(self.directory, self.spec))

    def tree(self) -> Tree:
        """The spec compiled into ``out/`` beside it, as apply reads it (a user compiles first)."""
        spec, out = write_spec(self.directory, self.spec), self.directory / "out"
        compile_tree(Options(spec_path=spec, out_dir=out, force=True))
        return current(spec, out)

    def set_health(self, status: int) -> None:
        for handler in self.health:
            handler.status = status

    @contextmanager
    def serving(self, files: dict[str, bytes]) -> Iterator[str]:
        """An https server on 127.0.0.1 (node1's certificate, the test CA) serving ``files``;
        its base URL."""
        port = sshd.free_port()
        handler = type("Files", (_Files,), {"files": files})
        cert = pki.ServerCert(self.directory / "pki/node1.crt", self.directory / "pki/node1.key")
        with https.serving(port, handler, cert):
            yield f"https://127.0.0.1:{port}"


@contextmanager
def world(directory: Path, count: int = 1) -> Iterator[World]:
    """``count`` nodes on 127.0.0.1, each with its own sshd, api port and health server."""
    client_key = directory / "client_ed25519"
    sshd.keygen(client_key, "picluster-test-client")
    ca = pki.make_ca(directory / "ca")
    (directory / "pki").mkdir()
    (directory / "pki" / "ca.crt").write_bytes(ca.cert.read_bytes())
    archive = release_archive()
    (directory / "vault.tar.gz").write_bytes(archive)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(sshd.running(directory / f"sshd{i}", client_key))
            for i in range(count)
        ]
        (directory / "known_hosts").write_text(
            "".join(s.known_hosts_line() + "\n" for s in servers)
        )
        api_ports = [sshd.free_port() for _ in servers]
        spec: dict[str, Any] = {
            "vault": {
                "version": "1.18.3",
                "arch": "amd64",
                "nodes": [
                    {
                        "name": f"node{i + 1}",
                        "address": "127.0.0.1",
                        "dns": f"node{i + 1}.localhost",
                        "api_port": api_ports[i],
                        "cluster_port": sshd.free_port(),
                        "ssh": {
                            "user": "root",
                            "port": s.port,
                            "identity_file": "client_ed25519",
                            "known_hosts": "known_hosts",
                        },
                    }
                    for i, s in enumerate(servers)
                ],
                "tls": {
                    "local": {
                        "ca_cert": "pki/ca.crt",
                        "cert": "pki/{node}.crt",
                        "key": "pki/{node}.key",
                    }
                },
                "install": {
                    "source": "vault.tar.gz",
                    "sha256": hashlib.sha256(archive).hexdigest(),
                },
                "policies": {"readonly": [{"path": "secret/*", "capabilities": ["read"]}]},
            }
        }
        w = World(directory, servers, spec)
        build = w.build()
        for i in range(count):
            name = f"node{i + 1}"
            conf = next(a.data for a in build.artifacts if a.path == f"pki/{name}/openssl.conf")
            cert = pki.server_cert(ca, conf, directory / "certs" / name)
            (directory / "pki" / f"{name}.crt").write_bytes(cert.cert.read_bytes())
            (directory / "pki" / f"{name}.key").write_bytes(cert.key.read_bytes())
            handler = type(f"Health{i}", (_Health,), {"status": 200})
            w.health.append(handler)
            stack.enter_context(https.serving(api_ports[i], handler, cert))
        yield w

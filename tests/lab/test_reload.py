"""New certificates reach the nodes with ``systemctl reload`` (SIGHUP through the unit's
ExecReload): each node stays unsealed, keeps its process, and serves the new certificate."""

from __future__ import annotations

import hashlib
import socket
import ssl

import pytest

from .cluster import UNIT, Cluster, certificates

pytestmark = [pytest.mark.lab, pytest.mark.integration]


def served(cluster: Cluster, address: str) -> str:
    """The SHA-256 of the certificate the server at ``address`` presents in its handshake."""
    context = ssl.create_default_context(cafile=str(cluster.ca.cert))
    with (
        socket.create_connection((address, 8200), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=address) as tls,
    ):
        return hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()


def fingerprint(pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).hexdigest()


def test_new_certificates_are_reloaded_not_restarted(cluster: Cluster) -> None:
    nodes = cluster.lab.nodes
    pids = {n.name: n.check(f"systemctl show -p MainPID --value {UNIT}") for n in nodes}
    before = {n.name: served(cluster, n.address) for n in nodes}
    certificates(cluster, [n.name for n in nodes])  # new keys and certificates, same requests
    new = {
        n.name: fingerprint((cluster.work / "pki" / f"{n.name}.crt").read_bytes()) for n in nodes
    }
    assert all(new[n] != before[n] for n in new)

    plan = cluster.ok("plan", "--only", "hosts")
    for node in nodes:
        assert (
            f"{node.name} (root@{node.address}:22): 0 to create, 2 to change, 0 to remove; "
            "reload openbao.service"
        ) in plan.lines
    assert "  ~ /etc/openbao/tls/openbao.crt" in plan.lines
    assert "  * systemctl reload openbao.service" in plan.lines
    assert "  * systemctl restart openbao.service" not in plan.lines

    run = cluster.ok("apply", "--only", "hosts")
    assert not [line for line in run.lines if "systemctl restart" in line]
    for node in nodes:
        assert f"{node.name}: systemctl reload {UNIT}" in run.lines
        assert node.check(f"systemctl show -p MainPID --value {UNIT}") == pids[node.name]
        assert cluster.health(node) in (200, 429)  # still unsealed
        assert served(cluster, node.address) == new[node.name]
    cluster.wait_converged()

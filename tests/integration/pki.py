"""A throwaway CA, and server certificates requested from the generated ``openssl.conf``.

The CA is made with ``cryptography``; every server certificate goes through the real
``openssl`` CLI exactly as the comment of ``out/pki/<node>/openssl.conf`` tells the operator:
``openssl req -new -config openssl.conf`` then ``openssl x509 -req -copy_extensions copyall``.
So the generated request config is proven by its consumer, and its SANs by the TLS clients.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CA:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def make_ca(directory: Path) -> CA:
    """A self-signed CA valid for a day, written as PEM under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "picluster test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca = CA(cert=directory / "ca.crt", key=directory / "ca.key")
    ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca.key.chmod(0o600)
    return ca


def server_cert(ca: CA, openssl_conf: bytes, directory: Path) -> ServerCert:
    """A server key and certificate for the node whose generated ``openssl.conf`` is given.

    The request's subject and extensions come only from that file: nothing is added here.
    """
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "openssl.conf"
    conf.write_bytes(openssl_conf)
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    key.chmod(0o600)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-config", str(conf))
    _openssl(
        "x509", "-req", "-in", str(csr),
        "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-out", str(crt), "-days", "1", "-sha256", "-copy_extensions", "copyall",
    )  # fmt: skip
    return ServerCert(cert=crt, key=key)

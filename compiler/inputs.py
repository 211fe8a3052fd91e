"""Files the spec names on this machine, read once at load time (never secrets).

Only public material is read here: the CA certificate that ESO's caBundle, Prometheus and the
apply step need, and the cluster CA Vault's Kubernetes auth verifies the API server with.
A file that turns out to hold a private key is refused, so it can never reach ``out/``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem
from .spec import Spec
from .yamlio import Document

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)-----END \1-----", re.S
)


@dataclass(frozen=True)
class Inputs:
    """What the targets and the apply step need besides the spec."""

    source: str  # the spec's file name, for the "generated from" headers; printable
    ca_cert: bytes | None = None  # PEM, normalised
    ca_cert_path: Path | None = None  # the same file, for TLS verification at apply time
    kubernetes_ca_cert: bytes | None = None  # the cluster CA, PEM, normalised
    base_dir: Path = Path()  # the spec's directory: relative paths in the spec start here


def read(spec: Spec, doc: Document) -> tuple[Inputs, list[Problem]]:
    """Read the files ``spec`` names, relative to the spec file."""
    base = Path(doc.file).parent
    problems: list[Problem] = []
    local = spec.vault.tls.local
    ca_cert = ca_path = k8s_ca = None
    if local is not None:
        ca_path = base / local.ca_cert
        ca_cert = _read_ca(doc, ("vault", "tls", "local", "ca_cert"), base, local.ca_cert, problems)
    auth = spec.vault.kubernetes_auth
    if auth is not None and auth.ca_cert is not None:
        loc = ("vault", "kubernetes_auth", "ca_cert")
        k8s_ca = _read_ca(doc, loc, base, auth.ca_cert, problems)
    source = shown_name(Path(doc.file).name)
    if problems:
        return Inputs(source), problems
    return Inputs(source, ca_cert, ca_path, k8s_ca, base), []


def shown_name(name: str) -> str:
    """The spec's file name as it may appear in a generated file's header comment: what is not
    printable (a newline would end the comment and start a command) is escaped, ``\\n``."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in name)


def _read_ca(
    doc: Document, loc: tuple[str, ...], base: Path, name: str, problems: list[Problem]
) -> bytes | None:
    """The normalised PEM certificates of the file ``name``; a problem if it holds none."""
    try:
        text = (base / name).read_text(encoding="ascii")
    except FileNotFoundError:
        problems.append(doc.problem(loc, f"{name}: no such file"))
        return None
    except (OSError, UnicodeDecodeError):
        problems.append(doc.problem(loc, f"{name}: not a PEM text file"))
        return None
    pem, problem = _certificates(text)
    if problem:
        problems.append(doc.problem(loc, f"{name}: {problem}"))
        return None
    return pem


def normalised_pem(text: str) -> bytes | None:
    """``text`` as normalised PEM certificates (64-column base64), or None if it holds none."""
    pem, problem = _certificates(text)
    return None if problem else pem


def _certificates(text: str) -> tuple[bytes, str | None]:
    """The PEM certificates in ``text``, normalised, or why there are none."""
    blocks = _PEM_BLOCK.findall(text)
    if any("PRIVATE KEY" in label for label, _ in blocks) or "PRIVATE KEY-----" in text:
        return b"", "holds a private key; only the CA certificate may be named here"
    certs = [body for label, body in blocks if label == "CERTIFICATE"]
    if not certs:
        return b"", "holds no PEM certificate"
    out = []
    for body in certs:
        compact = "".join(body.split())
        try:
            base64.b64decode(compact, validate=True)
        except binascii.Error:
            return b"", "holds a malformed PEM certificate"
        lines = [compact[i : i + 64] for i in range(0, len(compact), 64)]
        out.append(
            "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
        )
    return "".join(out).encode(), None

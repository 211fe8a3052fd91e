"""Files the spec names on this machine, read once at load time (never secrets).

Only public material is read here: the CA certificate that ESO's caBundle and Prometheus need.
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
    """What the targets need besides the spec."""

    source: str  # the spec's file name, for the "generated from" headers
    ca_cert: bytes | None = None  # PEM, normalised


def read(spec: Spec, doc: Document) -> tuple[Inputs, list[Problem]]:
    """Read the files ``spec`` names, relative to the spec file."""
    source = Path(doc.file).name
    local = spec.vault.tls.local
    if local is None:
        return Inputs(source), []
    loc = ("vault", "tls", "local", "ca_cert")
    path = Path(doc.file).parent / local.ca_cert
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return Inputs(source), [doc.problem(loc, f"{local.ca_cert}: no such file")]
    except (OSError, UnicodeDecodeError):
        return Inputs(source), [doc.problem(loc, f"{local.ca_cert}: not a PEM text file")]
    pem, problem = _certificates(text)
    if problem:
        return Inputs(source), [doc.problem(loc, f"{local.ca_cert}: {problem}")]
    return Inputs(source, pem), []


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

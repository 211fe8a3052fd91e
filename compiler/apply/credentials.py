"""The secrets apply needs, read at run time from where the spec says, never stored or shown:
the Vault token and the token reviewer JWT."""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..errors import ApplyError, InputError, InputFileError
from ..model import Model
from ..spec.kubernetes import VaultAuth

TOKEN_VARIABLES = ("VAULT_TOKEN", "BAO_TOKEN")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}\Z")


def token(model: Model, env: Mapping[str, str]) -> str:
    """The Vault token: ``VAULT_TOKEN``, else ``BAO_TOKEN``, else ``vault.api.token_file``.

    Raises:
        InputError: no token is to be found.
    """
    for name in TOKEN_VARIABLES:
        if env.get(name, "").strip():
            return _token_text(env[name].strip(), f"environment variable {name}")
    spec, inputs = model.spec, model.inputs
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


def reviewer_jwt(model: Model, env: Mapping[str, str]) -> str | None:
    """The token reviewer JWT from the source the spec names, or None when it names none.

    Raises:
        InputError: the source is missing or does not hold a JWT (the value is never shown).
        ApplyError: kubectl could not read it from the cluster.
    """
    spec, inputs = model.spec, model.inputs
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

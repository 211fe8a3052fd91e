"""``picluster init``: initialise a new server, hand the keys and root token only where asked."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..check import load
from ..errors import ApplyError, InputError
from ..spec import Spec
from .connection import INIT_TIMEOUT, connect


@dataclass(frozen=True)
class InitOptions:
    spec_path: Path
    keys_file: Path
    root_token_file: Path | None = None
    root_token_stdout: bool = False


@dataclass
class Initialised:
    address: str
    keys_file: Path
    root_token: str | None = None  # only when the user asked for it on stdout
    warnings: list[str] = field(default_factory=list)


def initialise(options: InitOptions) -> Initialised:
    """Initialise the spec's server with its key split; write the keys file (0600).

    Raises:
        InputError: a file would land in out/ or already exists, or nowhere to put the token.
        ApplyError: the server is unreachable or already initialised.
    """
    if options.root_token_file is None and not options.root_token_stdout:
        raise InputError("name where the root token goes: --root-token-file or --root-token-stdout")
    loaded = load(options.spec_path)
    spec = loaded.spec
    targets = [options.keys_file, *([options.root_token_file] if options.root_token_file else [])]
    for path in targets:
        _refuse_out(path, options.spec_path)
    warnings = [
        f"warning: {options.keys_file} is on {node}, a Vault node itself: whoever gets its disk "
        "gets the data; keep the keys off the nodes"
        for node in _local_nodes(spec)
    ][:1]

    conn = connect(loaded.model, None)
    status = conn.call("GET", "sys/init", "read") or {}
    if status.get("initialized"):
        raise ApplyError(
            f"{conn.address}: already initialised; init runs once (it handed out the keys and "
            "root token then)"
        )
    unseal = spec.vault.unseal
    with _exclusive(targets) as files:
        body = {"secret_shares": unseal.key_shares, "secret_threshold": unseal.key_threshold}
        answer = conn.call("PUT", "sys/init", "update", body, timeout=INIT_TIMEOUT) or {}
        # Exactly what the generated unseal script reads: the keys, never the root token.
        json.dump({"unseal_keys_b64": list(answer["keys_base64"])}, files[0])
        files[0].write("\n")
        if len(files) > 1:
            files[1].write(answer["root_token"] + "\n")
    root = answer["root_token"] if options.root_token_stdout else None
    return Initialised(conn.address, options.keys_file, root, warnings)


def _refuse_out(path: Path, spec_path: Path) -> None:
    """out/ is committed: an unseal key or a token there would end up in git."""
    target = path.resolve()
    for out in {Path("out").resolve(), (spec_path.parent / "out").resolve()}:
        if target == out or out in target.parents:
            raise InputError(f"{path}: inside {out}; init never writes secrets into out/")


def _local_nodes(spec: Spec) -> list[str]:
    """The Vault nodes that are this machine (an address it can bind, or its host name)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    found = []
    for node in spec.vault.nodes:
        if node.name in names or (node.dns and node.dns in names) or _bindable(str(node.address)):
            found.append(node.name)
    return found


def _bindable(address: str) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _exclusive(paths: list[Path]) -> Iterator[list[IO[str]]]:
    """Create each file new, mode 0600, before the server makes the keys: a path problem fails
    before init, not after it (when the keys would be lost). Removed again if init fails."""
    files: list[IO[str]] = []
    try:
        for path in paths:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise InputError(f"{path}: exists; init never overwrites it") from None
            except OSError as exc:
                raise InputError(f"{path}: {exc.strerror}") from None
            files.append(os.fdopen(fd, "w", encoding="utf-8"))
        yield files
    except BaseException:
        for handle, path in zip(files, paths, strict=False):
            handle.close()
            path.unlink(missing_ok=True)
        raise
    finally:
        for handle in files:
            handle.close()

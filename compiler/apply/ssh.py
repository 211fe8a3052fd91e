"""SSH to the nodes with paramiko: strict host keys, sudo when not root, scripts and SFTP."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HostAuthError, HostError, HostKeyError, HostUnreachableError
from ..spec import Node

if TYPE_CHECKING:
    from .known_hosts import Decision

CONNECT_TIMEOUT = 10.0  # seconds for the TCP connection and the SSH handshake
COMMAND_TIMEOUT = 600.0  # seconds a remote script may stay silent (sha256sum of a large binary)


@dataclass(frozen=True)
class Target:
    """Where and how to log in to one node: the spec's ``ssh`` over ``~/.ssh/config``."""

    node: str
    host: str
    port: int
    user: str
    identity_file: str | None
    known_hosts: Path

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def where(self) -> str:
        """The node and its SSH address, as every error line starts."""
        return f"{self.node} ({self})"


def target(node: Node, base_dir: Path, ssh_config: Path | None = None) -> Target:
    """The login for ``node``: the spec's values first, then ``~/.ssh/config``, then defaults.

    Args:
        node: the node of the spec.
        base_dir: the spec's directory (relative paths in the spec start there).
        ssh_config: the OpenSSH client config to read (default ``~/.ssh/config``).
    """
    import paramiko  # type: ignore[import-untyped]

    config_path = ssh_config or Path.home() / ".ssh" / "config"
    found: dict[str, Any] = {}
    if config_path.is_file():
        # Looked up by the node's name, as one writes ``Host node1`` in ~/.ssh/config.
        found = paramiko.SSHConfig.from_path(str(config_path)).lookup(node.name)
    aliased = found.get("hostname", node.name) != node.name
    host = node.ssh.host or (found["hostname"] if aliased else str(node.address))
    identity = (
        str(base_dir / node.ssh.identity_file)
        if node.ssh.identity_file
        else (found.get("identityfile") or [None])[0]
    )
    if node.ssh.known_hosts:
        known = base_dir / node.ssh.known_hosts
    else:
        configured = (found.get("userknownhostsfile") or "").split()
        known = Path(os.path.expanduser(configured[0] if configured else "~/.ssh/known_hosts"))
    return Target(
        node=node.name,
        host=host,
        port=node.ssh.port or int(found.get("port", 22)),
        user=node.ssh.user or found.get("user") or _local_user(),
        identity_file=identity,
        known_hosts=known,
    )


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def fingerprint(key: Any) -> str:
    """OpenSSH's form of a host key's fingerprint: ``SHA256:<base64 without padding>``."""
    from .known_hosts import fingerprint as of_blob

    return of_blob(key.asbytes())


class Session:
    """One logged-in SSH connection to a node; ``run`` uses sudo unless the user is root."""

    def __init__(self, login: Target, client: Any) -> None:
        self.target = login
        self.client = client
        self.sudo = login.user != "root"
        self._sftp: Any = None

    def run(self, script: str, *, privileged: bool = True, what: str = "command") -> str:
        """Run the POSIX sh ``script`` (sent on stdin, so no length limit); its stdout.

        Raises:
            HostAuthError: sudo wants a password.
            HostError: the script exited non-zero (its last stderr line says why).
        """
        import paramiko

        command = "sh -s"
        if privileged and self.sudo:
            command = "sudo -n sh -s"
        try:
            stdin, stdout, stderr = self.client.exec_command(command, timeout=COMMAND_TIMEOUT)
            stdin.write(script.encode())
            stdin.channel.shutdown_write()
            out: str = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            status = stdout.channel.recv_exit_status()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            # The node went away (powered off, network lost): before or during the script.
            raise HostUnreachableError(
                f"{self.target.where}: connection lost ({exc})", node=self.target.node, step=what
            ) from None
        if status != 0:
            if "password is required" in err or "a terminal is required" in err:
                raise HostAuthError(
                    f"{self.target.where}: sudo wants a password for {self.target.user}; "
                    "allow it without one (NOPASSWD) or log in as root",
                    node=self.target.node,
                    step=what,
                )
            last = next((x for x in reversed(err.strip().splitlines()) if x.strip()), "")
            raise HostError(
                f"{self.target.where}: {what} failed (exit {status}): {last}",
                node=self.target.node,
                step=what,
                detail=last,
            )
        return out

    def put(self, data: bytes, remote: str) -> None:
        """Write ``data`` to ``remote`` (a path the login user may write), mode 0600."""
        import paramiko

        try:
            if self._sftp is None:
                self._sftp = self.client.open_sftp()
            # Created 0600 before the first byte: a key staged here is never readable by others.
            with self._sftp.open(remote, "wb") as handle:
                handle.chmod(0o600)
                handle.set_pipelined(True)
                handle.write(data)
        except (EOFError, paramiko.SSHException) as exc:
            # The node went away mid-transfer (powered off, network lost).
            raise HostUnreachableError(
                f"{self.target.where}: connection lost ({exc or type(exc).__name__})",
                node=self.target.node,
                step=f"writing {remote}",
            ) from None
        except OSError as exc:
            raise HostError(
                f"{self.target.where}: cannot write {remote}: {exc}",
                node=self.target.node,
                step=f"writing {remote}",
            ) from None

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.client.close()


def connect(login: Target, timeout: float = CONNECT_TIMEOUT) -> Session:
    """Log in to ``login``, trusting only a host key its known_hosts file vouches for.

    known_hosts is judged as ssh does with ``StrictHostKeyChecking yes`` (``known_hosts.py``):
    the key is checked after the key exchange and before anything of the login is sent, and
    nothing is ever added to the file.

    Raises:
        HostKeyError: the node's key is unknown, differs from the one on file or is revoked;
            or the known_hosts file cannot be read.
        HostAuthError: the node refused the login.
        HostUnreachableError: no connection could be made.
    """
    import paramiko

    from . import known_hosts

    known = _known_hosts(login)

    def transport(sock: Any, **kwargs: Any) -> Any:
        made = paramiko.Transport(sock, **kwargs)
        options = made.get_security_options()
        # ssh's default HostKeyAlgorithms has neither SHA-1 RSA signatures nor DSA (off since
        # OpenSSH 8.8 and 7.0); paramiko 3 still offers both.
        offered = [a for a in options.key_types if a not in ("ssh-rsa", "ssh-dss")]
        options.key_types = known_hosts.preferred_algorithms(known, login.host, login.port, offered)
        return made

    class Verify(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        """known_hosts' verdict on the offered key. The client holds no host keys of its own,
        so paramiko hands every server key here, between key exchange and authentication."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            decision = known_hosts.decide(known, login.host, login.port, key.asbytes())
            if decision.verdict is not known_hosts.Verdict.ACCEPTED:
                raise _refused(login, decision, key)

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(Verify())
    try:
        client.connect(
            login.host,
            port=login.port,
            username=login.user,
            key_filename=login.identity_file,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            # Only the named key when there is one; otherwise the agent and the default keys.
            look_for_keys=login.identity_file is None,
            allow_agent=login.identity_file is None,
            transport_factory=transport,
        )
    except HostKeyError:
        client.close()
        raise
    except paramiko.AuthenticationException:
        client.close()
        key = login.identity_file or "the agent or default keys"
        raise HostAuthError(
            f"{login.where}: authentication failed for {login.user} with {key}"
        ) from None
    except TimeoutError:
        client.close()
        raise HostUnreachableError(f"{login.where}: unreachable (timed out)") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        reason = _reason(exc)
        raise HostUnreachableError(f"{login.where}: unreachable ({reason})") from None
    return Session(login, client)


def _known_hosts(login: Target) -> bytes:
    """The known_hosts file's bytes; none when it does not exist (every key is then unknown)."""
    try:
        return login.known_hosts.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise HostKeyError(
            f"{login.where}: cannot read {login.known_hosts} ({reason}); "
            "no host key can be checked, so none is trusted"
        ) from None


def _refused(login: Target, decision: Decision, key: Any) -> HostKeyError:
    """The one line for a key known_hosts does not accept."""
    from .known_hosts import Verdict

    offered = f"{key.get_name()} {fingerprint(key)}"
    file = login.known_hosts
    if decision.verdict is Verdict.REVOKED:
        return HostKeyError(
            f"{login.where}: host key revoked: the node offers {offered}, which "
            f"{file}:{decision.line} marks @revoked; refused (the key may be stolen: "
            "check the node before trusting any key of it)"
        )
    if decision.verdict is Verdict.CHANGED:
        return HostKeyError(
            f"{login.where}: host key changed: the node offers {offered}, "
            f"{file} has {' and '.join(decision.known)}; refused "
            "(if the node was reinstalled, check the new key and replace the old line)"
        )
    return HostKeyError(
        f"{login.where}: unknown host key ({offered}); "
        f"not in {file}; check it on the node, then add it there"
    )


def _reason(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)  # NoValidConnectionsError: one error per address
    if errors:
        exc = next(iter(errors.values()))
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def quote(path: str) -> str:
    return shlex.quote(path)

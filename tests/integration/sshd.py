"""A real OpenSSH server on 127.0.0.1 for the apply tests: its own host key, one client key.

Each server gets a free port, a host key made here with ssh-keygen, an authorized_keys file
with the client key, and ``PATH`` with a directory of stand-ins first (systemd cannot run in a
test, so ``systemctl`` there records its calls and fails when told to).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0

# Records each call as one line; fails once (exit 1, saying so on stderr) when the fail file
# holds the command's first argument (for example "restart").
SYSTEMCTL = """#!/bin/sh
echo "$*" >> {calls}
if [ -f {fail} ] && grep -qx "$1" {fail}; then
  rm -f {fail}  # one failure: the rollback's own restart succeeds
  echo "Job for vault.service failed because the control process exited with error code." >&2
  exit 1
fi
exit 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def keygen(path: Path, comment: str, kind: str = "ed25519") -> str:
    """A new key of ``kind`` (ssh-keygen's ``-t``) at ``path``; its public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    """A running sshd, and the files a test needs to reach it and to steer it."""

    port: int
    host_key_line: str  # "ssh-ed25519 AAAA..." (for a known_hosts line)
    client_key: Path
    systemctl_calls: Path
    systemctl_fail: Path
    log: Path
    path: str  # PATH of a login: the stand-ins first
    host_keys: tuple[Path, ...] = ()  # every private host key (its .pub beside it), in order

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_line}"

    def calls(self) -> list[str]:
        if not self.systemctl_calls.exists():
            return []
        return self.systemctl_calls.read_text().splitlines()

    def fail(self, *commands: str) -> None:
        """Make the stand-in systemctl fail on these subcommands."""
        self.systemctl_fail.write_text("".join(f"{c}\n" for c in commands))


@contextmanager
def running(
    directory: Path, client_key: Path, host_key_types: tuple[str, ...] = ("ed25519",)
) -> Iterator[Sshd]:
    """Start sshd on a free loopback port with host keys of its own; stop it always.

    Args:
        directory: where its keys, config, log and stand-ins go.
        client_key: the private key allowed to log in (its ``.pub`` beside it).
        host_key_types: ssh-keygen ``-t`` of each host key; ``host_key_line`` is the first's.
    """
    directory.mkdir(parents=True, exist_ok=True)
    host_keys = tuple(directory / f"host_{kind}" for kind in host_key_types)
    first = [
        keygen(k, "picluster-test-host", t) for k, t in zip(host_keys, host_key_types, strict=True)
    ]
    host_line = " ".join(first[0].split()[:2])
    authorized = directory / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls, fail = directory / "systemctl.calls", directory / "systemctl.fail"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(SYSTEMCTL.format(calls=calls, fail=fail))
    systemctl.chmod(0o755)
    path = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        + "".join(f"HostKey {k}\n" for k in host_keys)
        + f"PidFile {directory / 'sshd.pid'}\n"
        # Root's key here; a test user's in its own home (sshd reads it as that user).
        f"AuthorizedKeysFile {authorized} .ssh/authorized_keys\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\n"
        f"SetEnv PATH={path}\n"
        "LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        # sshd refuses to start as root without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = directory / "sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        _wait_listening(port, process, log)
        yield Sshd(port, host_line, client_key, calls, fail, log, path, host_keys)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"sshd exited {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"sshd did not listen on {port} within {START_TIMEOUT}s")

"""One lab node: an overlay of the host's root, booted by systemd-nspawn, reached over SSH."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import paramiko  # type: ignore[import-untyped]

from . import host
from .host import LabError
from .network import PREFIX

BOOT_TIMEOUT = 90.0  # seconds from starting nspawn to SSH answering and systemd up
STOP_TIMEOUT = 30.0  # seconds for a clean power-off before the node is killed
COMMAND_TIMEOUT = 300.0  # seconds a script run on a node may take
KILL_TIMEOUT = 10.0  # seconds for the kernel to end a killed node's processes
CONNECT_TIMEOUT = 5.0  # seconds for one SSH connection attempt
CONSOLE_TAIL = 40  # console lines shown when a node fails to boot or stop

# Services the host has enabled are the host's, not a node's: a node starts systemd's own
# units and sshd. (On this machine kind the host's PostgreSQL alone took 2.2 s of each boot,
# and its Prometheus would listen inside every node.) Tests enable what they install.
KEEP_ENABLED = frozenset({"ssh.service"})
HOST_WANTS = ("multi-user.target.wants", "timers.target.wants")


class LabNode:
    """A systemd machine of the lab: its name, address, files and power switch.

    ``root`` is the overlay the node runs on, mounted on the host for as long as the lab
    exists (also while the node is off): read it to inspect the node's files from outside.
    """

    def __init__(
        self, name: str, address: str, directory: Path, known_hosts: Path, client_key: Path
    ) -> None:
        self.name = name
        self.address = address
        self.machine = f"{PREFIX}{name}"  # nspawn's machine name and the network namespace
        self.directory = directory
        self.root = directory / "root"
        self.upper = directory / "upper"
        self.console = directory / "console.log"
        self.known_hosts = known_hosts
        self.client_key = client_key
        self._process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    def __repr__(self) -> str:
        return f"LabNode({self.name}, {self.address})"

    @property
    def running(self) -> bool:
        """Whether the node's nspawn process is alive."""
        return self._process is not None and self._process.poll() is None

    def prepare(self, authorized_key: str, hosts: str) -> list[str]:
        """Mount the node's root and give it its own identity; its public host key lines.

        Args:
            authorized_key: the public key line root accepts over SSH.
            hosts: lines added to the node's ``/etc/hosts`` (the lab's names).
        """
        work = self.directory / "work"
        for d in (self.upper, work, self.root):
            d.mkdir(parents=True)
        # root's home starts empty, as on a fresh install: the host's holds a developer's
        # dotfiles, tokens and SSH keys, and its .bashrc (pyenv) stalled every login. An
        # opaque upper directory hides the lower one (kernel docs, filesystems/overlayfs).
        home = self.upper / "root"
        home.mkdir(mode=0o700)
        os.setxattr(home, "trusted.overlay.opaque", b"y")
        host.sh(
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir=/,upperdir={self.upper},workdir={work}",
            str(self.root),
        )
        etc = self.root / "etc"
        (etc / "hostname").write_text(f"{self.name}\n")
        # Its own machine ID too: journald, D-Bus and systemd-run key their state on it.
        machine_id = secrets.token_hex(16) + "\n"
        (etc / "machine-id").write_text(machine_id)
        dbus_id = self.root / "var/lib/dbus/machine-id"
        if dbus_id.exists():
            dbus_id.write_text(machine_id)
        (etc / "hosts").write_text(Path("/etc/hosts").read_text().rstrip("\n") + "\n" + hosts)
        # The dotfiles Debian gives root (base-files' postinst installs these two).
        for dot in ("profile", "bashrc"):
            shutil.copyfile(f"/usr/share/base-files/dot.{dot}", self.root / f"root/.{dot}")
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(authorized_key + "\n")
        keys.chmod(0o600)
        for wants in HOST_WANTS:
            for unit in (etc / "systemd/system" / wants).glob("*"):
                if unit.name not in KEEP_ENABLED and unit.suffix in (".service", ".timer"):
                    unit.unlink()
        # Through the overlay the node inherits the host's host keys: remove them and make
        # its own (``-A`` makes every type sshd loads by default, as Debian's install does).
        for key in (etc / "ssh").glob("ssh_host_*"):
            key.unlink()
        host.sh("ssh-keygen", "-q", "-A", "-f", str(self.root))
        return [
            " ".join(pub.read_text().split()[:2])
            for pub in sorted((etc / "ssh").glob("ssh_host_*_key.pub"))
        ]

    def start(self) -> None:
        """Start systemd-nspawn on the node's root in the background (see ``wait_ready``)."""
        if self.running:
            raise LabError(f"{self.name}: already running")
        # A cgroup of its own in each hierarchy: nspawn puts the node under the cgroup it
        # runs in, and three nodes sharing one would share every unit's cgroup too (seen
        # here: units failing with 219/CGROUP at boot, `systemctl kill` failing with EIO).
        procs = []
        for root in host.cgroup_roots():
            (root / self.machine).mkdir(exist_ok=True)
            procs.append(shlex.quote(str(root / self.machine / "cgroup.procs")))
        enter = f'for f in {" ".join(procs)}; do echo $$ > "$f" || exit 1; done; exec "$@"'
        with self.console.open("ab") as console:
            console.write(f"\n--- boot {time.strftime('%H:%M:%S')} ---\n".encode())
            console.flush()
            # --register=no --keep-unit: the host has no systemd bus for nspawn to register
            # with (LAB.md). A session of its own: a Ctrl-C for pytest does not reach the
            # node, whose teardown powers it off in order instead.
            self._process = subprocess.Popen(
                [
                    "sh",
                    "-c",
                    enter,
                    "sh",
                    "systemd-nspawn",
                    "-D",
                    str(self.root),
                    "--register=no",
                    "--keep-unit",
                    f"--machine={self.machine}",
                    f"--network-namespace-path=/run/netns/{self.machine}",
                    "--console=read-only",
                    "-b",
                    "systemd.firstboot=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.directory / "nspawn.pid").write_text(f"{self._process.pid}\n")

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Wait until root logs in over SSH and systemd says the boot is ``running``.

        Raises:
            LabError: nspawn ended, SSH did not answer in time, or a unit failed to start
                (``degraded``: the failed units are named).
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise self._error(f"nspawn exited with {self._exit_code()} during boot")
            try:
                self._connect()
                break
            except (OSError, EOFError) as exc:
                if time.monotonic() > deadline:
                    raise self._error(
                        f"no SSH on {self.address}:22 within {timeout:.0f}s ({exc})"
                    ) from None
                time.sleep(0.2)
        left = max(deadline - time.monotonic(), 5.0)
        _, state, _ = self.run("systemctl is-system-running --wait", timeout=left)
        state = state.strip()
        if state == "running":
            return
        if state == "degraded":
            # Not accepted: a unit that fails here is one a later test would trip over.
            _, failed, _ = self.run("systemctl list-units --failed --plain --no-legend")
            units = [line.split()[0] for line in failed.splitlines() if line.strip()]
            _, status, _ = self.run(f"systemctl status --no-pager --lines=10 {' '.join(units)}")
            raise LabError(
                f"{self.name} ({self.address}): booted degraded: failed units: "
                f"{', '.join(units)}\n{status.strip()}"
            )
        raise self._error(f"systemctl is-system-running says {state!r}")

    def boot(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Boot the node (again) on the same root, so its files survive; wait for SSH."""
        self.start()
        self.wait_ready(timeout)

    def run(self, script: str, timeout: float = COMMAND_TIMEOUT) -> tuple[int, str, str]:
        """Run the POSIX sh ``script`` as root on the node; its exit status, stdout, stderr.

        The script is one argument of ``sh -c`` (up to 128 KiB, Linux's limit for one
        argument), so its commands read an empty stdin, never the rest of the script. An exit
        status of -1 means the connection ended before the script did; a script stopped by
        ``timeout`` may go on running on the node.
        """
        client = self._connect()
        channel = client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
        channel.settimeout(timeout)
        channel.exec_command(f"sh -c {shlex.quote(script)}")
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        # Both streams are drained as data comes: a script that fills stderr while we wait
        # on stdout would otherwise stall on the SSH window.
        while not (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            if channel.recv_ready():
                out += channel.recv(65536)
            elif channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            elif channel.closed:
                break
            elif time.monotonic() > deadline:
                channel.close()
                raise LabError(f"{self.name}: script still running after {timeout:.0f}s")
            else:
                channel.status_event.wait(0.02)
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
        channel.close()
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    def check(self, script: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run ``script`` like ``run``; its stdout.

        Raises:
            LabError: the script exited non-zero (with its stderr).
        """
        status, out, err = self.run(script, timeout)
        if status != 0:
            raise LabError(f"{self.name}: exit {status}: {script.strip()}\n{err.strip()}")
        return out

    def poweroff(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut the node down cleanly (``systemctl poweroff``); return when nspawn has ended.

        Raises:
            LabError: it was still running after ``timeout`` (it is then killed).
        """
        # The shutdown may close the connection before the command returns.
        with contextlib.suppress(OSError, EOFError, LabError, paramiko.SSHException):
            self.run("systemctl poweroff", timeout=timeout)
        self._disconnect()
        if not self._wait_ended(timeout):
            self.kill()
            raise self._error(f"still running {timeout:.0f}s after systemctl poweroff")

    def kill(self) -> None:
        """Cut the power: SIGKILL the node's PID 1 and its nspawn process.

        Killing only nspawn leaves the node running (seen here: its systemd keeps serving
        SSH). Killing the PID 1 of a PID namespace makes the kernel kill every process in it;
        it is gone once that is done, which is when nspawn, its parent, ends. Data the node
        wrote without fsync survives all the same, in the host's page cache.
        """
        self._disconnect()
        if self._process is None:
            return
        inits = host.children(self._process.pid)
        for pid in inits:
            host.kill(pid)
        if not self._wait_ended(KILL_TIMEOUT):
            host.kill(self._process.pid)
            self._process.wait()
            if not host.wait_ended(inits, KILL_TIMEOUT):
                raise self._error(f"PID 1 still running {KILL_TIMEOUT:.0f}s after SIGKILL")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Power off without SSH (SIGTERM to nspawn, which tells systemd to power off)."""
        self._disconnect()
        if not self.running or self._process is None:
            return
        host.kill(self._process.pid, signal.SIGTERM)
        if not self._wait_ended(timeout):
            self.kill()

    def _wait_ended(self, timeout: float) -> bool:
        if self._process is None:
            return True
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _exit_code(self) -> int | None:
        return None if self._process is None else self._process.returncode

    def _connect(self) -> Any:
        """The node's SSH connection, made when there is none; host key checked strictly."""
        if self._client is not None and self._client.get_transport().is_active():
            return self._client
        self._disconnect()
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.address,
                username="root",
                key_filename=str(self.client_key),
                timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT,
                auth_timeout=CONNECT_TIMEOUT,
                look_for_keys=False,
                allow_agent=False,
            )
        except (paramiko.BadHostKeyException, paramiko.AuthenticationException) as exc:
            # Not a node still booting: its keys are not the lab's. Fail at once.
            client.close()
            raise LabError(f"{self.name}: {exc}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            raise OSError(str(exc)) from None
        self._client = client
        return client

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _error(self, what: str) -> LabError:
        tail = host.tail(self.console, CONSOLE_TAIL)
        return LabError(f"{self.name} ({self.address}): {what}; console ({self.console}):\n{tail}")


def reachable(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``address:port`` opens from the host."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def owned_pid(directory: Path, machine: str) -> int | None:
    """The nspawn process a node's directory records, if it is still that node's nspawn."""
    try:
        pid = int((directory / "nspawn.pid").read_text())
    except (OSError, ValueError):
        return None
    argv = host.cmdline(pid)
    if argv and os.path.basename(argv[0]) == "systemd-nspawn" and f"--machine={machine}" in argv:
        return pid
    return None

"""A throwaway non-root login on this machine, for the apply tests' sudo path.

The test runs as root (as CI does); the user gets a home of its own with the client key in
``~/.ssh/authorized_keys``, and, when asked, a sudoers rule without a password whose
``secure_path`` puts the sshd's stand-ins first (sudo resets ``PATH``). Everything is removed
when the block ends, whatever happened inside it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import REQUIRE, need

SUDOERS_D = Path("/etc/sudoers.d")


def need_root() -> None:
    """Skip unless root (only root can add a user), or fail under PICLUSTER_REQUIRE_INTEGRATION."""
    if os.geteuid() != 0:
        message = "adding a login user needs root"
        if REQUIRE:
            pytest.fail(f"{message} (PICLUSTER_REQUIRE_INTEGRATION=1)")
        pytest.skip(message)


@contextmanager
def login_user(public_key: str, sudo_path: str | None) -> Iterator[str]:
    """A new user that logs in with ``public_key``; its name.

    Args:
        public_key: the authorized_keys line.
        sudo_path: when set, the user may ``sudo`` anything without a password, with this
            ``secure_path``; when None, the user has no sudo rule (sudo asks for a password).
    """
    need_root()
    need("useradd", "userdel", "sudo", "visudo")
    name = "pictest" + secrets.token_hex(4)
    home = Path(tempfile.mkdtemp(prefix="picluster-home-"))
    rule = SUDOERS_D / f"picluster-test-{name}"
    try:
        home.chmod(0o755)
        # Password "*": no password login, but not a locked account (sshd without PAM refuses
        # those, even with a key).
        subprocess.run(
            [
                "useradd",
                "--home-dir",
                str(home),
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "--user-group",
                "--password",
                "*",
                name,
            ],
            check=True,
        )
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(public_key + "\n")
        shutil.chown(ssh_dir, name, name)
        shutil.chown(ssh_dir / "authorized_keys", name, name)
        if sudo_path is not None:
            staged = home / "sudoers"
            staged.write_text(
                f'Defaults:{name} secure_path="{sudo_path}"\n{name} ALL=(root) NOPASSWD: ALL\n'
            )
            subprocess.run(["visudo", "-qcf", str(staged)], check=True)
            SUDOERS_D.mkdir(mode=0o750, exist_ok=True)
            shutil.copyfile(staged, rule)
            rule.chmod(0o440)
        yield name
    finally:
        rule.unlink(missing_ok=True)
        _remove(name)
        shutil.rmtree(home, ignore_errors=True)


def _remove(name: str, timeout: float = 10.0) -> None:
    """userdel, waiting for sshd's session process to end after the client has left."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(["userdel", name], capture_output=True, text=True)
        # 6: no such user (never made); 8: the user is logged in.
        if done.returncode in (0, 6):
            return
        if done.returncode != 8 or time.monotonic() > deadline:
            raise AssertionError(f"cannot remove test user {name}: {done.stderr.strip()}")
        time.sleep(0.1)

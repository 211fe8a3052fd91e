"""``apply_hosts`` against real sshd servers on 127.0.0.1: modes, owners, no-ops, rollbacks."""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.apply.hosts_apply import apply_hosts, plan_hosts
from compiler.apply.plan_output import hosts_text
from compiler.errors import (
    ChecksumError,
    HostAuthError,
    HostError,
    HostKeyError,
    RolledBackError,
)
from tests.integration import sshd, users
from tests.integration.hosts_world import BINARY, World, world
from tests.support import need, write_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def one(tmp_path: Path) -> Iterator[World]:
    need("sshd", "ssh-keygen", "systemd-sysusers", "systemd-tmpfiles")
    with world(tmp_path) as w:
        yield w


def run(w: World, **kwargs):
    lines: list[str] = []
    result = apply_hosts(
        w.tree(),
        root=str(w.directory / "roots" / "{node}"),
        progress=lambda node, line: lines.append(f"{node}: {line}"),
        health_timeout=3,
        **kwargs,
    )
    return result, lines


def compiled(w: World) -> str:
    """The spec written and compiled into out/ beside it, as a user does before apply."""
    w.tree()
    return str(w.directory / "picluster.yaml")


def plan_lines(w: World) -> list[str]:
    root = str(w.directory / "roots" / "{node}")
    return hosts_text(plan_hosts(w.tree(), root=root))


def tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and directory under ``root``: mode, uid, gid."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        found["/" + str(path.relative_to(root))] = (
            f"{st.st_mode & 0o7777:04o}",
            st.st_uid,
            st.st_gid,
        )
    return found


def fingerprint(public_line: str, directory: Path) -> str:
    pub = directory / "key.pub"
    pub.write_text(public_line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def owned_as_the_procedure_says(root: Path) -> dict[str, tuple[str, int, int]]:
    """The modes and owners the procedure gives each path (owners only when the test is root)."""
    got = tree(root)
    vault_uid = next(
        int(line.split(":")[2])
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith("vault:")
    )
    vault_gid = next(
        int(line.split(":")[2])
        for line in (root / "etc/group").read_text().splitlines()
        if line.startswith("vault:")
    )
    vault = (vault_uid, vault_gid)
    expected = {
        "/etc/vault": ("0750", *vault),
        "/etc/vault/tls": ("0750", *vault),
        "/etc/vault/policy": ("0750", *vault),
        "/var/lib/vault": ("0750", *vault),
        "/var/log/vault": ("0750", *vault),
        "/etc/vault/vault_main.hcl": ("0640", *vault),
        "/etc/vault/policy/readonly.hcl": ("0640", *vault),
        "/etc/vault/tls/vault.key": ("0600", *vault),
        "/etc/vault/tls/vault.crt": ("0644", 0, 0),
        "/etc/vault/tls/vault-ca.crt": ("0644", 0, 0),
        "/etc/systemd/system/vault.service": ("0644", 0, 0),
        "/etc/systemd/system/vault-unseal.service": ("0644", 0, 0),
        "/etc/sysusers.d/vault.conf": ("0644", 0, 0),
        "/etc/tmpfiles.d/vault.conf": ("0644", 0, 0),
        "/usr/local/bin/vault": ("0755", 0, 0),
        "/usr/local/bin/vault-unseal.sh": ("0755", 0, 0),
    }
    if os.geteuid() != 0:  # owners can only be set by root
        expected = {p: (m, *got[p][1:]) for p, (m, *_ids) in expected.items()}
    return expected


def test_first_apply_creates_the_tree_then_a_second_is_a_no_op(one: World) -> None:
    result, lines = run(one)
    root = one.root("node1")
    got = tree(root)
    expected = owned_as_the_procedure_says(root)
    assert {p: got[p] for p in expected} == expected
    assert (root / "usr/local/bin/vault").read_bytes() == BINARY
    assert (root / "etc/vault/tls/vault.key").read_bytes() == (
        one.directory / "pki/node1.key"
    ).read_bytes()
    # Nothing left behind: no temp files, no staging, no backups.
    assert not [p for p in got if "picluster-new" in p or "rollback" in p]
    assert one.nodes[0].calls() == [
        "daemon-reload",
        "enable vault-unseal.service vault.service",
        "reset-failed vault.service",
        "restart vault.service",
    ]
    assert result.restarted == ["node1"]

    before = tree(root)
    mtimes = {p: (root / p[1:]).stat().st_mtime_ns for p in before}
    assert plan_lines(one) == [
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): 0 to create, 0 to change, 0 to remove;"
        " up to date"
    ]
    result, lines = run(one)
    assert lines == ["node1: up to date"]
    assert result.restarted == []
    assert tree(root) == before
    assert {p: (root / p[1:]).stat().st_mtime_ns for p in before} == mtimes
    assert len(one.nodes[0].calls()) == 4


def test_a_changed_spec_changes_only_the_affected_files(one: World) -> None:
    run(one)
    root = one.root("node1")
    inodes = {p: (root / p[1:]).stat().st_ino for p in tree(root)}
    one.spec["vault"]["policies"]["extra"] = [{"path": "secret/extra", "capabilities": ["read"]}]
    assert plan_lines(one)[1:] == ["  + /etc/vault/policy/extra.hcl 0640 vault:vault"]
    result, _ = run(one)
    assert result.restarted == []
    assert len(one.nodes[0].calls()) == 4  # no reload, no restart for a policy

    one.spec["vault"]["log_level"] = "debug"
    assert plan_lines(one) == [
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): 0 to create, 1 to change, 0 to remove;"
        " restart vault.service",
        "  ~ /etc/systemd/system/vault.service",
        "  * systemctl daemon-reload",
        "  * systemctl restart vault.service",
    ]
    result, _ = run(one)
    assert one.nodes[0].calls()[4:] == [
        "daemon-reload",
        "reset-failed vault.service",
        "restart vault.service",
    ]
    changed = {p for p, ino in inodes.items() if (root / p[1:]).stat().st_ino != ino}
    assert changed == {
        "/etc/systemd/system/vault.service",
        "/var/lib/picluster/hosts.sha256",
        "/var/lib/picluster/hosts.stat",  # the unit's new stat, so it is not hashed again
    }

    del one.spec["vault"]["policies"]["extra"]
    assert plan_lines(one)[1:] == ["  - /etc/vault/policy/extra.hcl"]
    run(one)
    assert not (root / "etc/vault/policy/extra.hcl").exists()


def test_an_unknown_host_key_is_refused(one: World) -> None:
    (one.directory / "known_hosts").write_text("")
    offered = fingerprint(one.nodes[0].host_key_line, one.directory)
    with pytest.raises(HostKeyError) as caught:
        run(one)
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): unknown host key (ssh-ed25519 {offered}); "
        f"not in {one.directory / 'known_hosts'}; check it on the node, then add it there"
    )
    assert not one.root("node1").exists()
    assert (one.directory / "known_hosts").read_text() == ""  # never added


def test_a_changed_host_key_is_refused(one: World) -> None:
    other = sshd.keygen(one.directory / "other", "another host")
    (one.directory / "known_hosts").write_text(f"[127.0.0.1]:{one.nodes[0].port} {other}\n")
    offered = fingerprint(one.nodes[0].host_key_line, one.directory)
    expected = fingerprint(" ".join(other.split()[:2]), one.directory)
    with pytest.raises(HostKeyError) as caught:
        run(one)
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): host key changed: the node offers "
        f"ssh-ed25519 {offered}, {one.directory / 'known_hosts'} has {expected}; refused "
        "(if the node was reinstalled, check the new key and replace the old line)"
    )
    assert not one.root("node1").exists()


def client_key_line(w: World) -> str:
    return (w.directory / "client_ed25519.pub").read_text().strip()


def test_a_user_who_is_not_root_applies_through_sudo(one: World) -> None:
    """The spec's ssh.user is an ordinary user with a NOPASSWD sudo rule, as on a Pi."""
    with users.login_user(client_key_line(one), sudo_path=one.nodes[0].path) as name:
        one.spec["vault"]["nodes"][0]["ssh"]["user"] = name
        result, _ = run(one)
        root = one.root("node1")
        got = tree(root)
        expected = owned_as_the_procedure_says(root)
        assert {p: got[p] for p in expected} == expected
        assert (root / "etc/vault/tls/vault.key").read_bytes() == (
            one.directory / "pki/node1.key"
        ).read_bytes()
        # systemctl ran through sudo too (its stand-in is first on sudo's secure_path).
        assert one.nodes[0].calls()[-1] == "restart vault.service"
        assert result.restarted == ["node1"]
        assert plan_lines(one) == [
            f"node1 ({name}@127.0.0.1:{one.nodes[0].port}): 0 to create, 0 to change,"
            " 0 to remove; up to date"
        ]
        # The staging directory the user made in /tmp is gone.
        uid = pwd.getpwnam(name).pw_uid
        assert not [p for p in Path("/tmp").glob("tmp.*") if p.lstat().st_uid == uid]


def test_sudo_that_wants_a_password_is_refused_before_anything_is_written(one: World) -> None:
    with users.login_user(client_key_line(one), sudo_path=None) as name:
        one.spec["vault"]["nodes"][0]["ssh"]["user"] = name
        with pytest.raises(HostAuthError) as caught:
            run(one)
    assert str(caught.value) == (
        f"node1 ({name}@127.0.0.1:{one.nodes[0].port}): sudo wants a password for {name}; "
        "allow it without one (NOPASSWD) or log in as root"
    )
    assert not one.root("node1").exists()
    assert one.nodes[0].calls() == []


def test_the_login_can_come_from_ssh_config(
    one: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``ssh`` section in the spec: ~/.ssh/config names port, user, key and known_hosts."""
    del one.spec["vault"]["nodes"][0]["ssh"]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host node1\n"
        f"  Port {one.nodes[0].port}\n"
        "  User root\n"
        f"  IdentityFile {one.directory / 'client_ed25519'}\n"
        f"  UserKnownHostsFile {one.directory / 'known_hosts'}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    result, _ = run(one)
    assert result.restarted == ["node1"]
    assert plan_lines(one) == [
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): 0 to create, 0 to change, 0 to remove;"
        " up to date"
    ]


def test_a_wrong_checksum_installs_nothing(one: World) -> None:
    one.spec["vault"]["install"]["sha256"] = "0" * 64
    actual = hashlib.sha256((one.directory / "vault.tar.gz").read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as caught:
        run(one)
    assert str(caught.value) == (
        f"vault.install: vault.tar.gz: sha256 is {actual}, the spec pins {'0' * 64}; "
        "nothing installed"
    )
    assert not one.root("node1").exists()
    assert one.nodes[0].calls() == []


def test_the_binary_can_come_from_an_https_url(one: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """{version} and {arch} are filled in; TLS is verified (the test CA via SSL_CERT_FILE)."""
    archive = (one.directory / "vault.tar.gz").read_bytes()
    monkeypatch.setenv("SSL_CERT_FILE", str(one.directory / "pki/ca.crt"))
    with one.serving({"/vault/1.18.3/vault_1.18.3_linux_amd64.tar.gz": archive}) as url:
        install = one.spec["vault"]["install"]
        install["source"] = f"{url}/vault/{{version}}/vault_{{version}}_linux_{{arch}}.tar.gz"
        run(one)
        assert (one.root("node1") / "usr/local/bin/vault").read_bytes() == BINARY

        install["source"] = f"{url}/missing.tar.gz"
        install["sha256"] = "1" * 64  # a new pin: the node's record no longer vouches for it
        with pytest.raises(HostError) as caught:
            run(one)
        assert str(caught.value) == (
            f"vault.install: {url}/missing.tar.gz: download failed (HTTP 404 Not Found)"
        )

    monkeypatch.delenv("SSL_CERT_FILE")
    with one.serving({"/v.tar.gz": archive}) as url:
        install["source"], install["sha256"] = f"{url}/v.tar.gz", "2" * 64
        with pytest.raises(HostError) as caught:
            run(one)
    assert str(caught.value) == (
        f"vault.install: {url}/v.tar.gz: download failed (TLS certificate not trusted: unable to"
        " get local issuer certificate; if a private CA signs it, set SSL_CERT_FILE to a bundle"
        " that holds that CA)"
    )
    assert (one.root("node1") / "usr/local/bin/vault").read_bytes() == BINARY


@pytest.mark.parametrize("failure", ["restart", "health"])
def test_a_failing_restart_rolls_back(one: World, failure: str) -> None:
    run(one)
    root = one.root("node1")
    unit = root / "etc/systemd/system/vault.service"
    before, record = unit.read_bytes(), (root / "var/lib/picluster/hosts.sha256").read_bytes()
    one.spec["vault"]["log_level"] = "debug"
    one.spec["vault"]["policies"]["extra"] = [{"path": "secret/extra", "capabilities": ["read"]}]
    if failure == "restart":
        one.nodes[0].fail("restart")
        why = "vault.service failed to restart (Job for vault.service failed because the control "
        why += "process exited with error code.)"
        after = ""
    else:
        one.set_health(500)
        why = "vault.service did not answer /v1/sys/health within 3s"
        after = f", but it is not back either ({why})"  # the stand-in answers 500 still
    with pytest.raises(RolledBackError) as caught:
        run(one)
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): {why}; previous files restored and "
        f"vault.service restarted{after}"
    )
    assert unit.read_bytes() == before
    assert not (root / "etc/vault/policy/extra.hcl").exists()
    assert (root / "var/lib/picluster/hosts.sha256").read_bytes() == record
    # A start that failed: its invocation is looked up, for the server's own error line.
    journal = ["show -p InvocationID --value vault.service"] if failure == "restart" else []
    assert one.nodes[0].calls()[4:] == [
        "daemon-reload",
        "reset-failed vault.service",
        "restart vault.service",
        *journal,
        "daemon-reload",
        "reset-failed vault.service",
        "restart vault.service",
    ]
    assert not [p for p in tree(root) if "picluster-new" in p or "rollback" in p]


def test_three_nodes_are_applied_in_parallel(tmp_path: Path) -> None:
    need("sshd", "ssh-keygen", "systemd-sysusers", "systemd-tmpfiles")
    with world(tmp_path, count=3) as w:
        result, lines = run(w)
        assert result.restarted == ["node1", "node2", "node3"]
        for i, node in enumerate(w.nodes, start=1):
            assert (w.root(f"node{i}") / "etc/vault/vault_main.hcl").exists()
            assert node.calls()[-1] == "restart vault.service"
        # The nodes' steps interleave (parallel), but restarts never overlap (raft quorum).
        firsts = [
            next(n for n, line in enumerate(lines) if line.startswith(f"node{i}: send"))
            for i in (1, 2, 3)
        ]
        dones = [
            next(n for n, line in enumerate(lines) if line == f"node{i}: done") for i in (1, 2, 3)
        ]
        assert max(firsts) < min(dones)
        restarts = [n for n, line in enumerate(lines) if "systemctl restart" in line]
        healthy = [n for n, line in enumerate(lines) if line.endswith(": healthy")]
        assert all(h < r for h, r in zip(healthy, restarts[1:], strict=False))
        _, again = run(w)
        assert sorted(again) == ["node1: up to date", "node2: up to date", "node3: up to date"]


def test_the_cli_applies_the_hosts_then_reports_no_changes(
    one: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`picluster apply --only hosts --root DIR`, then `plan --only hosts`, as a user runs them."""
    from click.testing import CliRunner

    from compiler import cli

    monkeypatch.chdir(one.directory)
    root = str(one.directory / "roots" / "{node}")
    spec = compiled(one)
    result = CliRunner().invoke(cli.main, ["apply", spec, "--only", "hosts", "--root", root])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "hosts: applied; restarted on node1"
    assert any(line.startswith("node1: ") for line in result.stdout.splitlines())
    result = CliRunner().invoke(cli.main, ["plan", spec, "--only", "hosts", "--root", root])
    port = one.nodes[0].port
    assert (result.exit_code, result.stdout) == (
        0,
        f"node1 (root@127.0.0.1:{port}): 0 to create, 0 to change, 0 to remove; up to date\n",
    )
    result = CliRunner().invoke(cli.main, ["apply", spec, "--only", "hosts", "--root", root])
    assert result.stdout == "node1: up to date\nhosts: no changes; every node matches the spec\n"


def test_a_saved_hosts_plan_runs_as_shown_or_not_at_all(
    one: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from compiler import cli

    monkeypatch.chdir(one.directory)
    root = str(one.directory / "roots" / "{node}")
    saved = str(one.directory / "hosts.plan")
    spec = compiled(one)
    args = ["plan", spec, "--only", "hosts", "--root", root, "--out", saved]
    result = CliRunner().invoke(cli.main, args)
    assert (result.exit_code, result.stderr) == (
        0,
        f"plan saved to {saved}; `picluster apply --plan {saved}` runs it\n",
    )

    one.spec["vault"]["log_level"] = "debug"  # the spec changes after the plan was made
    spec = str(write_spec(one.directory, one.spec))
    # Not compiled yet: apply pushes only out/, and only when it is what the spec compiles to.
    result = CliRunner().invoke(cli.main, ["apply", spec, "--plan", saved])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "out/hosts/node1/etc/systemd/system/vault.service: differs (and 1 more): out is not "
        f"what {spec} compiles to; nothing applied: run `picluster compile` (see `picluster "
        "compile --check`), then apply\n"
    )
    spec = compiled(one)
    result = CliRunner().invoke(cli.main, ["apply", spec, "--plan", saved])
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        f"{saved}: stale plan: the plan of node1 changed since it was made; nothing applied; "
        f"run `picluster plan --out {saved}` again\n",
    )
    assert not one.root("node1").exists()
    assert one.nodes[0].calls() == []

    del one.spec["vault"]["log_level"]
    spec = compiled(one)
    result = CliRunner().invoke(cli.main, ["apply", spec, "--plan", saved])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "hosts: applied; restarted on node1"
    assert (one.root("node1") / "etc/vault/vault_main.hcl").is_file()

    result = CliRunner().invoke(cli.main, ["apply", spec, "--plan", saved, "--only", "hosts"])
    assert result.exit_code == 2
    assert "--plan runs the plan with the options it was made with" in result.stderr
    missing = str(one.directory / "missing.plan")
    result = CliRunner().invoke(cli.main, ["apply", spec, "--plan", missing])
    assert (result.exit_code, result.stderr) == (2, f"{missing}: no such plan file\n")


def test_an_apply_whose_stdout_closes_goes_on_to_its_end(one: World) -> None:
    """`picluster apply | head -1`: the reader goes away after the first line; the apply still
    runs every step (a half-applied node is worse than lost output), then says so on stderr."""
    import sys

    from tests.support import ROOT

    spec = compiled(one)
    root = str(one.directory / "roots" / "{node}")
    read, write = os.pipe()
    os.close(read)  # as `head -1` would once it has its line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "compiler", "apply", spec, "--only", "hosts", "--root", root],
            cwd=one.directory,
            stdout=write,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=300,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr.decode()) == (
        0,
        "picluster apply: stdout was closed; the rest of its output was dropped, "
        "and it ran to its end\n",
    )
    assert plan_lines(one) == [
        f"node1 (root@127.0.0.1:{one.nodes[0].port}): 0 to create, 0 to change, 0 to remove; "
        "up to date"
    ]

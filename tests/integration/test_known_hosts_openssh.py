"""known_hosts files judged by the real OpenSSH client and by picluster's ``connect``: they agree.

Each file of the corpus is given to ``ssh -o StrictHostKeyChecking=yes`` (no ssh_config, so
OpenSSH's defaults) and to ``compiler.apply.ssh.connect`` against the same real sshd on
127.0.0.1. Both must accept, or both refuse for the same reason (unknown, changed, revoked:
read from ssh's own warnings); the expected verdict written beside each case is what sshd(8)
"SSH_KNOWN_HOSTS FILE FORMAT" and ssh's code say, and ssh checks it.
"""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.apply.known_hosts import Verdict
from compiler.apply.ssh import Target, connect
from compiler.errors import HostKeyError
from tests.integration import sshd
from tests.support import need

pytestmark = pytest.mark.integration

ACCEPTED, UNKNOWN, CHANGED, REVOKED = (
    Verdict.ACCEPTED,
    Verdict.UNKNOWN,
    Verdict.CHANGED,
    Verdict.REVOKED,
)


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class World:
    """The servers, the keys a file may name, and names hashed by ssh-keygen -H."""

    servers: dict[str, sshd.Sshd]
    directory: Path
    other: str  # "ssh-ed25519 AAAA…" of a key no server has
    rsa: str
    ecdsa: str
    dsa: str | None  # None where ssh-keygen no longer makes DSA keys (OpenSSH 10)
    cert: str  # a host certificate of server one's key, signed by a CA of its own

    @property
    def key(self) -> str:
        return self.servers["one"].host_key_line

    @property
    def port(self) -> int:
        return self.servers["one"].port

    @property
    def at(self) -> str:
        return f"[127.0.0.1]:{self.port}"

    def at_of(self, server: str) -> str:
        return f"[127.0.0.1]:{self.servers[server].port}"

    def blob(self, line: str | None = None) -> bytes:
        return base64.b64decode((line or self.key).split()[1])

    def server_key(self, name: str, kind: str) -> str:
        """The public line of server ``name``'s host key of ssh-keygen type ``kind``."""
        path = next(p for p in self.servers[name].host_keys if p.name == f"host_{kind}")
        return " ".join(path.with_suffix(".pub").read_text().split()[:2])

    def hashed(self, name: str) -> str:
        """``name`` hashed by the real ``ssh-keygen -H``."""
        file = self.directory / "to-hash"
        file.write_text(f"{name} {self.key}\n")
        subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(file)], check=True, capture_output=True)
        return file.read_text().split()[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need("sshd", "ssh", "ssh-keygen")
    directory = tmp_path_factory.mktemp("known-hosts")
    client = directory / "client_ed25519"
    sshd.keygen(client, "picluster-test-client")

    def key(name: str, kind: str) -> str:
        return " ".join(sshd.keygen(directory / name, name, kind).split()[:2])

    try:
        dsa: str | None = key("dsa", "dsa")
    except subprocess.CalledProcessError:
        dsa = None
    servers = {
        "one": ("ed25519",),
        "ecdsa-rsa": ("ecdsa", "rsa"),  # no key of ssh's best type
        "ed25519-ecdsa": ("ed25519", "ecdsa"),
    }
    with ExitStack() as stack:
        running = {
            name: stack.enter_context(sshd.running(directory / name, client, kinds))
            for name, kinds in servers.items()
        }
        ca = directory / "ca"
        sshd.keygen(ca, "ca")
        host_pub = directory / "host.pub"
        shutil.copy(running["one"].host_keys[0].with_suffix(".pub"), host_pub)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-s",
                str(ca),
                "-I",
                "host",
                "-h",
                "-n",
                "127.0.0.1",
                str(host_pub),
            ],
            check=True,
        )
        cert = " ".join((directory / "host-cert.pub").read_text().split()[:2])
        yield World(
            running,
            directory,
            other=key("other", "ed25519"),
            rsa=key("rsa", "rsa"),
            ecdsa=key("ecdsa", "ecdsa"),
            dsa=dsa,
            cert=cert,
        )


def garbage(w: World) -> list[str | bytes]:
    """Lines for the host that ssh skips: none of them is a key on file."""
    blob = w.blob()
    return [
        "garbage",
        w.at,  # hosts only
        f"{w.at} ssh-ed25519",  # no key
        f"{w.at} ssh-ed25519 !!!not-base64!!!",
        f"{w.at} ssh-ed25519 {b64(blob)[:-1]}",  # broken padding
        f"{w.at} ssh-foo {b64(blob)}",  # unknown key type
        f"{w.at} ssh-rsa {b64(blob)}",  # the type on the line is not the blob's
        f"{w.at} ecdsa-sha2-nistp384 {w.ecdsa.split()[1]}",  # a nistp256 key
        f"{w.at} ssh-ed25519 {b64(blob[:-8])}",  # truncated key
        f"{w.at} ssh-ed25519 {b64(blob + b'junk')}",  # bytes after the key
        f"{w.at} # {w.key}",  # a comment where the key type goes
        f"# {w.at} {w.key}",
        f"   # {w.at} {w.key}",
        "",
        "@revoked",
        f"@unknown {w.at} {w.key}",
        f"@revoked @revoked {w.at} {w.key}",
        f"@cert-authority @revoked {w.at} {w.key}",
        f"@revoked\t{w.at} {w.key}",  # the marker ends at the line's first space: "@revoked\t[…"
        f"|1|bad|hash {w.key}",
        f"|1|{b64(b'x' * 20)}|{b64(b'y' * 20)} {w.key}",  # a hash of another name
        f"|2|{b64(b'x' * 20)}|{b64(b'y' * 20)} {w.key}",
        f"{'a' * 2000},{w.at} {w.key}",  # a pattern of 1023 bytes or more: the list never matches
        # C reads a line up to a NUL. (Not "[host]:port\0 key": OpenSSH before 10.1 read on
        # past the NUL there, an out-of-bounds read fixed by upstream commit c991273c1.)
        f"xx\0{w.at} {w.key}",
        b"\xff\xfe\x00 binary junk \xe9",
        "\t   ",
    ]


def text(lines: list[str | bytes]) -> bytes:
    return b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines)


def sk_line(w: World) -> str:
    """A security-key line (sk-ssh-ed25519) holding server one's public key bytes."""
    pk = w.blob()[4 + len("ssh-ed25519") + 4 :]
    blob = ssh_string(b"sk-ssh-ed25519@openssh.com") + ssh_string(pk) + ssh_string(b"ssh:")
    return f"sk-ssh-ed25519@openssh.com {b64(blob)}"


Build = Callable[[World], list[str | bytes]]


@dataclass(frozen=True)
class Case:
    build: Build
    expected: Verdict
    server: str = "one"
    host: str = "127.0.0.1"


CASES: dict[str, Case] = {
    # The file, several keys, the host's names
    "empty": Case(lambda w: [], UNKNOWN),
    "plain": Case(lambda w: [f"{w.at} {w.key}"], ACCEPTED),
    "with comment and blanks": Case(lambda w: [f"  \t{w.at}\t {w.key}  a comment"], ACCEPTED),
    "latin-1 comment": Case(lambda w: [f"{w.at} {w.key} caf\xe9".encode("latin-1")], ACCEPTED),
    "crlf": Case(lambda w: [f"# hi\r\n{w.at} {w.key}\r\n{w.at} {w.other} x\r"], ACCEPTED),
    "nul after the key": Case(lambda w: [f"{w.at} {w.key}\0 junk".encode()], ACCEPTED),
    "wrong key": Case(lambda w: [f"{w.at} {w.other}"], CHANGED),
    "wrong keys of two types": Case(lambda w: [f"{w.at} {w.other}", f"{w.at} {w.rsa}"], CHANGED),
    "wrong key type": Case(lambda w: [f"{w.at} {w.ecdsa}"], CHANGED),
    "rsa-sha2-256 names an rsa key": Case(
        lambda w: [f"{w.at} rsa-sha2-256 {w.rsa.split()[1]}"], CHANGED
    ),
    "several keys, one right": Case(
        lambda w: [f"{w.at} {w.other}", f"{w.at} {w.rsa}", f"{w.at} {w.key}"], ACCEPTED
    ),
    "several names": Case(lambda w: [f"10.0.0.1,{w.at},node1 {w.key}"], ACCEPTED),
    "a long list of names": Case(
        lambda w: [",".join(["x"] * 3000 + [w.at]) + f" {w.key}"], ACCEPTED
    ),
    # Ports: [host]:port, and the bare host ssh falls back to
    "bare host": Case(lambda w: [f"127.0.0.1 {w.key}"], ACCEPTED),
    "bare host, wrong key": Case(lambda w: [f"127.0.0.1 {w.other}"], UNKNOWN),
    "port wrong, bare right": Case(lambda w: [f"{w.at} {w.other}", f"127.0.0.1 {w.key}"], CHANGED),
    "another port": Case(lambda w: [f"[127.0.0.1]:{w.port + 1} {w.key}"], UNKNOWN),
    "port 22 written out": Case(lambda w: [f"[127.0.0.1]:22 {w.key}"], UNKNOWN),
    "another host": Case(lambda w: [f"[127.0.0.2]:{w.port} {w.key}"], UNKNOWN),
    # Patterns
    "star": Case(lambda w: [f"* {w.key}"], ACCEPTED),
    "star in the address": Case(lambda w: [f"[127.0.0.*]:{w.port} {w.key}"], ACCEPTED),
    "question mark": Case(lambda w: [f"[127.0.0.?]:{w.port} {w.key}"], ACCEPTED),
    "any port": Case(lambda w: [f"[127.0.0.1]:* {w.key}"], ACCEPTED),
    "star, bare": Case(lambda w: [f"127.0.0.* {w.key}"], ACCEPTED),
    "question mark too many": Case(lambda w: [f"[127.0.0.??]:{w.port} {w.key}"], UNKNOWN),
    "upper case name": Case(
        lambda w: [f"[LOCALhost]:{w.port} {w.key}"], ACCEPTED, host="LocalHost"
    ),
    # Negation
    "negated then plain": Case(lambda w: [f"!{w.at},{w.at} {w.key}"], UNKNOWN),
    "plain then negated": Case(lambda w: [f"{w.at},!{w.at} {w.key}"], UNKNOWN),
    "negated only": Case(lambda w: [f"!{w.at} {w.key}"], UNKNOWN),
    "negated star": Case(lambda w: [f"!*,* {w.key}"], UNKNOWN),
    "negated other host": Case(lambda w: [f"!10.0.0.1,{w.at} {w.key}"], ACCEPTED),
    "negated bare, star": Case(lambda w: [f"!127.0.0.1,* {w.key}"], ACCEPTED),
    "negated port, bare": Case(lambda w: [f"![127.0.0.1]:*,127.0.0.1 {w.key}"], ACCEPTED),
    "negated line with a wrong key": Case(lambda w: [f"!{w.at},* {w.other}"], UNKNOWN),
    "negated wrong key, right key": Case(
        lambda w: [f"!{w.at},* {w.other}", f"{w.at} {w.key}"], ACCEPTED
    ),
    # Hashed names (made by ssh-keygen -H)
    "hashed": Case(lambda w: [f"{w.hashed(w.at)} {w.key}"], ACCEPTED),
    "hashed bare": Case(lambda w: [f"{w.hashed('127.0.0.1')} {w.key}"], ACCEPTED),
    "hashed, wrong key": Case(lambda w: [f"{w.hashed(w.at)} {w.other}"], CHANGED),
    "hashed other name": Case(lambda w: [f"{w.hashed('[127.0.0.2]:1')} {w.key}"], UNKNOWN),
    "hashed in a list": Case(lambda w: [f"{w.hashed(w.at)},{w.at} {w.key}"], UNKNOWN),
    "hashed lower case": Case(
        lambda w: [f"{w.hashed(f'[localhost]:{w.port}')} {w.key}"], ACCEPTED, host="LOCALHOST"
    ),
    # @revoked
    "revoked and accepted": Case(
        lambda w: [f"@revoked {w.at} {w.key}", f"{w.at} {w.key}"], REVOKED
    ),
    "accepted and revoked": Case(lambda w: [f"{w.at} {w.key}", f"@revoked * {w.key}"], REVOKED),
    "revoked only": Case(lambda w: [f"@revoked {w.at} {w.key}"], REVOKED),
    "revoked hashed": Case(
        lambda w: [f"{w.at} {w.key}", f"@revoked {w.hashed(w.at)} {w.key}"], REVOKED
    ),
    "revoked, tabs only": Case(
        lambda w: [f"{w.at} {w.key}", f"@revoked\t{w.at}\t{w.key.replace(' ', chr(9))}"], REVOKED
    ),
    "revoked other key": Case(
        lambda w: [f"@revoked {w.at} {w.other}", f"{w.at} {w.key}"], ACCEPTED
    ),
    "revoked under the bare name": Case(
        lambda w: [f"@revoked 127.0.0.1 {w.key}", f"{w.at} {w.key}"], ACCEPTED
    ),
    "revoked bare, accepted bare": Case(
        lambda w: [f"@revoked 127.0.0.1 {w.key}", f"127.0.0.1 {w.key}"], REVOKED
    ),
    "revoked negated": Case(lambda w: [f"@revoked !{w.at},* {w.key}", f"{w.at} {w.key}"], ACCEPTED),
    "revoked certificate of the key": Case(
        lambda w: [f"@revoked {w.at} {w.cert}", f"{w.at} {w.key}"], REVOKED
    ),
    # @cert-authority: vouches for certificates only; picluster's nodes offer plain keys
    "cert-authority only": Case(lambda w: [f"@cert-authority {w.at} {w.key}"], UNKNOWN),
    "cert-authority and plain": Case(
        lambda w: [f"@cert-authority * {w.key}", f"@cert-authority * {w.other}", f"{w.at} {w.key}"],
        ACCEPTED,
    ),
    "cert-authority, wrong plain": Case(
        lambda w: [f"@cert-authority {w.at} {w.key}", f"{w.at} {w.other}"], CHANGED
    ),
    # Keys of types paramiko does not read, and a certificate where a key goes
    "certificate as a key": Case(lambda w: [f"{w.at} {w.cert}"], CHANGED),
    "security key": Case(lambda w: [f"{w.at} {sk_line(w)}"], CHANGED),
    "security key, bare right": Case(
        lambda w: [f"{w.at} {sk_line(w)}", f"127.0.0.1 {w.key}"], CHANGED
    ),
    # Lines ssh skips
    "garbage only": Case(garbage, UNKNOWN),
    "garbage, then the key": Case(lambda w: [*garbage(w), f"{w.at} {w.key}"], ACCEPTED),
    "garbage, key under the bare name": Case(
        lambda w: [*garbage(w), f"127.0.0.1 {w.key}"], ACCEPTED
    ),
    # Servers with several host keys: ssh asks first for the types on file (order_hostkeyalgs)
    "rsa on file, server has ecdsa and rsa": Case(
        lambda w: [f"{w.at_of('ecdsa-rsa')} {w.server_key('ecdsa-rsa', 'rsa')}"],
        ACCEPTED,
        "ecdsa-rsa",
    ),
    "ecdsa on file, server has ed25519 and ecdsa": Case(
        lambda w: [f"{w.at_of('ed25519-ecdsa')} {w.server_key('ed25519-ecdsa', 'ecdsa')}"],
        ACCEPTED,
        "ed25519-ecdsa",
    ),
    "ed25519 of another and rsa on file, server has ecdsa and rsa": Case(
        lambda w: [
            f"{w.at_of('ecdsa-rsa')} {w.other}",
            f"{w.at_of('ecdsa-rsa')} {w.server_key('ecdsa-rsa', 'rsa')}",
        ],
        CHANGED,
        "ecdsa-rsa",
    ),
}


def openssh(server: sshd.Sshd, known_hosts: Path, host: str) -> Verdict:
    """What the real ssh client decides, from its exit status and its warnings."""
    result = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",  # no ssh_config: OpenSSH's defaults, as known_hosts.py assumes
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "IdentitiesOnly=yes",
            "-p",
            str(server.port),
            "-i",
            str(server.client_key),
            f"root@{host}",
            "true",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if result.returncode == 0:
        return ACCEPTED
    err = result.stderr
    assert "Host key verification failed." in err, err  # refused for its host key, not else
    if "is marked as revoked" in err:
        return REVOKED
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
        return CHANGED
    assert "host key is known for" in err, err
    return UNKNOWN


def picluster(server: sshd.Sshd, known_hosts: Path, host: str) -> Verdict:
    """What ``connect`` decides: a session, or the HostKeyError's reason."""
    login = Target("node1", host, server.port, "root", str(server.client_key), known_hosts)
    try:
        connect(login).close()
    except HostKeyError as exc:
        message = str(exc)
    else:
        return ACCEPTED
    said = {": unknown host key": UNKNOWN, ": host key changed": CHANGED}
    said[": host key revoked"] = REVOKED
    found = [verdict for words, verdict in said.items() if words in message]
    assert len(found) == 1, message
    return found[0]


@pytest.mark.parametrize("name", CASES)
def test_picluster_and_openssh_agree(world: World, name: str) -> None:
    case = CASES[name]
    data = text(case.build(world))
    known_hosts = world.directory / "known_hosts"
    known_hosts.write_bytes(data)
    server = world.servers[case.server]
    assert openssh(server, known_hosts, case.host) == case.expected
    assert picluster(server, known_hosts, case.host) == case.expected
    assert known_hosts.read_bytes() == data  # neither added a key


def test_a_dsa_key_on_file_makes_the_host_known(world: World) -> None:
    if world.dsa is None:
        pytest.skip("this ssh-keygen makes no DSA keys (OpenSSH 10 dropped them)")
    known_hosts = world.directory / "known_hosts"
    known_hosts.write_text(f"{world.at} {world.dsa}\n")
    server = world.servers["one"]
    assert openssh(server, known_hosts, "127.0.0.1") == CHANGED
    assert picluster(server, known_hosts, "127.0.0.1") == CHANGED


def test_a_missing_file_knows_no_host(world: World) -> None:
    missing = world.directory / "absent" / "known_hosts"
    server = world.servers["one"]
    assert openssh(server, missing, "127.0.0.1") == UNKNOWN
    assert picluster(server, missing, "127.0.0.1") == UNKNOWN
    assert not missing.exists()


def test_a_directory_is_refused_by_both_and_picluster_says_why(world: World) -> None:
    directory = world.directory / "a-directory"
    directory.mkdir(exist_ok=True)
    server = world.servers["one"]
    assert openssh(server, directory, "127.0.0.1") == UNKNOWN  # ssh reads no keys from it
    login = Target("node1", "127.0.0.1", server.port, "root", str(server.client_key), directory)
    with pytest.raises(HostKeyError) as caught:
        connect(login)
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{server.port}): cannot read {directory} (Is a directory); "
        "no host key can be checked, so none is trusted"
    )


def keygen_fingerprint(line: str, directory: Path) -> str:
    """The fingerprint ``ssh-keygen -lf`` prints for a public key line."""
    file = directory / "to-fingerprint.pub"
    file.write_text(line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(file)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def test_a_revoked_key_is_refused_naming_the_line_that_revokes_it(world: World) -> None:
    known_hosts = world.directory / "known_hosts"
    known_hosts.write_text(f"{world.at} {world.key}\n# revoked since\n@revoked * {world.key}\n")
    server = world.servers["one"]
    login = Target("node1", "127.0.0.1", server.port, "root", str(server.client_key), known_hosts)
    with pytest.raises(HostKeyError) as caught:
        connect(login)
    offered = keygen_fingerprint(world.key, world.directory)
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{server.port}): host key revoked: the node offers ssh-ed25519 "
        f"{offered}, which {known_hosts}:3 marks @revoked; refused (the key may be stolen: "
        "check the node before trusting any key of it)"
    )


def test_a_changed_key_names_every_key_on_file(world: World) -> None:
    known_hosts = world.directory / "known_hosts"
    known_hosts.write_text(f"{world.at} {world.other}\n* {world.rsa}\n")
    server = world.servers["one"]
    login = Target("node1", "127.0.0.1", server.port, "root", str(server.client_key), known_hosts)
    with pytest.raises(HostKeyError) as caught:
        connect(login)
    offered, other, rsa = (
        keygen_fingerprint(k, world.directory) for k in (world.key, world.other, world.rsa)
    )
    assert str(caught.value) == (
        f"node1 (root@127.0.0.1:{server.port}): host key changed: the node offers ssh-ed25519 "
        f"{offered}, {known_hosts} has {other} and {rsa}; refused "
        "(if the node was reinstalled, check the new key and replace the old line)"
    )

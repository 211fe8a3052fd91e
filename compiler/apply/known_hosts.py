"""known_hosts read and judged as OpenSSH's ssh(1) does: patterns, hashes, ports, markers.

The rules follow sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" and, where the manual is silent, the
code of OpenSSH portable (9.2 to 10.x): ``hostfile.c`` (``hostkeys_foreach_file``,
``check_markers``, ``match_maybe_hashed``, ``check_hostkeys_by_key_or_type``), ``match.c``
(``match_pattern``, ``match_pattern_list``), ``sshkey.c`` (``sshkey_read``), ``misc.c``
(``put_host_port``), ``sshconnect.c`` (``check_host_key``) and ``sshconnect2.c``
(``order_hostkeyalgs``). Every function here is pure: bytes of the file in, a verdict out.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CA_MARKER = "@cert-authority"
REVOKED_MARKER = "@revoked"
DEFAULT_PORT = 22
_HASH_MAGIC = b"|1|"
_SALT_BYTES = 20  # HMAC-SHA1's size: extract_salt refuses any other salt length
_MAX_SUBPATTERN = 1023  # match.c: a longer subpattern makes the whole list not match
_MAX_MARKER = 32  # check_markers' buffer: a longer first word is no marker
_BLANKS = b" \t"
_CERT = "-cert-v01@openssh.com"

# sshkey.c's keyimpls: every key type name a known_hosts line may give, mapped to the key type
# it stands for (rsa-sha2-* name RSA keys; the webauthn name is an ECDSA-SK key). Blob and line
# must name the same type. Built with OpenSSL and security keys, as distributions ship it.
_SAME_AS = {
    "rsa-sha2-256": "ssh-rsa",
    "rsa-sha2-512": "ssh-rsa",
    "rsa-sha2-256" + _CERT: "ssh-rsa" + _CERT,
    "rsa-sha2-512" + _CERT: "ssh-rsa" + _CERT,
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com": "sk-ecdsa-sha2-nistp256@openssh.com",
}
_PLAIN = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
    "ssh-dss",  # dropped in OpenSSH 10.0; 9.x still reads it
)
_KEY_TYPES = frozenset(
    [*_PLAIN, *(t.replace("@openssh.com", "") + _CERT for t in _PLAIN), *_SAME_AS]
)


class Verdict(enum.Enum):
    """What known_hosts says of the key a host offers (sshconnect.c's HOST_* outcomes)."""

    ACCEPTED = "accepted"  # a line for the host holds this very key
    UNKNOWN = "unknown"  # no line for the host holds a plain key (HOST_NEW)
    CHANGED = "changed"  # lines for the host hold other keys only (HOST_CHANGED)
    REVOKED = "revoked"  # an @revoked line for the host holds this key


@dataclass(frozen=True)
class Entry:
    """One valid line that applies to the name looked up."""

    line: int  # 1-based
    marker: str  # "", CA_MARKER or REVOKED_MARKER
    key_type: str  # the type the key is (``ssh-rsa`` for a line that says ``rsa-sha2-256``)
    blob: bytes  # the key as the line gives it
    public: bytes | None  # the plain public key, when paramiko reads the type
    exact: bool  # a plain key, written as OpenSSH writes it (one that can be equal to another)

    @property
    def fingerprint(self) -> str:
        """``SHA256:…`` as ssh-keygen prints it (of the plain key, for a certificate)."""
        return fingerprint(self.public or self.blob)


@dataclass(frozen=True)
class Decision:
    """The verdict on one offered key, and what explains it."""

    verdict: Verdict
    line: int = 0  # the accepting or revoking line
    known: tuple[str, ...] = ()  # fingerprints of the host's keys on file (CHANGED)


def fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob: ``SHA256:<base64 without padding>``."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def lookup_name(host: str, port: int) -> str:
    """The name ssh looks up: the host in lower case, ``[host]:port`` unless the port is 22.

    misc.c ``put_host_port``; ssh_login lowercases the host first (ASCII only, as C's tolower).
    """
    lower = _lower(host.encode()).decode()
    return lower if port in (0, DEFAULT_PORT) else f"[{lower}]:{port}"


def decide(data: bytes, host: str, port: int, offered: bytes) -> Decision:
    """The verdict of known_hosts ``data`` on the key blob ``offered`` by ``host``:``port``.

    As ssh with ``StrictHostKeyChecking yes`` and the default ``CheckHostIP no``: a key unknown
    under ``[host]:port`` is looked up again under the bare host (sshconnect.c, "checking
    without port identifier"), where only an equal key counts.
    """
    name = lookup_name(host, port)
    decision = check(load(data, name), offered)
    if decision.verdict is Verdict.UNKNOWN and name != lookup_name(host, DEFAULT_PORT):
        bare = check(load(data, lookup_name(host, DEFAULT_PORT)), offered)
        if bare.verdict in (Verdict.ACCEPTED, Verdict.REVOKED):
            return bare
    return decision


def check(entries: Iterable[Entry], offered: bytes) -> Decision:
    """hostfile.c ``check_key_in_hostkeys`` for a plain key: a revoked key is refused even
    where another line accepts it; @cert-authority lines vouch for certificates only."""
    entries = list(entries)
    for e in entries:
        if e.marker == REVOKED_MARKER and e.public == offered:
            return Decision(Verdict.REVOKED, e.line)
    plain = [e for e in entries if not e.marker]
    for e in plain:
        if e.exact and e.public == offered:
            return Decision(Verdict.ACCEPTED, e.line)
    if plain:
        return Decision(Verdict.CHANGED, known=tuple(dict.fromkeys(e.fingerprint for e in plain)))
    return Decision(Verdict.UNKNOWN)


def preferred_algorithms(data: bytes, host: str, port: int, algorithms: Sequence[str]) -> list[str]:
    """``algorithms`` (host key algorithms, best first) as ssh orders them for ``host``:``port``
    (sshconnect2.c ``order_hostkeyalgs``), so a server with several host keys offers one on file.

    Unchanged when the best one's key type is on file; otherwise the algorithms of the key
    types on file move to the front, each group in its own order.
    """
    known = {e.key_type for e in load(data, lookup_name(host, port)) if not e.marker and e.exact}
    if not algorithms or _same_type(algorithms[0]) in known:
        return list(algorithms)
    first = [a for a in algorithms if _same_type(a) in known]
    return first + [a for a in algorithms if a not in first]


def load(data: bytes, name: str) -> list[Entry]:
    """The valid lines of known_hosts ``data`` whose hosts match ``name`` (``load_hostkeys``).

    Blank lines, comments and lines OpenSSH cannot parse (an unknown marker or key type, a
    missing or undecodable key, a bad hash) are skipped, as ssh skips them.
    """
    wanted = name.encode()
    found = []
    # getline splits at "\n" only, and C stops each line at a NUL.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        entry = _entry(raw.split(b"\0", 1)[0], number, wanted)
        if entry is not None:
            found.append(entry)
    return found


def _entry(raw: bytes, number: int, name: bytes) -> Entry | None:
    text = raw.lstrip(_BLANKS)
    if not text or text.startswith(b"#"):
        return None
    marked = _marker(text)
    if marked is None:
        return None
    marker, text = marked
    hosts, sep, rest = _split(text)
    if not sep or not _host_matches(name, hosts):
        return None
    rest = rest.lstrip(_BLANKS)
    if not rest or rest.startswith(b"#"):
        return None
    key = _key(rest)
    if key is None:
        return None
    key_type, blob, public, exact = key
    return Entry(number, marker, key_type, blob, public, exact)


def _marker(text: bytes) -> tuple[str, bytes] | None:
    """hostfile.c ``check_markers``: at most one marker, ended by the line's first space (or,
    without one, its first tab); None for an invalid marker, which skips the line."""
    marker = ""
    while text.startswith(b"@"):
        if marker:
            return None
        end = text.find(b" ")
        if end < 0:
            end = text.find(b"\t")
        if end <= 1 or end >= _MAX_MARKER:
            return None
        word = text[:end].decode("latin-1")
        if word not in (CA_MARKER, REVOKED_MARKER):
            return None
        marker, text = word, text[end:].lstrip(_BLANKS)
    return marker, text


def _split(text: bytes) -> tuple[bytes, bool, bytes]:
    """The first field, whether a blank follows it, and the rest."""
    for i, byte in enumerate(text):
        if byte in _BLANKS:
            return text[:i], True, text[i + 1 :]
    return text, False, b""


def _host_matches(name: bytes, hosts: bytes) -> bool:
    """hostfile.c ``match_maybe_hashed``: one hashed name, or a pattern list."""
    if hosts.startswith(b"|"):
        return _hash_matches(name, hosts)
    return _pattern_list(_lower(name), hosts) == 1


def _hash_matches(name: bytes, hosts: bytes) -> bool:
    """``|1|base64(salt)|base64(HMAC-SHA1(salt, name))``, compared as OpenSSH re-encodes it."""
    if not hosts.startswith(_HASH_MAGIC):
        return False
    encoded, sep, _ = hosts[len(_HASH_MAGIC) :].partition(b"|")
    if not sep or not 0 < len(encoded) <= 1024:
        return False
    salt = _b64decode(encoded)
    if salt is None or len(salt) != _SALT_BYTES:
        return False
    digest = hmac.new(salt, name, hashlib.sha1).digest()
    return hosts == _HASH_MAGIC + base64.b64encode(salt) + b"|" + base64.b64encode(digest)


def _pattern_list(name: bytes, patterns: bytes) -> int:
    """match.c ``match_pattern_list``: -1 when a negated pattern matches (the line does not
    apply, whatever else matches), 1 when a plain one does, 0 otherwise."""
    positive = False
    i = 0
    while i < len(patterns):
        negated = patterns[i : i + 1] == b"!"
        if negated:
            i += 1
        end = patterns.find(b",", i)
        end = len(patterns) if end < 0 else end
        sub = patterns[i:end]
        if len(sub) >= _MAX_SUBPATTERN:
            return 0
        i = end + 1
        if _glob(name, _lower(sub)):
            if negated:
                return -1
            positive = True
    return 1 if positive else 0


def _glob(text: bytes, pattern: bytes) -> bool:
    """match.c ``match_pattern``: ``*`` any run, ``?`` any one byte, all else literal; run as
    OpenSSH 10 runs it, a set of pattern positions, so no pattern takes exponential time."""
    star, any_one = ord("*"), ord("?")

    def closure(states: set[int]) -> set[int]:
        for i, p in enumerate(pattern):  # a '*' may match nothing: also be past it
            if i in states and p == star:
                states.add(i + 1)
        return states

    states = closure({0})
    for byte in text:
        moved: set[int] = set()
        for i in states:
            if i == len(pattern):
                continue
            if pattern[i] == star:
                moved.add(i)
            elif pattern[i] in (any_one, byte):
                moved.add(i + 1)
        states = closure(moved)
        if not states:
            return False
    return len(pattern) in states


def _key(text: bytes) -> tuple[str, bytes, bytes | None, bool] | None:
    """sshkey.c ``sshkey_read``: a known type, blanks, a base64 key blob of that type; then
    (the key's type, the blob, its plain public key, whether it is exact); None skips the line."""
    declared, sep, rest = _split(text)
    kind = declared.decode("latin-1")
    if not sep or kind not in _KEY_TYPES:
        return None
    token = _split(rest.lstrip(_BLANKS))[0]
    blob = _b64decode(token) if token else None
    if blob is None or _same_type(_blob_type(blob)) != _same_type(kind):
        return None
    read = _read_public(kind, blob)
    if read is None:
        # A type paramiko does not read (security keys, DSA) is still a key on file: never
        # equal to an offered key, it makes the host known, as it does for ssh.
        return (_same_type(kind), blob, None, False) if _foreign(kind) else None
    key_type, public = read
    if kind.endswith(_CERT):
        # A certificate is no plain key (sshkey_equal compares types), but @revoked on it
        # revokes the key it certifies (sshkey_equal_public).
        return key_type + _CERT, blob, public, False
    if key_type != _same_type(kind):
        return None  # the line names another curve than the blob holds
    # Written as OpenSSH writes it, else skipped: OpenSSH refuses trailing or missing bytes
    # that paramiko would ignore or pad with zeros.
    return (key_type, blob, public, True) if public == blob else None


def _read_public(kind: str, blob: bytes) -> tuple[str, bytes] | None:
    """The type and plain public blob of a key (or certificate) paramiko reads, else None."""
    import paramiko  # type: ignore[import-untyped]

    try:
        # A class that reads a key type reads its certificates too, given the key's name.
        key = paramiko.PKey.from_type_string(kind.removesuffix(_CERT), blob)
        return str(key.get_name()), bytes(key.asbytes())
    except Exception:  # any failure to parse bytes from a file skips the line, as in ssh
        return None


def _foreign(kind: str) -> bool:
    """A type OpenSSH reads and paramiko does not (``PKey.from_type_string``'s classes)."""
    import paramiko

    plain = kind.removesuffix(_CERT)
    return not any(plain in c.identifiers() for c in paramiko.key_classes)


def _same_type(kind: str) -> str:
    return _SAME_AS.get(kind, kind)


def _blob_type(blob: bytes) -> str:
    """The type name a key blob starts with (an SSH string), or "" when it has none."""
    if len(blob) < 4:
        return ""
    (size,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + size].decode("latin-1") if size <= len(blob) - 4 else ""


def _b64decode(token: bytes) -> bytes | None:
    # b64_pton skips white space (a CRLF file's "\r" too) and refuses anything else not base64.
    try:
        return base64.b64decode(b"".join(token.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _lower(data: bytes) -> bytes:
    return data.lower()  # bytes.lower() maps A-Z only, as tolower in the C locale

"""known_hosts.py against what OpenSSH documents and does: sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT",
and where the manual is silent the code it cites (hostfile.c, match.c, sshconnect.c).

The keys, fingerprints and hashed names below were made by OpenSSH 9.2's ssh-keygen (``-t``,
``-lf``, ``-H``); tests/integration/test_known_hosts_openssh.py asks the real ssh client the
same questions about files like these.
"""

from __future__ import annotations

import base64
import struct

import pytest

from compiler.apply.known_hosts import (
    Decision,
    Verdict,
    decide,
    fingerprint,
    load,
    lookup_name,
    preferred_algorithms,
)

A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPHriYSmMMNtm1PEAJepJa92HmBuN7Od7SosacmfKhGv"
B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILFtaFFPB5khpfm1hi1fPBnJ9cPWJuvnNBTDa70wWGMg"
C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICMLsh46/JUAXkEyk3MAOA5KD1nFRrgVbmtLr7Wa5D/z"
EC = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPeyCGDJOl4d7H+tBv1/"
    "DAQAfCkOyAeQtB/i6PXfWAZ/K4FuU9xGV2/4HzxlV/vwR/y74jKj3dp19kPF7glnLZE="
)
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC/Ws3QPAVVkM94xY/J73oAzmHq96+jpxxj9tRSZxf6poKkmgjX+/+y"
    "DAFnerK6skVBB0hlqMqsNQqUB01dPtkvT7N+Thu9pGz6PSdkdKSZlYyElODGldHMnq0dcu0ogTxQcK2PUzCg5qsjXjVL"
    "95BzShw0aAGO4tm8M1TzMtyo+w=="
)
# ssh-keygen -lf
FP_A = "SHA256:dtLQoHsGGmuUgp1q5eD7hRYXsAm9Ptlj2gB4WmQSEns"
FP_B = "SHA256:y/rZjZKdHdo9BQ9Xg+9vVQiDBizeqkI/gb7H+BASHzY"
FP_C = "SHA256:HOgpIpa8nGRJHfGi4XODR5m14DKcUQlz8E4pnHUao/g"
FP_RSA = "SHA256:BHy9t7RBO9BbCf/uAyO127ybhHVdy47Sj0q2vJheyTs"
# ssh-keygen -H of "node1.lan" and of "[node1.lan]:2222"
HASHED = "|1|dzmGEVitBClAzlh2536MpDD/3q0=|3Z/NovAWh8FYNgWZ4s9D8MOGq00="
HASHED_2222 = "|1|eJ7yDHKzgUBIso/ETp6MzfcrZYQ=|VjqFXxTUtogmWVAiT6Ek+kO/7hs="

ACCEPTED, UNKNOWN, CHANGED, REVOKED = (
    Verdict.ACCEPTED,
    Verdict.UNKNOWN,
    Verdict.CHANGED,
    Verdict.REVOKED,
)


def blob(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


def verdict(
    text: str | bytes, offered: str = A, host: str = "node1.lan", port: int = 22
) -> Verdict:
    data = text.encode() if isinstance(text, str) else text
    return decide(data, host, port, blob(offered)).verdict


def test_the_name_looked_up_is_the_host_or_host_and_port() -> None:
    # misc.c put_host_port: the default port is not written; ssh lowercases the host first.
    assert lookup_name("Node1.LAN", 22) == "node1.lan"
    assert lookup_name("node1.lan", 2222) == "[node1.lan]:2222"
    assert lookup_name("::1", 2222) == "[::1]:2222"


def test_fingerprints_are_those_ssh_keygen_prints() -> None:
    assert fingerprint(blob(A)) == FP_A
    assert fingerprint(blob(RSA)) == FP_RSA


def test_a_line_with_the_key_accepts_it_and_says_which_line() -> None:
    text = f"# comment\n\n   \n  \tnode1.lan {A} a comment\n"
    assert decide(text.encode(), "node1.lan", 22, blob(A)) == Decision(ACCEPTED, line=4)


def test_no_line_for_the_host_leaves_its_key_unknown() -> None:
    assert verdict("") == UNKNOWN
    assert verdict(f"node2.lan {A}\n") == UNKNOWN


def test_other_keys_for_the_host_mean_it_changed_and_name_them() -> None:
    text = f"node1.lan {B}\nnode1.lan,node2.lan {RSA}\n*.lan {B}\nnode2.lan {C}\n"
    assert decide(text.encode(), "node1.lan", 22, blob(A)) == Decision(
        CHANGED, known=(FP_B, FP_RSA)
    )


def test_any_of_several_keys_accepts() -> None:
    # sshd(8): "authentication is accepted if any matching line has the proper key".
    assert verdict(f"node1.lan {B}\nnode1.lan {RSA}\nnode1.lan {A}\nnode1.lan {C}\n") == ACCEPTED


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ("node1.lan", ACCEPTED),
        ("NODE1.Lan", ACCEPTED),  # match_hostname lowercases the patterns
        ("10.0.0.1,node1.lan,node1", ACCEPTED),
        ("*", ACCEPTED),
        ("*.lan", ACCEPTED),
        ("node?.lan", ACCEPTED),
        ("node1.lan*", ACCEPTED),  # '*' also matches nothing
        ("n*1*.l*n", ACCEPTED),
        ("node??.lan", UNKNOWN),  # '?' is exactly one character
        ("node1", UNKNOWN),
        ("node[1].lan", UNKNOWN),  # no character classes: '[' is literal
        ("node1.lan.", UNKNOWN),
    ],
)
def test_host_patterns(hosts: str, expected: Verdict) -> None:
    assert verdict(f"{hosts} {A}\n") == expected


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        # sshd(8): "if the host name matches a negated pattern, it is not accepted (by that
        # line) even if it matched another pattern on the line".
        ("!node1.lan,node1.lan", UNKNOWN),
        ("node1.lan,!node1.lan", UNKNOWN),
        ("!*.lan,*", UNKNOWN),
        ("!node1.lan", UNKNOWN),  # a negated pattern alone never makes a line apply
        ("!node2.lan", UNKNOWN),
        ("!node2.lan,*.lan", ACCEPTED),
        ("!NODE1.LAN,*", UNKNOWN),
    ],
)
def test_negated_patterns(hosts: str, expected: Verdict) -> None:
    assert verdict(f"{hosts} {A}\n") == expected


def test_a_line_a_negation_excludes_is_not_a_known_key() -> None:
    assert verdict(f"!node1.lan,* {B}\n") == UNKNOWN
    assert verdict(f"!node1.lan,* {B}\nnode1.lan {A}\n") == ACCEPTED


def test_a_non_standard_port_is_written_in_brackets() -> None:
    assert verdict(f"[node1.lan]:2222 {A}\n", port=2222) == ACCEPTED
    assert verdict(f"[node1.lan]:2222 {A}\n", port=22) == UNKNOWN
    assert verdict(f"[node1.lan]:2223 {A}\n", port=2222) == UNKNOWN
    assert verdict(f"[node1.lan]:* {A}\n", port=2222) == ACCEPTED


def test_port_22_is_written_as_the_bare_host() -> None:
    # put_host_port writes no port for 22, so "[host]:22" is a name ssh never looks up.
    assert verdict(f"[node1.lan]:22 {A}\n", port=22) == UNKNOWN
    assert verdict(f"node1.lan {A}\n", port=22) == ACCEPTED


def test_a_key_unknown_under_host_and_port_is_looked_up_under_the_host() -> None:
    # sshconnect.c check_host_key: HOST_NEW with a port → "checking without port identifier";
    # only a matching key counts there.
    assert verdict(f"node1.lan {A}\n", port=2222) == ACCEPTED
    assert verdict(f"node1.lan {B}\n", port=2222) == UNKNOWN
    assert verdict(f"[node1.lan]:2222 {B}\nnode1.lan {A}\n", port=2222) == CHANGED


def test_hashed_names() -> None:
    assert verdict(f"{HASHED} {A}\n") == ACCEPTED
    assert verdict(f"{HASHED} {A}\n", host="NODE1.lan") == ACCEPTED
    assert verdict(f"{HASHED_2222} {A}\n", port=2222) == ACCEPTED
    assert verdict(f"{HASHED} {A}\n", port=2222) == ACCEPTED  # the bare host, hashed
    assert verdict(f"{HASHED} {B}\n") == CHANGED
    assert verdict(f"{HASHED} {A}\n", host="node2.lan") == UNKNOWN
    # sshd(8): "Only one hashed hostname may appear on a single line and none of the above
    # negation or wildcard operators may be applied."
    assert verdict(f"{HASHED},node1.lan {A}\n") == UNKNOWN
    assert verdict(f"node2.lan,{HASHED} {A}\n") == UNKNOWN


@pytest.mark.parametrize(
    "hosts",
    [
        "|1|bad|hash",
        "|1|" + base64.b64encode(b"x" * 16).decode() + "|" + HASHED.split("|")[3],  # salt size
        "|2|" + HASHED[3:],
        HASHED[:-2] + "A=",
        "|1|",
    ],
)
def test_a_broken_hash_matches_nothing(hosts: str) -> None:
    assert verdict(f"{hosts} {B}\nnode1.lan {A}\n") == ACCEPTED


def test_a_revoked_key_is_refused_even_where_another_line_accepts_it() -> None:
    # sshd(8): revoked keys "are never accepted".
    text = f"node1.lan {A}\n@revoked * {A}\n"
    assert decide(text.encode(), "node1.lan", 22, blob(A)) == Decision(REVOKED, line=2)
    assert verdict(f"@revoked node1.lan {A}\n") == REVOKED
    assert verdict(f"@revoked {HASHED} {A}\nnode1.lan {A}\n") == REVOKED


def test_a_revocation_applies_to_its_key_and_its_hosts_only() -> None:
    assert verdict(f"@revoked node1.lan {B}\nnode1.lan {A}\n") == ACCEPTED
    assert verdict(f"@revoked node2.lan {A}\nnode1.lan {A}\n") == ACCEPTED
    assert verdict(f"@revoked !node1.lan,* {A}\nnode1.lan {A}\n") == ACCEPTED
    # A revoked line names no known key: alone, the host is unknown for another key.
    assert verdict(f"@revoked node1.lan {B}\n") == UNKNOWN


def test_revocation_under_the_bare_host_applies_when_it_is_looked_up() -> None:
    assert verdict(f"@revoked node1.lan {A}\n[node1.lan]:2222 {A}\n", port=2222) == ACCEPTED
    assert verdict(f"@revoked node1.lan {A}\nnode1.lan {A}\n", port=2222) == REVOKED


def test_a_cert_authority_line_vouches_for_no_plain_key() -> None:
    # sshd(8): a CA key is used when "the server has presented a certificate"; a node offering
    # a plain key is judged by the plain lines only.
    assert verdict(f"@cert-authority node1.lan {A}\n") == UNKNOWN
    assert verdict(f"@cert-authority * {B}\nnode1.lan {A}\n") == ACCEPTED
    assert verdict(f"@cert-authority node1.lan {A}\nnode1.lan {B}\n") == CHANGED


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SKIPPED = [
    "garbage",
    "node1.lan",  # no key type
    "node1.lan   ",
    f"node1.lan {A.split()[0]}",  # no key
    f"node1.lan {A.split()[0]} ",
    f"node1.lan {A.split()[0]} !!!",
    f"node1.lan {A.split()[0]} {A.split()[1][:-1]}",  # padding lost
    f"node1.lan {A.split()[0]} {b64(blob(A)[:-4])}",  # truncated key
    f"node1.lan {A.split()[0]} {b64(blob(A) + b'more')}",  # bytes after the key
    f"node1.lan ssh-XXX {A.split()[1]}",  # unknown type
    f"node1.lan ssh-rsa {A.split()[1]}",  # the line's type is not the blob's
    f"node1.lan ecdsa-sha2-nistp384 {EC.split()[1]}",  # another curve
    f"node1.lan # {A}",
    f"@what node1.lan {A}",  # an unknown marker
    f"@revoked @cert-authority node1.lan {A}",  # only one marker
    f"@ node1.lan {A}",
    f"@revoked\tnode1.lan {A}",  # a marker ends at the line's first space: "@revoked\tnode1.lan"
    "@revoked",
    f"{'x' * 1023},node1.lan {A}",  # a pattern of 1023 bytes: the whole list matches nothing
    f"xx\0node1.lan {A}",  # C stops at the NUL
    "\xff\xfe binary",
]


@pytest.mark.parametrize("line", SKIPPED)
def test_lines_ssh_cannot_parse_are_skipped(line: str) -> None:
    data = line.encode("latin-1") + b"\n"
    assert load(data, "node1.lan") == []
    assert verdict(data) == UNKNOWN
    assert verdict(data + f"node1.lan {A}\n".encode()) == ACCEPTED


def test_readable_oddities_are_read() -> None:
    assert verdict(f"node1.lan {A} caf\xe9\n".encode("latin-1")) == ACCEPTED
    assert verdict(f"node1.lan {A}\r\nnode2.lan {B}\r\n") == ACCEPTED  # b64_pton skips "\r"
    assert verdict(f"node1.lan {A}\0 junk\n") == ACCEPTED
    assert verdict(f"node1.lan\t{A.replace(' ', chr(9))}\n") == ACCEPTED
    assert verdict(f"@revoked\tnode1.lan\t{A.replace(' ', chr(9))}\nnode1.lan {A}\n") == REVOKED
    assert verdict(f"{'x' * 1022},node1.lan {A}\n") == ACCEPTED
    assert verdict(f"node1.lan rsa-sha2-512 {RSA.split()[1]}\n", offered=RSA) == ACCEPTED


def test_keys_paramiko_does_not_read_still_make_the_host_known() -> None:
    pk = blob(A)[4 + len("ssh-ed25519") + 4 :]
    sk = ssh_string(b"sk-ssh-ed25519@openssh.com") + ssh_string(pk) + ssh_string(b"ssh:")
    assert verdict(f"node1.lan sk-ssh-ed25519@openssh.com {b64(sk)}\n") == CHANGED
    assert verdict(f"node1.lan sk-ssh-ed25519@openssh.com {b64(b'x')}\n") == UNKNOWN


def test_a_pattern_that_backtracking_would_take_ages_on_is_matched_at_once() -> None:
    # 9.2's match.c matched recursively: "*a" 40 times against 80 "a"s then "b" would not end.
    host = "a" * 80 + "b"
    assert verdict(f"{'*a' * 40}c {A}\n", host=host) == UNKNOWN
    assert verdict(f"{'*a' * 40}* {A}\n", host=host) == ACCEPTED


DEFAULT = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
]


def test_the_algorithms_of_keys_on_file_go_first() -> None:
    # sshconnect2.c order_hostkeyalgs.
    assert preferred_algorithms(f"node1.lan {RSA}\n".encode(), "node1.lan", 22, DEFAULT) == [
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp521",
    ]
    text = f"node1.lan {RSA}\nnode1.lan {EC}\n@revoked node1.lan {A}\n@cert-authority * {A}\n"
    assert preferred_algorithms(text.encode(), "node1.lan", 22, DEFAULT)[:3] == [
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ]


def test_the_algorithms_stay_as_they_are_when_the_best_one_is_on_file_or_none_is() -> None:
    text = f"node1.lan {RSA}\nnode1.lan {A}\n".encode()
    assert preferred_algorithms(text, "node1.lan", 22, DEFAULT) == DEFAULT
    assert preferred_algorithms(b"", "node1.lan", 22, DEFAULT) == DEFAULT
    # Only the name with the port counts here, as in ssh.
    assert (
        preferred_algorithms(f"node1.lan {RSA}\n".encode(), "node1.lan", 2222, DEFAULT) == DEFAULT
    )

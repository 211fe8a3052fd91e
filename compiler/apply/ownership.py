"""picluster's ownership record in Vault: what it created, and what each object was when it
last wrote it.

The record is a KV v2 document, ``picluster/ownership``, on a mount of picluster's own. Anyone
who can write it could make ``--prune`` delete what they name, so it is read as hostile input:
every name is checked against the grammar of its kind and every field against its type, and a
record that is not one picluster wrote is refused as a whole (nothing is deleted). Each entry
holds a fingerprint of the object as picluster left it (a hash of a policy's text or a role's
fields, a mount's accessor, which Vault makes new for every mount): an object changed or
recreated by hand since no longer matches, and is kept, not deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecordError

FORMAT = 2  # format 1 (names only) is read, and its entries carry no fingerprint
MOUNT = "picluster"
PATH = f"{MOUNT}/data/ownership"
NAME = "picluster/ownership"
KINDS = ("secrets_engine", "policy", "auth_method", "kubernetes_role")

_MOUNT = r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?(/[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*"
# The grammar of each kind's names, as the spec's own types allow them.
_GRAMMAR = {
    "secrets_engine": re.compile(rf"{_MOUNT}/\Z"),
    "auth_method": re.compile(rf"{_MOUNT}/\Z"),
    "policy": re.compile(r"[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?\Z"),
    "kubernetes_role": re.compile(rf"{_MOUNT}/[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?\Z"),
}
_FINGERPRINT = re.compile(r"(sha256:[0-9a-f]{64}|accessor:[A-Za-z0-9_.-]{1,128})\Z")
_JWT_SHA = re.compile(r"[0-9a-f]{64}\Z")


def text_fingerprint(text: str) -> str:
    """A policy as written: Vault stores and returns the text exactly."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def fields_fingerprint(fields: dict[str, Any]) -> str:
    """A role's fields, compared as the planner compares them (lists in any order)."""
    canonical = {k: sorted(v) if isinstance(v, list) else v for k, v in fields.items()}
    return text_fingerprint(json.dumps(canonical, sort_keys=True))


def mount_fingerprint(mount: dict[str, Any]) -> str | None:
    """A secrets engine or auth method: its accessor, new for every mount made."""
    accessor = mount.get("accessor")
    return f"accessor:{accessor}" if isinstance(accessor, str) and accessor else None


@dataclass
class Ownership:
    """What picluster created: kind -> name -> fingerprint (None: recorded by format 1), and
    the reviewer JWT's SHA-256 per auth path."""

    objects: dict[str, dict[str, str | None]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    jwt: dict[str, str] = field(default_factory=dict)

    def owns(self, kind: str, name: str) -> bool:
        return name in self.objects[kind]

    def body(self) -> dict[str, Any]:
        """The KV v2 write that stores the record."""
        objects = {k: dict(sorted(v.items())) for k, v in self.objects.items() if v}
        return {"data": {"format": FORMAT, "objects": objects, "jwt_sha256": dict(self.jwt)}}

    def copy(self) -> Ownership:
        return Ownership({k: dict(v) for k, v in self.objects.items()}, dict(self.jwt))

    def count(self) -> int:
        return sum(len(v) for v in self.objects.values())


def parse(record: Any) -> Ownership:
    """The record as read from Vault (its ``data``), or an empty one when there is none.

    Raises:
        RecordError: the record is malformed, or names something no kind's grammar allows.
    """
    if record is None:
        return Ownership()
    if not isinstance(record, dict):
        raise _refused("it is not a mapping")
    version = record.get("format")
    objects = record.get("objects", {})
    jwt = record.get("jwt_sha256", {})
    if version not in (1, FORMAT) or isinstance(version, bool):
        raise _refused(f"format {json.dumps(version)[:20]} is not one picluster writes")
    if not isinstance(objects, dict) or not isinstance(jwt, dict):
        raise _refused("objects and jwt_sha256 must be mappings")
    found = Ownership()
    for kind, entries in objects.items():
        if kind not in _GRAMMAR:
            raise _refused(f"{str(kind)[:40]!r} is not a kind picluster records")
        if version == 1 and isinstance(entries, list):
            entries = dict.fromkeys(entries)
        if not isinstance(entries, dict):
            raise _refused(f"the {kind} entries must be a mapping")
        for name, mark in entries.items():
            if not isinstance(name, str) or not _GRAMMAR[kind].match(name):
                raise _refused(f"{str(name)[:80]!r} is not a {kind.replace('_', ' ')} name")
            if mark is not None and not (isinstance(mark, str) and _FINGERPRINT.match(mark)):
                raise _refused(f"the fingerprint of {kind.replace('_', ' ')} {name} is malformed")
            found.objects[kind][name] = mark
    for path, digest in jwt.items():
        if not (isinstance(path, str) and _GRAMMAR["auth_method"].match(f"{path}/")):
            raise _refused(f"{str(path)[:80]!r} is not an auth path")
        if not (isinstance(digest, str) and _JWT_SHA.match(digest)):
            raise _refused(f"the JWT fingerprint of {path} is malformed")
        found.jwt[path] = digest
    return found


def _refused(why: str) -> RecordError:
    return RecordError(
        f"{NAME}: not a record picluster wrote ({why}); nothing was changed. Look at it "
        f"(`bao kv get {NAME}`); delete it to start afresh, and picluster then owns nothing"
    )

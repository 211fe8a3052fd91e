"""Constrained scalars of the spec, and the base model every section uses.

Strings that end up in a generated file are either constrained here (paths, names, hosts: a
located error on anything odd) or escaped by the target format's filter (``render.py``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)


def _matching(regex: str, what: str) -> tuple[AfterValidator, Field]:  # type: ignore[valid-type]
    """A validator with a readable message, and the same pattern in the JSON Schema."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise ValueError(f"{shown!r} is not {what}")
        return value

    return AfterValidator(check), Field(description=what, json_schema_extra={"pattern": regex})


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

Name = Annotated[str, *_matching(DNS_LABEL, "a DNS-1123 label (a-z, 0-9, '-'; at most 63)")]

UnixName = Annotated[str, *_matching(r"^[a-z_][a-z0-9_-]{0,30}$", "a Unix user name")]

Port = Annotated[int, Field(ge=1, le=65535)]

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str:
    if (
        len(value) > 253
        or not value
        or not all(_HOST_LABEL.match(label) for label in value.rstrip(".").split("."))
    ):
        raise ValueError(
            f"{value!r} is not a valid DNS name (letters, digits and '-' between dots)"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return value.lower()
    raise ValueError(f"{value!r} is an IP address; put it in an address field")


Hostname = Annotated[
    str,
    AfterValidator(_hostname),
    Field(description="A DNS name (RFC 1123).", json_schema_extra={"format": "hostname"}),
]

_SAFE_PATH = re.compile(r"^/([A-Za-z0-9._@+-]+/?)*$")


def _abs_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if not _SAFE_PATH.match(value) or "//" in value:
        raise ValueError(
            f"{value!r}: a path may hold only letters, digits and . _ @ + - between slashes"
        )
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise ValueError(f"{value!r} must not contain '.' or '..' components")
    return value.rstrip("/") or "/"


AbsPath = Annotated[
    str,
    AfterValidator(_abs_path),
    Field(description="An absolute path on the node, without spaces or shell metacharacters."),
]

Duration = Annotated[
    str,
    *_matching(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", "a duration such as 90s, 15m or 12h"),
]

Version = Annotated[
    str,
    *_matching(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$", "a release version such as 1.18.3"),
]

PolicyName = Annotated[
    str,
    *_matching(
        r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$", "a policy name (a-z, 0-9, '.', '_', '-')"
    ),
]

MountPath = Annotated[
    str,
    *_matching(
        r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(/[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$",
        "a mount path such as secret or kv/apps (no leading or trailing '/')",
    ),
]

_TEMPLATE_ROOTS = ("identity.entity.", "identity.groups.", "time.")


def _policy_path(value: str) -> str:
    """The rules OpenBao applies to a rule path when it stores a policy, checked here so that a
    policy is never refused, or a rule silently dropped, at apply time.

    From ``internal/vault/policy/policy.go`` (``parsePaths``) and
    ``sdk/helper/identitytpl/templating.go`` (``PopulateString``, ``performTemplating``):
    ``{{`` and ``}}`` always delimit an identity template, and one that does not name an
    ``identity.`` or ``time.`` value never resolves, so its rule applies to no request.
    """
    if re.search("[\ud800-\udfff]", value):
        raise ValueError(f"{value!r} holds a lone surrogate, which UTF-8 cannot encode")
    if "+*" in value:
        raise ValueError(f"{value!r}: '+*' is not allowed in a policy path (OpenBao refuses it)")
    pieces = value.split("{{")
    if "}}" in pieces[0] or any(piece.count("}}") != 1 for piece in pieces[1:]):
        raise ValueError(
            f"{value!r}: unbalanced '{{{{' and '}}}}'; in a policy path they enclose an "
            "identity template such as {{identity.entity.id}}"
        )
    for piece in pieces[1:]:
        name = piece.split("}}")[0].strip()
        if not name.startswith(_TEMPLATE_ROOTS):
            raise ValueError(
                f"{value!r}: {{{{{name}}}}} is not an identity template (identity.entity.*, "
                "identity.groups.* or time.*), so the rule would never apply"
            )
    return value


PolicyPath = Annotated[
    str,
    *_matching(r"^[^\x00-\x1f\x7f]{1,512}$", "an API path pattern (no control characters)"),
    AfterValidator(_policy_path),
]

# Each server knows all but one of these: HashiCorp Vault has subscribe (event streams),
# OpenBao has scan (recursive listing); the cross-reference check refuses the other's.
Capability = Literal[
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "scan"
]

SubjectText = Annotated[
    str, *_matching(r"^[^\x00-\x1f\x7f]{1,64}$", "1 to 64 characters, no control characters")
]


class Model(BaseModel):
    # strict: no silent coercion of "8200" or true to a number, or of "yes" or 1 to a boolean.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


LocalPath = Annotated[
    str,
    *_matching(
        r"^[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*$|^/([A-Za-z0-9._@+-]+/?)*$",
        "a file path on this machine (relative to the spec, no spaces or shell characters)",
    ),
]

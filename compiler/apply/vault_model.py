"""The data of a Vault plan: the current state as read, the steps, the plan itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .ownership import Ownership

JWT_PLACEHOLDER = "<token_reviewer_jwt>"  # the executor puts the JWT here; the plan never has it
KINDS = ("secrets_engine", "policy", "auth_method", "kubernetes_role")
LABELS = {
    "secrets_engine": "secrets engine",
    "policy": "policy",
    "auth_method": "auth method",
    "kubernetes_config": "kubernetes config",
    "kubernetes_role": "kubernetes role",
    "ownership_record": "ownership record",
}

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Current:
    """The server as read by ``vault_state`` (the shapes Vault's API answers with)."""

    mounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # path (no '/') -> mount
    auth: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> auth mount
    policies: dict[str, str] = field(default_factory=dict)  # name -> policy text
    k8s_config: dict[str, Any] | None = None  # auth/<path>/config, None when unset
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # "path/name" -> role
    record: Ownership | None = None  # the ownership record, checked; None when absent
    kv: dict[str, bool | None] = field(default_factory=dict)  # "mount/key" -> exists?
    # Engines a prune would unmount: how many keys each holds (None: the token may not list).
    keys: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Step:
    """One object to create, update or delete, and the one request that does it."""

    action: Action
    kind: str
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    changes: tuple[Change, ...] = ()
    fingerprint: str | None = None  # what the object is once written (ownership's record)
    destroys: str = ""  # a delete: what goes with the object

    @property
    def capability(self) -> str:
        """The policy capability Vault checks for this request."""
        if self.action == "delete":
            return "delete"
        # sys/ endpoints have no existence check: every write is an update to the ACL.
        return (
            "create" if self.action == "create" and not self.path.startswith("sys/") else "update"
        )


@dataclass(frozen=True)
class Plan:
    """The steps, in order; the ownership record before and after them; what is said."""

    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # owned objects kept, or left for --prune
    conflicts: list[str] = field(default_factory=list)  # objects picluster will not touch
    warnings: list[str] = field(default_factory=list)
    record_before: Ownership = field(default_factory=Ownership)
    record_after: Ownership = field(default_factory=Ownership)

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)

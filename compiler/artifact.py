"""The unit of output: one generated file, its bytes, and how it must land on disk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One generated file.

    Attributes:
        path: POSIX path relative to ``out/``. Host files live under ``hosts/<node>/`` followed
            by their absolute path on the node, so the apply step copies paths as they are.
        data: the exact bytes.
        mode: the file mode it must have on the node (git keeps only the executable bit, so the
            manifest carries the real one).
        kind: which verifier proves it (``hcl-config``, ``hcl-policy``, ``systemd``, ``shell``,
            ``sysusers``, ``tmpfiles``, ``openssl``).
        owner: owning user on the node.
        group: owning group on the node.
    """

    path: str
    data: bytes
    mode: int
    kind: str
    owner: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode()

"""picluster: compile picluster.yaml into a verified Vault/OpenBao secret-management stack."""

from __future__ import annotations

__version__ = "0.1.0"

"""Fixtures the integration tests share."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every request picluster sends to Vault that is not a read: (method, path)."""
    from compiler.apply.connection import Connection

    sent: list[tuple[str, str]] = []
    real = Connection.call

    def call(self: Connection, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method not in ("GET", "LIST"):
            sent.append((method, path))
        return real(self, method, path, *args, **kwargs)

    monkeypatch.setattr(Connection, "call", call)
    return sent

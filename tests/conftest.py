"""Shared fixtures: golden-file snapshots that read like the files they hold."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class TextFileSnapshot(SingleFileSnapshotExtension):
    """One snapshot per artifact, stored as plain text so a review reads the generated file."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def snapshot_file(snapshot: SnapshotAssertion) -> Any:
    return snapshot.use_extension(TextFileSnapshot)


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """picluster remembers what it verified in the user's cache: the suite keeps its own, so it
    neither reads nor fills the developer's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield

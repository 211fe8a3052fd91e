"""The cyclic garbage collector, paused while a stage makes many objects that live on."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection in the block: nearly everything a compile makes (the loaded spec,
    the artifacts, the access model's records) lives until it is done, so each collection would
    only rescan it (12% of a large compile, a third of the access checks)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

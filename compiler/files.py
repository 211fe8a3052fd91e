"""Reading a file that must be a plain file: never through a symbolic link, never a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_plain(path: Path) -> bytes:
    """The bytes of the regular file ``path``.

    Raises:
        OSError: ``path`` is missing, a symbolic link, or not a regular file (a FIFO would
            block, /dev/zero would never end).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)

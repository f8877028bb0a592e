"""Private files on a device: written with mode 0600 from the first byte, atomically
and durably.

Identity, the epoch keys' queue file, the sync status, the admin PIN's lockout state
and the demo's key all go through :func:`write_private`, so none of them can be read
half-written after a power cut, or by another user for a moment after creation.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_private"]


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Put ``data`` at ``path`` (mode 0600): a temporary file in the same folder is
    written and fsync'd, then renamed over ``path`` (linked, with ``exclusive``), then
    the folder is fsync'd. Readers see the old content or the new, never a part.

    Raises :class:`FileExistsError` with ``exclusive`` when ``path`` exists, and
    :class:`OSError` otherwise; the temporary file never stays behind.
    """
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)  # fails if path exists: nothing is overwritten
        else:
            os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

"""One state directory per running demo: two ``tapin panel --demo`` (or ``make run``
while a demo runs) must not share one demo queue.

:func:`claim_demo_state` takes the default demo state directory when no other demo
holds it, else the next free ``<name>-2``, ``<name>-3``, ... A demo holds its directory
with an exclusive ``flock`` on ``demo.lock`` for as long as the process lives (the
kernel lets go when it exits, even when killed), so a crashed demo never blocks the
next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["MAX_DEMOS", "DemoBusy", "claim_demo_state"]

MAX_DEMOS = 9
_LOCK = "demo.lock"
_held: dict[Path, int] = {}


class DemoBusy(RuntimeError):
    """Every demo state directory is held by a running demo, or none can be made."""


def _try(folder: Path) -> bool:
    if folder in _held:
        return True
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DemoBusy(f"cannot use {folder} for the demo's state ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[folder] = fd
    return True


def claim_demo_state(base: Path) -> Path:
    """``base`` if no running demo holds it, else the first free ``base-N``; held until
    this process ends.

    Raises :class:`DemoBusy` when :data:`MAX_DEMOS` demos run already or the folder
    cannot be made."""
    for n in range(1, MAX_DEMOS + 1):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if _try(folder):
            return folder
    raise DemoBusy(
        f"{MAX_DEMOS} demos are running already ({base} and {base.name}-2 to "
        f"{base.name}-{MAX_DEMOS}); stop one first"
    )


def release_demo_state(folder: Path) -> None:
    """Let go of ``folder`` (tests; a demo process simply exits)."""
    fd = _held.pop(folder, None)
    if fd is not None:
        os.close(fd)

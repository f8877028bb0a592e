"""Small real helpers for the queue tests: central's key pair, a settable clock, files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import Batch
from sync.wire import SealedEvent, open_epoch_key, open_payload
from tapin.demo.clock import ManualClock

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def queue_clock(now: datetime = START) -> ManualClock[datetime]:
    """A clock the test moves by hand; every call records its thread."""
    return ManualClock(now, record=True)


def central_open(batch: Batch, event: SealedEvent, private_key: X25519PrivateKey) -> dict[str, Any]:
    """What central does with one uploaded event: open its epoch key, then its payload."""
    key = open_epoch_key(event.epoch, batch.epochs[event.epoch], private_key)
    return open_payload(event, key)


def db_files(path: Path) -> list[Path]:
    """The database file and whichever of its -wal and -shm companions exist."""
    candidates = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return [p for p in candidates if p.exists()]


@contextmanager
def raw_db(path: Path) -> Iterator[sqlite3.Connection]:
    """The queue file opened with plain sqlite3, as an attacker or a technician would."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn

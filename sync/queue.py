"""The device's sealed, durable offline event queue.

Every user action becomes an event: a UUIDv7 id, a per-device sequence number, a type,
clear routing fields without personal data (resource id, time range, when it was
made) and a payload sealed with :func:`sync.wire.seal_payload`. The payload is
encrypted under the data key of the current *epoch*; that key lives in memory only and
the file holds it HPKE-sealed to central's public key, so the device cannot read its
own backlog. A new epoch starts with every :class:`SealedQueue` and after
``epoch_max_events`` events.

States: ``pending`` → ``inflight`` (taken for an upload) → deleted when central says
``applied`` or ``duplicate``; ``rejected`` (kept, with central's reason) or
``quarantined`` (kept: central cannot open the seal, or the row is unreadable here).
Opening the queue puts events left in flight by a crash back to pending.

:class:`SealedQueue` is synchronous and meant for a worker thread (``enqueue`` writes
one event per transaction, ``enqueue_many`` several in one); :class:`AsyncSealedQueue`
runs each call on one dedicated thread and group-commits concurrent enqueues: one fsync
for all the events that arrived while the previous commit was in progress, each caller
released once its event is on disk. This module is the public surface; the code lives
in ``_queue_core`` (the queue), ``_queue_seal`` (checks and sealing), ``_queue_store``
(the SQLite file), ``_queue_async`` and ``_queue_types``. See ``docs/queue.md``.

Exceptions::

    QueueError
     ├── InvalidArgumentError (ValueError)
     │    └── InvalidEventError
     │         └── PayloadError
     ├── QueueStorageError (OSError)   .path names the file
     │    ├── QueueCorruptError
     │    └── QueueLockedError
     └── QueueClosedError (RuntimeError)
"""

from __future__ import annotations

from sync._queue_async import MAX_GROUP, AsyncSealedQueue
from sync._queue_core import MAX_BATCH, SealedQueue, now_utc
from sync._queue_seal import NewEvent
from sync._queue_types import (
    SEAL_FAILURE_CODE,
    Batch,
    EventSink,
    EventState,
    GroupCommits,
    InvalidArgumentError,
    InvalidEventError,
    PayloadError,
    QueueClosedError,
    QueueCorruptError,
    QueueCounts,
    QueueError,
    QueueLockedError,
    QueueRow,
    QueueStorageError,
    SettleSummary,
)

__all__ = [
    "MAX_BATCH",
    "MAX_GROUP",
    "SEAL_FAILURE_CODE",
    "AsyncSealedQueue",
    "Batch",
    "EventSink",
    "EventState",
    "GroupCommits",
    "InvalidArgumentError",
    "InvalidEventError",
    "NewEvent",
    "PayloadError",
    "QueueClosedError",
    "QueueCorruptError",
    "QueueCounts",
    "QueueError",
    "QueueLockedError",
    "QueueRow",
    "QueueStorageError",
    "SealedQueue",
    "SettleSummary",
    "now_utc",
]

# Tracebacks and reprs name the public module, not the private one that defines them.
for _public in (
    AsyncSealedQueue,
    Batch,
    EventState,
    GroupCommits,
    InvalidArgumentError,
    InvalidEventError,
    NewEvent,
    PayloadError,
    QueueClosedError,
    QueueCorruptError,
    QueueCounts,
    QueueError,
    QueueLockedError,
    QueueRow,
    QueueStorageError,
    SealedQueue,
    SettleSummary,
):
    _public.__module__ = __name__
del _public

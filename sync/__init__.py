"""Sync: the sealed offline queue, the wire format and the central API client.

Exceptions::

    WireError (ValueError)
     └── UnsealError
    QueueError                        (sync.queue: the sealed queue)
     ├── InvalidArgumentError (ValueError)
     │    └── InvalidEventError
     │         └── PayloadError
     ├── QueueStorageError (OSError)
     │    ├── QueueCorruptError
     │    └── QueueLockedError
     └── QueueClosedError (RuntimeError)
"""

from sync.queue import (
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
)
from sync.wire import (
    OUTCOMES,
    WIRE_VERSION,
    EpochKey,
    SealedEvent,
    UnsealError,
    WireError,
    new_event_id,
    open_epoch_key,
    open_payload,
    seal_payload,
)

__all__ = [
    "OUTCOMES",
    "WIRE_VERSION",
    "AsyncSealedQueue",
    "Batch",
    "EpochKey",
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
    "SealedEvent",
    "SealedQueue",
    "SettleSummary",
    "UnsealError",
    "WireError",
    "new_event_id",
    "open_epoch_key",
    "open_payload",
    "seal_payload",
]

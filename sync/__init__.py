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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "AsyncSealedQueue": "sync.queue",
    "Batch": "sync.queue",
    "EventState": "sync.queue",
    "GroupCommits": "sync.queue",
    "InvalidArgumentError": "sync.queue",
    "InvalidEventError": "sync.queue",
    "NewEvent": "sync.queue",
    "PayloadError": "sync.queue",
    "QueueClosedError": "sync.queue",
    "QueueCorruptError": "sync.queue",
    "QueueCounts": "sync.queue",
    "QueueError": "sync.queue",
    "QueueLockedError": "sync.queue",
    "QueueRow": "sync.queue",
    "QueueStorageError": "sync.queue",
    "SealedQueue": "sync.queue",
    "SettleSummary": "sync.queue",
    "OUTCOMES": "sync.wire",
    "WIRE_VERSION": "sync.wire",
    "EpochKey": "sync.wire",
    "SealedEvent": "sync.wire",
    "UnsealError": "sync.wire",
    "WireError": "sync.wire",
    "new_event_id": "sync.wire",
    "open_epoch_key": "sync.wire",
    "open_payload": "sync.wire",
    "seal_payload": "sync.wire",
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: ``import sync`` (or ``sync.files``,
    ``sync.events``) does not load SQLite, the crypto stack or httpx."""
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sync' has no attribute {name!r}")


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

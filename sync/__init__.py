"""Sync: the sealed offline queue, the wire format and the central API client.

Exceptions::

    WireError (ValueError)
     └── UnsealError
"""

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
    "EpochKey",
    "SealedEvent",
    "UnsealError",
    "WireError",
    "new_event_id",
    "open_epoch_key",
    "open_payload",
    "seal_payload",
]

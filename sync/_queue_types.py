"""The values and exceptions of the sealed queue (re-exported by :mod:`sync.queue`)."""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sync.wire import SealedEvent

__all__ = [
    "SEAL_FAILURE_CODE",
    "Batch",
    "EventSink",
    "EventState",
    "GroupCommits",
    "InvalidArgumentError",
    "InvalidEventError",
    "PayloadError",
    "QueueClosedError",
    "QueueCorruptError",
    "QueueCounts",
    "QueueError",
    "QueueLockedError",
    "QueueRow",
    "QueueStorageError",
    "SettleSummary",
]

#: The ``code`` central puts on a ``rejected`` result when the event's seal does not
#: open (wrong key, or clear fields altered on the device): the event is quarantined.
SEAL_FAILURE_CODE = "unsealable"


class EventState(enum.StrEnum):
    """Where a queued event stands. Applied and duplicate events are deleted, not kept."""

    PENDING = "pending"
    INFLIGHT = "inflight"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"


# Exceptions ------------------------------------------------------------------------


class QueueError(Exception):
    """Root of every error the sealed queue raises."""


class InvalidArgumentError(QueueError, ValueError):
    """An argument is out of range (a batch limit, a state name, a maximum age)."""


class InvalidEventError(InvalidArgumentError):
    """An event cannot be queued as given; nothing was written."""


class PayloadError(InvalidEventError):
    """The payload is not a JSON object of JSON values, or is too large; nothing written."""


class QueueStorageError(QueueError, OSError):
    """The queue's database file cannot be used. ``path`` says which file.

    ``str(error)`` is ``queue database <path>: <problem>``, which a technician can act on.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"queue database {self.path}: {problem}")


class QueueCorruptError(QueueStorageError):
    """The file is not a SQLite database, is damaged, or has an unknown schema."""


class QueueLockedError(QueueStorageError):
    """Another process (or another queue object) already has this queue open."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            "is open in another process or queue object; stop the other Tapin process "
            "(systemctl status tapin) and try again",
        )


class QueueClosedError(QueueError, RuntimeError):
    """The queue was used after :meth:`close`."""


# Values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """Events taken for one upload, oldest first, with the sealed keys they need."""

    epochs: dict[str, bytes]
    events: list[SealedEvent]

    def __len__(self) -> int:
        return len(self.events)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]

    def to_wire(self) -> dict[str, Any]:
        """The ``POST /v1/events`` body described in :mod:`sync.wire`."""
        return {
            "epochs": {
                epoch_id: base64.b64encode(sealed).decode("ascii")
                for epoch_id, sealed in self.epochs.items()
            },
            "events": [event.to_wire() for event in self.events],
        }


@dataclass(frozen=True, slots=True)
class SettleSummary:
    """What :meth:`SealedQueue.settle` did with one answer from central."""

    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    quarantined: int = 0
    returned: int = 0
    """Events in flight that the answer did not settle: back to pending."""
    ignored: int = 0
    """Result entries that were malformed, repeated, or named no event in flight."""

    @property
    def deleted(self) -> int:
        return self.applied + self.duplicate


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How many events are in each state, and since when the oldest one waits."""

    pending: int = 0
    inflight: int = 0
    rejected: int = 0
    quarantined: int = 0
    oldest_pending: datetime | None = None

    @property
    def waiting(self) -> int:
        """Events not yet delivered and still to be sent (pending or in flight)."""
        return self.pending + self.inflight


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queued event as a technician or the UI may see it: never its payload."""

    seq: int
    id: str
    type: str
    resource: str
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    state: EventState
    reason: str | None = field(default=None)


@dataclass(frozen=True, slots=True)
class GroupCommits:
    """What :class:`AsyncSealedQueue`'s group commit has done since the queue opened."""

    transactions: int = 0
    """Transactions that stored events (one fsync each)."""
    events: int = 0
    """Events they stored."""
    largest: int = 0
    """The most events one transaction stored."""


class EventSink(Protocol):
    """Anything that takes events the way :meth:`AsyncSealedQueue.enqueue` does: the
    panel's actions and presence samples are written against this."""

    async def enqueue(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any],
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> Any: ...

"""The interface every calendar connector implements (CalDAV today; Microsoft Graph next).

Central's calendar sync (:mod:`central.calendars.sync`) and write-back
(:mod:`central.calendars.writeback`) talk to a room's calendar only through a
:class:`Connector`. A connector is *blocking* (the sync runs it in a worker thread, never
on the event loop) and holds its own credentials; nothing it raises or returns may carry
them.

Reading is incremental. A calendar holds **items**: a CalDAV resource (one ``.ics`` with a
recurring master and its overrides), a Graph event (one occurrence, or a series). Each
item has a stable ``key`` (the CalDAV href; the Graph event id) and a version (``etag``:
the CalDAV ETag, Graph's changeKey). :meth:`Connector.fetch` gets the calendar's
:class:`SyncState` from the last call (an opaque ``token`` — RFC 6578 sync token, a ctag, a
Graph delta link — and the etags of the items central holds) and answers what changed
since: the changed items, each with its occurrences expanded inside the window, and the
keys of removed ones. A state of ``token=None`` asks for everything (``full=True`` in the
answer: every item not in it is gone). A connector whose token has expired on the server
answers a full fetch on its own.

Writing is by UID: central writes one event per device booking, with a UID derived from
the booking id (:func:`booking_uid`), so a retried write is idempotent. ``etag=None``
with ``create=True`` writes only if no event with that UID exists (HTTP ``If-None-Match:
*``); with an ``etag`` it writes only over that version (``If-Match``).

Errors: :class:`ConnectorError` (temporary: network, 5xx, throttling — retried later),
:class:`AuthFailed` (credentials refused: retried, and the technician told),
:class:`PreconditionFailed` (the event exists / changed since ``etag``),
:class:`CalendarNotFound` (the calendar URL is wrong).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "BOOKING_UID_PREFIX",
    "AuthFailed",
    "CalendarEvent",
    "CalendarNotFound",
    "Connector",
    "ConnectorError",
    "EventStatus",
    "FetchResult",
    "FetchedItem",
    "PreconditionFailed",
    "SyncState",
    "Window",
    "booking_uid",
]

BOOKING_UID_PREFIX = "tapin-booking-"


def booking_uid(booking_id: str) -> str:
    """The UID of the calendar event central writes for a device booking (stable)."""
    return f"{BOOKING_UID_PREFIX}{booking_id}"


class EventStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One occurrence of a meeting (a recurring series expanded), times timezone-aware.

    ``recurrence_id`` is the occurrence's original start (``None`` for a single event);
    ``uid`` + ``recurrence_id`` name the occurrence for as long as it exists, even when it
    is moved. Emails are lower-case. ``private``: CLASS PRIVATE / CONFIDENTIAL (Graph:
    sensitivity private / confidential).
    """

    uid: str
    start: datetime
    end: datetime
    subject: str = ""
    recurrence_id: datetime | None = None
    organiser_email: str | None = None
    attendee_emails: tuple[str, ...] = ()
    private: bool = False
    status: EventStatus = EventStatus.CONFIRMED

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("calendar event times must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Window:
    """What to expand: occurrences overlapping ``start`` … ``end``; floating and all-day
    times are read in ``zone`` (the site's)."""

    start: datetime
    end: datetime
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class SyncState:
    token: str | None = None
    """The connector's opaque cursor from the last fetch; ``None``: fetch everything."""
    etags: Mapping[str, str] = field(default_factory=dict)
    """Item key -> etag of every item central holds for this calendar."""


@dataclass(frozen=True, slots=True)
class FetchedItem:
    key: str
    etag: str
    events: tuple[CalendarEvent, ...]
    """Occurrences inside the window, cancelled ones left out (may be empty)."""


@dataclass(slots=True)
class FetchResult:
    token: str | None
    """The state to pass next time."""
    changed: list[FetchedItem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full: bool = False
    """True: ``changed`` is every item of the calendar (anything else central holds is gone)."""
    requests: int = 0
    """HTTP requests this fetch made (for the technician and the benchmark)."""


class ConnectorError(Exception):
    """A temporary failure (network, server error, throttling): try again later.

    The message names what failed, never a credential."""


class AuthFailed(ConnectorError):
    """The calendar system refused the configured credentials (401/403)."""


class PreconditionFailed(ConnectorError):
    """``If-None-Match``/``If-Match`` failed: the event exists, or changed since."""


class CalendarNotFound(ConnectorError):
    """The calendar URL does not name a calendar (404)."""


class Connector(Protocol):
    """A room calendar system, as central's sync and write-back use it (blocking calls)."""

    requests: int
    """HTTP requests made so far by this connector (a running count)."""

    def fetch(self, calendar: str, state: SyncState, window: Window) -> FetchResult:
        """What changed in ``calendar`` (a URL or id) since ``state``. Raises
        :class:`ConnectorError` (or a subclass)."""
        ...

    def events_between(
        self, calendar: str, start: datetime, end: datetime, zone: ZoneInfo
    ) -> Sequence[CalendarEvent]:
        """Occurrences overlapping ``start`` … ``end`` now (read from the server, not from
        central's copy), cancelled ones left out. Raises :class:`ConnectorError`."""
        ...

    def put_event(
        self, calendar: str, event: CalendarEvent, *, etag: str | None, create: bool
    ) -> str:
        """Write ``event`` (by its UID); return its new etag. ``create``: only if absent.
        Raises :class:`PreconditionFailed` when the precondition fails,
        :class:`ConnectorError` otherwise."""
        ...

    def delete_event(self, calendar: str, uid: str, *, etag: str | None) -> None:
        """Delete the event with ``uid`` (gone already: fine). Raises
        :class:`PreconditionFailed` when ``etag`` no longer matches,
        :class:`ConnectorError` otherwise."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

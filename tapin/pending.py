"""Optimistic actions, shared by the panel and the kiosk.

Every action a person takes (book, check in, extend, sign in, report…) shows on the
screen at once and becomes a sealed event in the queue. It stays *pending* until
central answers: ``applied`` (or ``duplicate``) confirms it, ``rejected`` undoes it on
screen and explains why in the device's language (central's :class:`sync.events.Code`
and ``detail``, turned into words by :func:`rejection_words`). A rejection stays on
screen until someone acknowledges it (:meth:`PendingActions.acknowledge`).

Runs on the asyncio loop; the queue does its I/O on its own worker thread. Nothing here
logs personal data: ids, types and counts only.
"""

from __future__ import annotations

import base64
import enum
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sync.events import (
    ISSUE_CATEGORIES,
    Code,
    ConflictWith,
    IssueReport,
    Payload,
    StateReason,
)
from tapin import timefmt
from tapin.i18n import _

if TYPE_CHECKING:
    from sync.queue import EventSink

__all__ = [
    "ActionError",
    "Lasts",
    "Notice",
    "PendingActions",
    "Rejected",
    "rejection_words",
]

log = logging.getLogger(__name__)

MAX_TEXT = 1000
MAX_PHOTO = 1024 * 1024


class ActionError(ValueError):
    """The action is not possible now; the message says why, in words for the screen."""


class Lasts(enum.StrEnum):
    """How long a notice stays: as long as its state, never a fixed timer."""

    VISIT = "visit"
    """While the person who caused it is at the screen (until the screen goes idle)."""
    ROOM = "room"
    """Until the room's status changes (for what the device did by itself)."""
    ACKNOWLEDGED = "acknowledged"
    """Until someone taps it away (errors)."""
    OFFER = "offer"
    """While the offer it makes stands (the panel's empty-room "Keep the room")."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for the person at the screen."""

    text: str
    error: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lasts: Lasts = Lasts.VISIT


@dataclass(frozen=True, slots=True)
class Rejected:
    """An action central refused: what it was and why, in words for the screen."""

    kind: str
    """The event type (``booking.create``, …)."""
    words: str
    code: str | None
    at: datetime


@dataclass
class _Pending:
    kind: str
    resource: str
    undo: Callable[[], None]
    confirm: Callable[[], None]


def _clock(value: str | None, zone: ZoneInfo, h24: bool) -> str | None:
    try:
        return timefmt.clock(datetime.fromisoformat(value), zone, h24=h24) if value else None
    except (TypeError, ValueError):
        return None


def rejection_words(
    code: str | None,
    detail: Mapping[str, Any] | None,
    resource: str,
    zone: ZoneInfo,
    *,
    h24: bool = True,
) -> str:
    """Why central refused an event, in the device's language (never central's English,
    which is for logs and technicians)."""
    detail = detail or {}
    desk = resource.startswith("desk:")
    start, end = (_clock(detail.get(k), zone, h24) for k in ("start", "end"))
    at = _clock(detail.get("at"), zone, h24)
    if code == Code.CONFLICT:
        if start and end and detail.get("with") == ConflictWith.CALENDAR:
            return _("The room is booked in the calendar from {start} to {end}").format(
                start=start, end=end
            )
        if start and end:
            text = _("The desk is already booked from {start} to {end}")
            if not desk:
                text = _("The room is already booked from {start} to {end}")
            return text.format(start=start, end=end)
        return _("Someone else booked it for an overlapping time")
    if code == Code.STATE:
        why = detail.get("why")
        if why == StateReason.RELEASED and at:
            return _("The meeting was released at {time} because nobody checked in").format(time=at)
        if why == StateReason.CHECKED_IN and at:
            return _("Someone checked in at {time}; the meeting stays booked").format(time=at)
        if why == StateReason.NO_AUTO_RELEASE:
            return _("This room does not release meetings by itself")
        if why == StateReason.OUT_OF_USE:
            reason = str(detail.get("reason") or "")[:200]  # the admin's own words
            if reason:
                return _("This desk is out of use: {reason}").format(reason=reason)
            return _("This desk is out of use")
        return _("The meeting changed meanwhile")
    if code == Code.NOT_FOUND:
        return _("The server no longer knows this meeting or booking")
    if code == Code.FORBIDDEN:
        return _("This device may not do that")
    if code == Code.EXPIRED:
        return _("It waited too long to reach the server")
    if code == Code.UNSEALABLE:
        return _("The server could not read it; a technician can see why")
    return _("The server could not accept it; a technician can see why")


class PendingActions:
    """The optimistic actions of one screen: sent to ``sink``, settled by central."""

    def __init__(
        self,
        sink: EventSink,
        *,
        clock: Callable[[], datetime],
        zone: Callable[[], ZoneInfo],
        h24: Callable[[], bool] = lambda: True,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self._zone = zone
        self._h24 = h24
        self.notices: list[Notice] = []
        self.rejected: Rejected | None = None
        """The latest refusal nobody has acknowledged yet (shown prominently)."""
        self._listeners: list[Callable[[], None]] = []
        self._pending: dict[str, _Pending] = {}

    # observation ---------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def notify(self, text: str, *, error: bool = False, lasts: Lasts | None = None) -> None:
        """Show a message to the person at the screen (the latest ones are kept)."""
        kind = lasts or (Lasts.ACKNOWLEDGED if error else Lasts.VISIT)
        self.notices = [*self.notices[-4:], Notice(text, error, self.clock().astimezone(UTC), kind)]
        self.changed()

    def acknowledge(self) -> None:
        """Someone tapped the rejection or the error away."""
        self.rejected = None
        self.notices = [n for n in self.notices if n.lasts is not Lasts.ACKNOWLEDGED]
        self.changed()

    def pending_ids(self) -> list[str]:
        """Events queued here that central has not answered yet."""
        return list(self._pending)

    def pending_kinds(self) -> list[str]:
        return [p.kind for p in self._pending.values()]

    # sending ---------------------------------------------------------------------------

    async def send(
        self,
        event: Payload,
        resource: str,
        *,
        undo: Callable[[], None] = lambda: None,
        confirm: Callable[[], None] = lambda: None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> str:
        """Queue ``event`` for ``resource``; its effect on screen is already made, and
        ``undo`` takes it back if it cannot be queued or central refuses it. Returns the
        event id. Raises :class:`ActionError` (after ``undo``) when it cannot be saved."""
        kind = str(event.TYPE)
        try:
            queued = await self.sink.enqueue(
                kind, resource, event.payload(), starts_at=starts_at, ends_at=ends_at
            )
        except ActionError:
            undo()
            raise
        except Exception:
            undo()
            log.exception("could not queue a %s", kind)
            raise ActionError(_("Could not save this action here; please try again")) from None
        self._pending[queued.id] = _Pending(kind, resource, undo, confirm)
        log.info("queued %s %s", kind, queued.id)
        self.changed()
        return str(queued.id)

    def on_results(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Central's outcomes for queued events (from the sync agent or the demo)."""
        for result in results:
            pending = self._pending.pop(str(result.get("id")), None)
            if pending is None:
                continue
            if result.get("outcome") in ("applied", "duplicate"):
                pending.confirm()
                continue
            pending.undo()
            words = rejection_words(
                result.get("code"),
                result.get("detail"),
                pending.resource,
                self._zone(),
                h24=self._h24(),
            )
            self.rejected = Rejected(pending.kind, words, result.get("code"), self.clock())
            log.info("%s rejected by central (%s)", pending.kind, result.get("code"))
        self.changed()

    # shared actions ------------------------------------------------------------------

    async def report_issue(
        self, resource: str, category: str, text: str = "", photo: bytes | None = None
    ) -> str:
        """``issue.report`` for ``resource`` (the panel's room, the kiosk's lobby)."""
        if category not in ISSUE_CATEGORIES:
            raise ActionError(_("Choose what is wrong first"))
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise ActionError(
                _("Please keep the description under {n} characters").format(n=MAX_TEXT)
            )
        if photo is not None and len(photo) > MAX_PHOTO:
            raise ActionError(_("The photo is too large"))
        event = IssueReport(
            report_id=f"r-{uuid.uuid4()}",
            category=category,
            text=text,
            photo=base64.b64encode(photo).decode("ascii") if photo else None,
        )
        event_id = await self.send(
            event,
            resource,
            confirm=lambda: self.notify(_("Thank you: facilities has your report")),
        )
        self.notify(_("Report saved; it will reach facilities"))
        return event_id

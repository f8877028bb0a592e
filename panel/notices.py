"""The panel's notice area and its refusals, as plain values: which notices still stand
(each lasts as long as its state, :class:`tapin.pending.Lasts`, never a fixed time), in
which order they share the one area, and the dialog that says central refused something.
No Kivy here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sync.events import EventType
from tapin import timefmt
from tapin.device.snapshots import Withdrawn
from tapin.i18n import _, ngettext
from tapin.pending import Lasts, Notice, Rejected

__all__ = [
    "MAX_NOTICES",
    "VISIT_IDLE",
    "NoticeBoard",
    "NoticeLine",
    "RejectionView",
    "WithdrawnNotices",
    "connection_banner",
    "notice_lines",
    "rejection_view",
    "withdrawn_words",
]

_REJECTED_TITLES: dict[str, str] = {
    EventType.BOOKING_CREATE: "Not booked",
    EventType.MEETING_CHECKIN: "Not checked in",
    EventType.BOOKING_EXTEND: "Not extended",
    EventType.BOOKING_END: "Not ended",
    EventType.MEETING_RELEASE: "Not released",
}

VISIT_IDLE = timedelta(seconds=90)
"""A notice for the person at the screen stays until nobody has touched it this long."""

MAX_NOTICES = 2
"""Notices sharing the area at once: errors first, then being offline, then the
empty-room offer (it has its own button too), then the rest."""


@dataclass(frozen=True, slots=True)
class NoticeLine:
    """One entry of the notice area."""

    text: str
    kind: str
    """``error``, ``offer``, ``info`` or ``offline`` (its colour and icon)."""
    icon: str
    dismiss: bool = False
    """Tapping it acknowledges it (errors last until then)."""


@dataclass(frozen=True, slots=True)
class RejectionView:
    """Central refused something done here: the dialog that says so."""

    title: str
    words: str
    booking: bool
    """A refused booking: the dialog offers another room and another try."""
    at: datetime


def connection_banner(sync_status: Any, zone: ZoneInfo, *, h24: bool = True) -> str:
    """What the panel says about its link to central, from the sync agent's status
    (duck-typed: ``reachable``, ``pending``, ``inflight``, ``last_contact``, ``problem``).
    Empty while central answers."""
    if sync_status is None:
        return ""
    problem = getattr(sync_status, "problem", None)
    if problem:
        return str(problem)
    if getattr(sync_status, "trouble", None) == "revoked":  # sync.agent.trouble_code
        return _("This panel was revoked on the server: nothing done here is sent. Call IT.")
    if getattr(sync_status, "reachable", None) is not False:
        return ""
    waiting = int(getattr(sync_status, "pending", 0)) + int(getattr(sync_status, "inflight", 0))
    changes = (
        ngettext("{n} change waiting", "{n} changes waiting", waiting).format(n=waiting)
        if waiting
        else _("nothing waiting")
    )
    # the last successful exchange (sync.agent.SyncStatus.last_success), else any answer
    last = getattr(sync_status, "last_success", None) or getattr(sync_status, "last_contact", None)
    since = ""
    if last:
        try:
            at = timefmt.clock(datetime.fromisoformat(last), zone, h24=h24)
            since = " · " + _("last sync {time}").format(time=at)
        except ValueError:
            since = ""
    return _("Offline — {changes}").format(changes=changes) + since


class NoticeBoard:
    """Which notices still stand. Each lasts as long as its state
    (:class:`tapin.pending.Lasts`), never a fixed time:

    * ``VISIT``: until nobody has touched the screen for :data:`VISIT_IDLE` (counted from
      the notice or the last touch, whichever is later): the person has left;
    * ``ROOM``: until the room's status changes from what it was when first shown;
    * ``OFFER``: while the offer stands (the empty room's "Keep the room");
    * ``ACKNOWLEDGED``: until someone taps it away (the controller then drops it).

    A notice that has ended never comes back, even if its state returns."""

    def __init__(self, idle: timedelta = VISIT_IDLE) -> None:
        self.idle = idle
        self._room: dict[Notice, Any] = {}
        self._gone: set[Notice] = set()

    def standing(
        self,
        notices: Sequence[Notice],
        now: datetime,
        *,
        room: Any,
        last_touch: datetime | None = None,
        offer: bool = False,
    ) -> list[Notice]:
        """The notices of ``notices`` (oldest first) still shown at ``now``; ``room`` is
        the room's status now (any comparable value)."""
        shown: list[Notice] = []
        for notice in notices:
            if notice in self._gone:
                continue
            if notice.lasts is Lasts.VISIT:
                since = max(notice.at, last_touch) if last_touch is not None else notice.at
                stands = now - since < self.idle
            elif notice.lasts is Lasts.ROOM:
                stands = self._room.setdefault(notice, room) == room
            elif notice.lasts is Lasts.OFFER:
                stands = offer
            else:
                stands = True
            if stands:
                shown.append(notice)
            else:
                self._gone.add(notice)
        kept = set(notices)
        self._room = {n: r for n, r in self._room.items() if n in kept}
        self._gone &= kept
        return shown


def notice_lines(standing: Sequence[Notice], banner: str) -> tuple[NoticeLine, ...]:
    """What the area shows: the latest error, being offline (everyone passing needs to
    know), the empty-room offer, the latest other notice, at most :data:`MAX_NOTICES`."""
    errors = [n for n in standing if n.error]
    offers = [n for n in standing if not n.error and n.lasts is Lasts.OFFER]
    infos = [n for n in standing if not n.error and n.lasts is not Lasts.OFFER]
    lines = []
    if errors:
        lines.append(NoticeLine(errors[-1].text, "error", "error", dismiss=True))
    if banner:
        lines.append(NoticeLine(banner, "offline", "cloud-off"))
    if offers:
        lines.append(NoticeLine(offers[-1].text, "offer", "clock"))
    if infos:
        lines.append(NoticeLine(infos[-1].text, "info", "info"))
    return tuple(lines[:MAX_NOTICES])


def rejection_view(rejected: Rejected | None) -> RejectionView | None:
    if rejected is None:
        return None
    title = _(_REJECTED_TITLES.get(rejected.kind, "Not done"))
    booking = rejected.kind == EventType.BOOKING_CREATE
    return RejectionView(title, rejected.words, booking, rejected.at)


def withdrawn_words(withdrawn: Withdrawn, zone: ZoneInfo, *, h24: bool = True) -> str:
    """What the panel says about a booking central withdrew, in the panel's language."""
    start = timefmt.clock(withdrawn.start, zone, h24=h24)
    end = timefmt.clock(withdrawn.end, zone, h24=h24)
    if withdrawn.reason == "calendar_conflict":
        text = _("Your booking {start}–{end} was withdrawn: the room was booked in the calendar at the same time")  # noqa: E501  # fmt: skip
    else:  # a reason this version does not know
        text = _("Your booking {start}–{end} was withdrawn by the server")
    return text.format(start=start, end=end)


class WithdrawnNotices:
    """Which withdrawn bookings the panel has told about: each is said once (for as long
    as this process runs), and only while the booking has not ended yet."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def news(
        self, withdrawn: Sequence[Withdrawn], now: datetime, zone: ZoneInfo, *, h24: bool = True
    ) -> list[str]:
        """The words for the bookings of ``withdrawn`` not told about before."""
        fresh = [w for w in withdrawn if w.booking_id not in self._told and w.end > now]
        self._told = {w.booking_id for w in withdrawn} & (
            self._told | {w.booking_id for w in fresh}
        )
        return [withdrawn_words(w, zone, h24=h24) for w in fresh]

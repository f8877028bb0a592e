"""What the status screen shows, as plain values: no Kivy here, so it is tested directly.

:func:`build_status_view` reads the in-memory calendar and the directory and returns a
:class:`StatusView` whose strings are final. Private meetings arrive here already as
"Private meeting" with no organiser (see :func:`tapin.calendar.meeting_view`), and an
organiser is named only if the directory shows them.

Notices last as long as their state (:class:`tapin.pending.Lasts`), tracked across
refreshes by a :class:`panel.notices.NoticeBoard`; at most
:data:`panel.notices.MAX_NOTICES` share the one notice area, most important first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from panel.notices import (
    NoticeBoard,
    NoticeLine,
    RejectionView,
    connection_banner,
    notice_lines,
    rejection_view,
)
from sync.events import EventType
from tapin import timefmt
from tapin.calendar import (
    CalendarStore,
    Directory,
    RoomState,
    RoomStatus,
    day_bounds,
    meeting_view,
    site_day,
)
from tapin.device.availability import is_offline_copy, offline_details
from tapin.domain import Meeting, Room
from tapin.i18n import _, format_day
from tapin.pending import Notice, Rejected

__all__ = [
    "AgendaItem",
    "StatusView",
    "TimelineBlock",
    "agenda_window",
    "build_status_view",
    "until_label",
]

_STATE_WORDS = {
    "free": "Free",
    "starting_soon": "Starting soon",
    "awaiting_checkin": "Reserved",
    "busy": "Busy",
    "pending": "Booking…",
}
_ICONS = {
    "free": "check",
    "starting_soon": "clock",
    "awaiting_checkin": "checkin",
    "busy": "block",
    "pending": "hourglass",
    "unavailable": "cloud-off",
}
_DAY_OPEN = time(7, 0)
_DAY_CLOSE = time(19, 0)
_NOW_MARGIN = timedelta(minutes=30)
"""The timeline always shows at least this much on each side of now (within the day)."""
_TICK_HOURS = (1, 2, 3, 4, 6)


@dataclass(frozen=True, slots=True)
class TimelineBlock:
    start: float
    """Left edge as a fraction (0..1) of the timeline."""
    end: float
    private: bool = False
    past: bool = False
    pending: bool = False
    """Made here and not confirmed by central yet (drawn hatched)."""


@dataclass(frozen=True, slots=True)
class AgendaItem:
    times: str
    subject: str
    organiser: str
    current: bool
    past: bool
    pending: bool = False


@dataclass(frozen=True, slots=True)
class StatusView:
    room_name: str
    room_details: str
    state: str
    """``free``, ``starting_soon``, ``awaiting_checkin``, ``busy``, ``pending`` (a
    booking made here, not confirmed yet) or ``unavailable`` (no calendar known)."""
    state_word: str
    icon: str
    headline: str
    remaining: str
    meeting_label: str
    meeting_title: str
    meeting_organiser: str
    meeting_times: str
    clock: str
    date: str
    agenda: tuple[AgendaItem, ...]
    timeline: tuple[TimelineBlock, ...]
    timeline_labels: tuple[str, ...]
    now_position: float
    timeline_ticks: tuple[float, ...] = ()
    """Where each of ``timeline_labels`` sits, as a fraction of the timeline."""
    look: str = "free"
    """The colour of the status (a key of :data:`tapin.ui.theme.STATE_COLOURS`)."""
    hatched: bool = False
    """Not confirmed yet: something done here waits for central's answer."""
    banner: str = ""
    """Connection trouble in words ("Offline — 3 changes waiting"); empty when fine."""
    actions: tuple[str, ...] = ()
    """Buttons to offer: "keep", "book", "checkin", "extend", "end", "find", "report"."""
    notices: tuple[NoticeLine, ...] = ()
    rejection: RejectionView | None = None

    @property
    def notice(self) -> str:
        """The first notice's words ("" when none)."""
        return self.notices[0].text if self.notices else ""


def _room_details(room: Room) -> str:
    if room.capacity == 0 and not room.equipment:
        return ""  # not known yet (no rooms snapshot since start)
    parts = [_("Floor {n}").format(n=room.floor), _("{n} seats").format(n=room.capacity)]
    if room.equipment:
        parts.append(", ".join(_(item) for item in room.equipment))
    return "  ·  ".join(parts)


def until_label(end: datetime, zone: ZoneInfo, *, h24: bool = True) -> str:
    """``until 10:20`` (``until 10:20 AM`` on a 12 h clock): a choice's end time."""
    return _("until {time}").format(time=timefmt.clock(end, zone, h24=h24))


def agenda_window(
    items: Sequence[AgendaItem], rows: int, rows_with_more: int | None = None
) -> tuple[tuple[AgendaItem, ...], int]:
    """The agenda rows to show when ``rows`` fit (``rows_with_more`` beside a "+N more"
    line; one less by default), and how many later ones are left out (N). Starts at the
    meeting in progress (or the next one); past meetings fill rows that would stay empty.
    """
    rows = max(0, rows)
    first = next((i for i, item in enumerate(items) if not item.past), len(items))
    if len(items) - first <= rows:
        return (tuple(items[max(0, len(items) - rows) :]) if rows else ()), 0
    keep = max(0, rows - 1 if rows_with_more is None else min(rows_with_more, rows))
    shown = tuple(items[first : first + keep])
    return shown, len(items) - first - len(shown)


def build_status_view(
    room: Room,
    calendar: CalendarStore,
    directory: Directory,
    now: datetime,
    *,
    h24: bool = True,
    sync_status: Any = None,
    actions: tuple[str, ...] = (),
    notices: Sequence[Notice] = (),
    board: NoticeBoard | None = None,
    last_touch: datetime | None = None,
    offer: bool = False,
    rejected: Rejected | None = None,
    pending: Sequence[str] = (),
) -> StatusView:
    """Everything the status screen of ``room`` shows at ``now``.

    ``actions`` are the buttons the controller says are possible now; ``notices`` the
    controller's messages (oldest first), kept by ``board`` for as long as each lasts
    (``last_touch``: the screen's last touch; ``offer``: the empty-room offer stands);
    ``rejected`` the refusal nobody acknowledged yet; ``pending`` the kinds of events
    done here that central has not answered."""
    view = _build(room, calendar, directory, now, h24=h24, pending=pending)
    banner = connection_banner(sync_status, calendar.zone, h24=h24)
    if view.state == "unavailable":
        actions = tuple(a for a in actions if a in ("find", "report")) or ("find", "report")
    board = board or NoticeBoard()
    standing = board.standing(
        notices,
        now,
        room=(view.state, view.headline),
        last_touch=last_touch,
        offer=offer,
    )
    return replace(
        view,
        banner=banner,
        actions=actions,
        notices=notice_lines(standing, banner),
        rejection=rejection_view(rejected),
    )


class _Clock:
    """Times in the site's zone for one view."""

    def __init__(self, zone: ZoneInfo, h24: bool) -> None:
        self.zone, self.h24 = zone, h24

    def __call__(self, moment: datetime) -> str:
        return timefmt.clock(moment, self.zone, h24=self.h24)

    def hour(self, moment: datetime, *, day_end: bool = False) -> str:
        """A timeline label: ``07:00`` / ``7 AM``; the end of the day is ``24:00``."""
        local = moment.astimezone(self.zone)
        if self.h24:
            return "24:00" if day_end else f"{local.hour:02d}:00"
        hour = local.hour % 12 or 12
        return f"{hour} {'AM' if local.hour < 12 else 'PM'}"

    def span(self, meeting: Meeting, day_start: datetime, day_end: datetime) -> str:
        """``10:00 – 11:30``, ``All day``, ``until 10:00`` or ``from 22:00`` (today)."""
        starts_before, ends_after = meeting.start <= day_start, meeting.end >= day_end
        if starts_before and ends_after:
            return _("All day")
        if starts_before:
            return until_label(meeting.end, self.zone, h24=self.h24)
        if ends_after:
            return _("from {time}").format(time=self(meeting.start))
        return f"{self(meeting.start)} – {self(meeting.end)}"


def _floor_hour(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _timeline_range(
    meetings: Sequence[Meeting], now: datetime, day: Any, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """Office hours (07–19) widened to every meeting of the day and to half an hour on
    each side of now, on whole hours, within the day."""
    day_start, day_end = day_bounds(day, zone)
    start = datetime.combine(day, _DAY_OPEN, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day, _DAY_CLOSE, tzinfo=zone).astimezone(UTC)
    for meeting in meetings:
        start, end = min(start, meeting.start), max(end, meeting.end)
    if day_start <= now < day_end:
        start, end = min(start, now - _NOW_MARGIN), max(end, now + _NOW_MARGIN)
    start = _floor_hour(max(start, day_start), zone)
    ceiling = _floor_hour(end, zone)
    end = min(ceiling if ceiling >= end else ceiling + timedelta(hours=1), day_end)
    return start, end


def _ticks(
    start: datetime, end: datetime, day_end: datetime, hm: _Clock
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Hour labels every 1, 2, 3, 4 or 6 hours from the start (at most six of them)."""
    span = (end - start).total_seconds()
    step = next((s for s in _TICK_HOURS if span / 3600 / s <= 5), 12)
    labels, fractions = [], []
    moment = start
    while moment <= end:
        labels.append(hm.hour(moment, day_end=moment == day_end))
        fractions.append((moment - start).total_seconds() / span)
        moment += timedelta(hours=step)
    return tuple(labels), tuple(fractions)


def _pending_words(kinds: set[str], current: Meeting | None) -> str:
    if EventType.BOOKING_END in kinds:
        return _("Ending not confirmed yet")
    if current is None or not current.pending:
        return ""
    if EventType.BOOKING_EXTEND in kinds:
        return _("Extension not confirmed yet")
    if EventType.MEETING_CHECKIN in kinds:
        return _("Check-in not confirmed yet")
    return ""


def _words(
    room: Room,
    status: RoomStatus,
    now: datetime,
    hm: _Clock,
    day: tuple[datetime, datetime],
    kinds: set[str],
) -> tuple[str, str, str, str]:
    """``(state, word, headline, remaining)``."""
    current = status.current
    day_start, day_end = day
    if current is not None and current.pending and EventType.BOOKING_CREATE in kinds:
        until = hm(status.until or current.end)
        return (
            "pending",
            _(_STATE_WORDS["pending"]),
            _("Waiting for confirmation"),
            _("Until {time} · not confirmed yet").format(time=until),
        )
    if (
        current is not None
        and room.auto_release
        and not current.checked_in
        and now < current.start + room.checkin_after
    ):
        deadline = min(current.start + room.checkin_after, current.end)
        return (
            "awaiting_checkin",
            _(_STATE_WORDS["awaiting_checkin"]),
            _("Check in by {time}").format(time=hm(deadline)),
            _("or the room is released for others"),
        )
    if status.state is RoomState.BUSY:
        assert status.until is not None and current is not None
        word = _(_STATE_WORDS["busy"])
        if status.until >= day_end and current.start <= day_start:
            return "busy", word, _("Busy all day"), _("Tap Find room for a free room nearby")
        if status.until >= day_end:
            headline = _("Busy for the rest of the day")
        else:
            headline = _("Busy until {time}").format(time=hm(status.until))
        left = _("{duration} left").format(duration=timefmt.duration(status.until - now))
        return "busy", word, headline, left
    state = status.state.value
    word = _(_STATE_WORDS[state])
    if status.until is None:
        return state, word, _("Free for the rest of the day"), _("No more meetings today")
    headline = _("Free until {time}").format(time=hm(status.until))
    remaining = _("for {duration}").format(duration=timefmt.duration(status.until - now))
    return state, word, headline, remaining


def _build(
    room: Room,
    calendar: CalendarStore,
    directory: Directory,
    now: datetime,
    *,
    h24: bool,
    pending: Sequence[str],
) -> StatusView:
    zone = calendar.zone
    now = now.astimezone(UTC)
    local_now = now.astimezone(zone)
    day = site_day(now, zone)
    day_start, day_end = day_bounds(day, zone)
    hm = _Clock(zone, h24)
    meetings = calendar.meetings(room.id, day) if calendar.loaded(room.id) else ()
    open_at, close_at = _timeline_range(meetings, now, day, zone)
    labels, ticks = _ticks(open_at, close_at, day_end, hm)
    span = (close_at - open_at).total_seconds()

    def frac(moment: datetime) -> float:
        return min(1.0, max(0.0, (moment - open_at).total_seconds() / span))

    common: dict[str, Any] = {
        "room_name": room.name,
        "room_details": _room_details(room),
        "clock": hm(now),
        "date": format_day(local_now.date()),
        "timeline_labels": labels,
        "timeline_ticks": ticks,
        # to the minute, like the clock: the view (and so the screen) changes once a
        # minute, not every second (each change is a redraw and a little memory)
        "now_position": frac(now.replace(second=0, microsecond=0)),
    }
    if not calendar.loaded(room.id):
        return StatusView(
            state="unavailable",
            look="unavailable",
            state_word=_("No calendar"),
            icon=_ICONS["unavailable"],
            headline=_("Calendar unavailable"),
            remaining=_("Waiting for the server; booking is paused"),
            meeting_label="",
            meeting_title="",
            meeting_organiser="",
            meeting_times="",
            agenda=(),
            timeline=(),
            **common,
        )

    status = calendar.status(room.id, now)
    kinds = {str(k) for k in pending}
    state, word, headline, remaining = _words(room, status, now, hm, (day_start, day_end), kinds)
    waiting = _pending_words(kinds, status.current)
    if waiting:
        remaining = waiting

    shown = status.current or status.next
    if shown is not None and shown.start < day_end:
        view = meeting_view(shown, directory)
        label = _("Now") if shown is status.current else _("Next")
        if shown.pending:
            label += " · " + _("pending")
        title = _(view.subject) if view.private else view.subject
        organiser = view.organiser or ""
        if is_offline_copy(shown):  # restarted offline: times are known, nothing else
            title, organiser = offline_details(), ""
        times = hm.span(shown, day_start, day_end)
    else:
        label, title, organiser, times = _("Next"), _("Nothing else booked today"), "", ""

    agenda = tuple(
        AgendaItem(
            times=hm.span(m, day_start, day_end),
            subject=_("Booked")
            if is_offline_copy(m)
            else (_(v.subject) if v.private else v.subject),
            organiser=v.organiser or "",
            current=m.covers(now),
            past=m.end <= now,
            pending=m.pending,
        )
        for m, v in ((m, meeting_view(m, directory)) for m in meetings)
    )
    timeline = tuple(
        TimelineBlock(frac(m.start), frac(m.end), m.private, m.end <= now, m.pending)
        for m in meetings
        if m.end > open_at and m.start < close_at
    )
    return StatusView(
        state=state,
        look="busy" if state == "pending" else state,
        hatched=state == "pending" or bool(waiting),
        state_word=word,
        icon=_ICONS["pending" if waiting else state],
        headline=headline,
        remaining=remaining,
        meeting_label=label,
        meeting_title=title,
        meeting_organiser=organiser,
        meeting_times=times,
        agenda=agenda,
        timeline=timeline,
        **common,
    )

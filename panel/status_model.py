"""What the status screen shows, as plain values: no Kivy here, so it is tested directly.

:func:`build_status_view` reads the in-memory calendar and the directory and returns a
:class:`StatusView` whose strings are final. Private meetings arrive here already as
"Private meeting" with no organiser (see :func:`tapin.calendar.meeting_view`), and an
organiser is named only if the directory shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tapin import timefmt
from tapin.calendar import CalendarStore, Directory, RoomState, meeting_view, site_day
from tapin.domain import Room
from tapin.i18n import _, format_day, ngettext

__all__ = [
    "AgendaItem",
    "StatusView",
    "TimelineBlock",
    "build_status_view",
    "connection_banner",
]

_STATE_WORDS = {
    RoomState.FREE: "Free",
    RoomState.STARTING_SOON: "Starting soon",
    RoomState.BUSY: "Busy",
}
_ICONS = {
    "free": "check",
    "starting_soon": "clock",
    "awaiting_checkin": "clock",
    "busy": "block",
    "unavailable": "cloud-off",
}
NOTICE_SECONDS = timedelta(seconds=60)
_TIMELINE_OPEN = time(7, 0)
_TIMELINE_CLOSE = time(19, 0)


@dataclass(frozen=True, slots=True)
class TimelineBlock:
    start: float
    """Left edge as a fraction (0..1) of the timeline."""
    end: float
    private: bool


@dataclass(frozen=True, slots=True)
class AgendaItem:
    times: str
    subject: str
    organiser: str
    current: bool
    past: bool


@dataclass(frozen=True, slots=True)
class StatusView:
    room_name: str
    room_details: str
    state: str
    """``free``, ``starting_soon``, ``busy`` or ``unavailable`` (no calendar known)."""
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
    banner: str = ""
    """Connection trouble in words ("Offline — 3 changes waiting"); empty when fine."""
    actions: tuple[str, ...] = ()
    """Buttons to offer: "book", "checkin", "extend", "end", "find", "report"."""
    notice: str = ""
    notice_error: bool = False


def _room_details(room: Room) -> str:
    if room.capacity == 0 and not room.equipment:
        return ""  # not known yet (no rooms snapshot since start)
    parts = [_("Floor {n}").format(n=room.floor), _("{n} seats").format(n=room.capacity)]
    if room.equipment:
        parts.append(", ".join(_(item) for item in room.equipment))
    return "  ·  ".join(parts)


def connection_banner(sync_status: Any, zone: ZoneInfo, *, h24: bool = True) -> str:
    """What the panel says about its link to central, from the sync agent's status
    (duck-typed: ``reachable``, ``pending``, ``inflight``, ``last_contact``, ``problem``).
    Empty while central answers."""
    if sync_status is None:
        return ""
    problem = getattr(sync_status, "problem", None)
    if problem:
        return str(problem)
    if getattr(sync_status, "reachable", None) is not False:
        return ""
    waiting = int(getattr(sync_status, "pending", 0)) + int(getattr(sync_status, "inflight", 0))
    changes = (
        ngettext("{n} change waiting", "{n} changes waiting", waiting).format(n=waiting)
        if waiting
        else _("nothing waiting")
    )
    last = getattr(sync_status, "last_contact", None)
    since = ""
    if last:
        try:
            at = timefmt.clock(datetime.fromisoformat(last), zone, h24=h24)
            since = " · " + _("last sync {time}").format(time=at)
        except ValueError:
            since = ""
    return _("Offline — {changes}").format(changes=changes) + since


def build_status_view(
    room: Room,
    calendar: CalendarStore,
    directory: Directory,
    now: datetime,
    *,
    h24: bool = True,
    sync_status: Any = None,
    actions: tuple[str, ...] = (),
    notice: Any = None,
) -> StatusView:
    """Everything the status screen of ``room`` shows at ``now``.

    ``actions`` are the buttons the controller says are possible now; ``notice`` the
    controller's latest message (shown for a minute)."""
    view = _build(room, calendar, directory, now, h24=h24)
    banner = connection_banner(sync_status, calendar.zone, h24=h24)
    if view.state == "unavailable":
        actions = tuple(a for a in actions if a in ("find", "report"))
    text, error = "", False
    if notice is not None and now - notice.at < NOTICE_SECONDS:
        text, error = notice.text, notice.error
    return replace(view, banner=banner, actions=actions, notice=text, notice_error=error)


def _agenda_item(meeting: Any, directory: Directory, now: datetime, hm: Any) -> AgendaItem:
    view = meeting_view(meeting, directory)
    return AgendaItem(
        times=f"{hm(meeting.start)} – {hm(meeting.end)}",
        subject=_(view.subject) if view.private else view.subject,
        organiser=view.organiser or "",
        current=meeting.covers(now),
        past=meeting.end <= now,
    )


def _build(
    room: Room,
    calendar: CalendarStore,
    directory: Directory,
    now: datetime,
    *,
    h24: bool,
) -> StatusView:
    zone = calendar.zone
    now = now.astimezone(UTC)
    local_now = now.astimezone(zone)
    day = site_day(now, zone)

    def hm(moment: datetime) -> str:
        return timefmt.clock(moment, zone, h24=h24)

    clock_text = hm(now)
    date_text = format_day(local_now.date())
    open_at = datetime.combine(day, _TIMELINE_OPEN, tzinfo=zone)
    close_at = datetime.combine(day, _TIMELINE_CLOSE, tzinfo=zone)
    labels = tuple(hm(open_at + timedelta(hours=h)) for h in range(0, 13, 3))
    span = (close_at - open_at).total_seconds()

    def frac(moment: datetime) -> float:
        return min(1.0, max(0.0, (moment - open_at).total_seconds() / span))

    if not calendar.loaded(room.id):
        return StatusView(
            room_name=room.name,
            room_details=_room_details(room),
            state="unavailable",
            state_word=_("No calendar"),
            icon=_ICONS["unavailable"],
            headline=_("Calendar unavailable"),
            remaining=_("Waiting for the server; booking is paused"),
            meeting_label="",
            meeting_title="",
            meeting_organiser="",
            meeting_times="",
            clock=clock_text,
            date=date_text,
            agenda=(),
            timeline=(),
            timeline_labels=labels,
            now_position=frac(now),
        )

    meetings = calendar.meetings(room.id, day)
    status = calendar.status(room.id, now)
    state, word = status.state.value, _(_STATE_WORDS[status.state])
    awaiting = (
        status.current is not None
        and room.auto_release
        and not status.current.checked_in
        and now < status.current.start + room.checkin_after
    )
    if awaiting:
        assert status.current is not None
        state, word = "awaiting_checkin", _("Check in")
        deadline = min(status.current.start + room.checkin_after, status.current.end)
        headline = _("Check in by {time}").format(time=hm(deadline))
        remaining = _("or the room is released for others")
    elif status.state is RoomState.BUSY:
        assert status.until is not None
        headline = _("Busy until {time}").format(time=hm(status.until))
        remaining = _("{duration} left").format(duration=timefmt.duration(status.until - now))
    elif status.until is None:
        headline = _("Free for the rest of the day")
        remaining = _("No more meetings today")
    else:
        headline = _("Free until {time}").format(time=hm(status.until))
        remaining = _("for {duration}").format(duration=timefmt.duration(status.until - now))

    shown = status.current or status.next
    if shown is not None and shown.start < datetime.combine(
        day + timedelta(days=1), time(0), tzinfo=zone
    ):
        view = meeting_view(shown, directory)
        label = _("Now") if shown is status.current else _("Next")
        if shown.pending:
            label += " · " + _("pending")
        title = _(view.subject) if view.private else view.subject
        organiser = view.organiser or ""
        times = f"{hm(view.start)} – {hm(view.end)}"
    else:
        label, title, organiser, times = _("Next"), _("Nothing else booked today"), "", ""

    agenda = tuple(_agenda_item(m, directory, now, hm) for m in meetings)
    timeline = tuple(
        TimelineBlock(frac(m.start), frac(m.end), m.private)
        for m in meetings
        if m.end > open_at and m.start < close_at
    )
    return StatusView(
        room_name=room.name,
        room_details=_room_details(room),
        state=state,
        state_word=word,
        icon=_ICONS[state],
        headline=headline,
        remaining=remaining,
        meeting_label=label,
        meeting_title=title,
        meeting_organiser=organiser,
        meeting_times=times,
        clock=clock_text,
        date=date_text,
        agenda=agenda,
        timeline=timeline,
        timeline_labels=labels,
        now_position=frac(now),
    )

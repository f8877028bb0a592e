"""The strings the status screen shows, from the in-memory calendar."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from panel.status_model import build_status_view
from tapin.calendar import CalendarStore, Directory
from tapin.domain import Meeting, Person, Room, Visibility

Z = ZoneInfo("Europe/Stockholm")
ROOM = Room(id="r", name="Aurora", floor=3, capacity=8, equipment=("display",))
ANNA = Person(id="anna", name="Anna Lind", email="anna@example.org")
GHOST = Person(
    id="ghost", name="Greta Hidden", email="g@example.org", visibility=Visibility.INVISIBLE
)


def t(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 30, h, m, tzinfo=Z)


def store(*meetings: Meeting) -> CalendarStore:
    calendar = CalendarStore(Z)
    calendar.replace_room("r", meetings)
    return calendar


def m(mid: str, start: datetime, end: datetime, **kw) -> Meeting:
    return Meeting(id=mid, room_id="r", start=start, end=end, **kw)


def view(calendar: CalendarStore, now: datetime, h24: bool = True):
    return build_status_view(ROOM, calendar, Directory([ANNA, GHOST]), now, h24=h24)


def test_busy_shows_until_remaining_and_visible_organiser() -> None:
    v = view(
        store(m("a", t(10), t(11, 30), subject="Design review", organiser_id="anna")), t(10, 15)
    )
    assert (v.state, v.state_word, v.icon) == ("busy", "Busy", "block")
    assert v.headline == "Busy until 11:30"
    assert v.remaining == "1 h 15 min left"
    assert (v.meeting_label, v.meeting_title, v.meeting_organiser) == (
        "Now",
        "Design review",
        "Anna Lind",
    )
    assert v.meeting_times == "10:00 – 11:30"
    assert v.clock == "10:15"


def test_free_and_starting_soon_with_12h_clock() -> None:
    calendar = store(m("a", t(14), t(15), subject="Budget"))
    free = view(calendar, t(9), h24=False)
    assert (free.state, free.headline, free.remaining) == ("free", "Free until 2:00 PM", "for 5 h")
    soon = view(calendar, t(13, 52))
    assert (soon.state, soon.state_word, soon.headline) == (
        "starting_soon",
        "Starting soon",
        "Free until 14:00",
    )
    assert soon.meeting_label == "Next"
    late = view(calendar, t(16))
    assert late.headline == "Free for the rest of the day"
    assert late.meeting_title == "Nothing else booked today"


def test_private_meeting_and_invisible_organiser_never_reach_the_screen() -> None:
    calendar = store(
        m("a", t(10), t(11), subject="Layoffs plan", organiser_id="anna", private=True),
        m("b", t(12), t(13), subject="Team lunch", organiser_id="ghost"),
    )
    for now in (t(9), t(10, 30), t(12, 30), t(14)):
        v = view(calendar, now)
        text = repr(v)
        assert "Layoffs" not in text and "Greta" not in text and "Hidden" not in text
        if now == t(10, 30):
            assert v.meeting_title == "Private meeting" and v.meeting_organiser == ""
        if now == t(12, 30):
            assert v.meeting_title == "Team lunch" and v.meeting_organiser == ""
    assert [a.subject for a in view(calendar, t(9)).agenda] == ["Private meeting", "Team lunch"]


def test_unknown_calendar_is_said_not_guessed() -> None:
    v = build_status_view(ROOM, CalendarStore(Z), Directory(), t(10))
    assert v.state == "unavailable"
    assert (v.state_word, v.headline) == ("No calendar", "Calendar unavailable")
    assert "Free" not in v.headline and v.agenda == ()


def test_timeline_places_meetings_and_now_between_7_and_19() -> None:
    v = view(store(m("a", t(7), t(13)), m("b", t(18), t(20))), t(13))
    assert [(b.start, b.end) for b in v.timeline] == [(0.0, 0.5), (11 / 12, 1.0)]
    assert v.now_position == 0.5
    assert v.timeline_labels[0] == "07:00" and v.timeline_labels[-1] == "19:00"


class _Sync:
    def __init__(self, reachable, pending=0, inflight=0, last_contact=None, problem=None):
        self.reachable, self.pending, self.inflight = reachable, pending, inflight
        self.last_contact, self.problem = last_contact, problem


def test_offline_banner_says_how_much_is_waiting_and_since_when() -> None:
    calendar = store(m("a", t(14), t(15)))
    offline = _Sync(False, pending=2, inflight=1, last_contact="2026-11-30T08:12:00+00:00")
    v = build_status_view(ROOM, calendar, Directory(), t(10), sync_status=offline)
    assert v.banner == "Offline — 3 changes waiting · last sync 09:12"
    one = build_status_view(ROOM, calendar, Directory(), t(10), sync_status=_Sync(False, 1))
    assert one.banner == "Offline — 1 change waiting"
    online = build_status_view(ROOM, calendar, Directory(), t(10), sync_status=_Sync(True, 5))
    assert online.banner == ""
    assert view(calendar, t(10)).banner == ""
    broken = _Sync(None, problem="Not connected: this panel is not enrolled")
    assert build_status_view(ROOM, calendar, Directory(), t(10), sync_status=broken).banner == (
        "Not connected: this panel is not enrolled"
    )

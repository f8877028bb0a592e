"""The strings the status screen shows, from the in-memory calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from panel.notices import MAX_NOTICES, VISIT_IDLE, NoticeBoard
from panel.status_model import AgendaItem, agenda_window, build_status_view, until_label
from tapin import i18n
from tapin.calendar import CalendarStore, Directory
from tapin.domain import Meeting, Person, Room, Visibility
from tapin.pending import Lasts, Notice, Rejected

Z = ZoneInfo("Europe/Stockholm")
ROOM = Room(id="r", name="Aurora", floor=3, capacity=8, equipment=("display",))
ANNA = Person(id="anna", name="Anna Lind", email="anna@example.org")
GHOST = Person(
    id="ghost", name="Greta Hidden", email="g@example.org", visibility=Visibility.INVISIBLE
)


def t(h: int, m: int = 0, s: int = 0) -> datetime:
    return datetime(2026, 11, 30, h, m, s, tzinfo=Z)


@pytest.fixture
def swedish():
    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


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


def test_timeline_is_07_to_19_on_an_ordinary_day() -> None:
    v = view(store(m("a", t(7), t(13)), m("b", t(15), t(16))), t(13))
    assert [(b.start, b.end) for b in v.timeline] == [(0.0, 0.5), (8 / 12, 9 / 12)]
    assert v.now_position == 0.5
    assert v.timeline_labels == ("07:00", "10:00", "13:00", "16:00", "19:00")
    assert v.timeline_ticks == (0.0, 0.25, 0.5, 0.75, 1.0)


def test_timeline_widens_to_every_meeting_of_the_day() -> None:
    # changed on purpose: a meeting until 20:00 used to be cut at 19:00
    v = view(store(m("a", t(7), t(13)), m("b", t(18), t(20))), t(13))
    assert v.timeline_labels[0] == "07:00" and v.timeline_labels[-1] == "19:00"
    assert [(b.start, b.end) for b in v.timeline] == [(0.0, 6 / 13), (11 / 13, 1.0)]
    assert v.timeline_ticks[-1] == 12 / 13  # 20:00 is the right edge, labels every 3 h


def test_timeline_in_the_evening_shows_the_evening() -> None:
    v = view(store(m("a", t(10), t(11)), m("b", t(21), t(22), subject="Tokyo")), t(20, 30))
    assert v.timeline_labels[0] == "07:00" and v.timeline_labels[-1] == "22:00"
    late = v.timeline[-1]
    assert late.end == 1.0 and 0.9 < late.start < 1.0 and not late.past
    assert 0 < v.now_position < late.start
    assert v.timeline[0].past  # the morning's meeting is over: drawn dimmed


def test_now_is_never_at_the_edge_of_the_timeline() -> None:
    early = view(store(), t(6, 10))
    assert early.timeline_labels[0] == "05:00" and early.now_position > 0
    late = view(store(), t(23, 50))  # the bar runs 07:00 to midnight
    assert late.now_position == pytest.approx((16 + 50 / 60) / 17)
    assert early.timeline_ticks[-1] <= 1.0 and late.timeline_ticks[0] == 0.0


def test_private_meetings_are_not_drawn_as_past_ones() -> None:
    calendar = store(m("a", t(8), t(9)), m("p", t(10), t(11), private=True))
    blocks = view(calendar, t(9, 30)).timeline
    assert [(b.past, b.private) for b in blocks] == [(True, False), (False, True)]


def test_all_day_meeting_reads_as_all_day() -> None:
    calendar = store(m("d", t(0), datetime(2026, 12, 1, 0, 0, tzinfo=Z), subject="Offsite"))
    v = view(calendar, t(9, 20))
    assert (v.state, v.headline) == ("busy", "Busy all day")
    assert v.meeting_times == "All day" and v.agenda[0].times == "All day"
    assert "00:00" not in v.meeting_times
    assert v.timeline_labels[0] == "00:00" and v.timeline_labels[-1] == "24:00"
    assert [(b.start, b.end) for b in v.timeline] == [(0.0, 1.0)]


def test_meetings_that_cross_midnight_say_until_and_from() -> None:
    calendar = store(
        m("y", datetime(2026, 11, 29, 22, 0, tzinfo=Z), t(9), subject="Night shift"),
        m("z", t(22), datetime(2026, 12, 1, 2, 0, tzinfo=Z), subject="Launch"),
    )
    v = view(calendar, t(8))
    assert [a.times for a in v.agenda] == ["until 09:00", "from 22:00"]
    evening = view(calendar, t(22, 30))
    assert evening.headline == "Busy for the rest of the day"


def test_each_status_has_its_own_word_icon_and_colour() -> None:
    room = replace(ROOM, auto_release=True)
    calendar = store(m("a", t(10), t(11), subject="Budget"))
    states = {}
    for now in (t(9), t(9, 55), t(10, 5)):
        v = build_status_view(room, calendar, Directory(), now)
        states[v.state] = (v.state_word, v.icon, v.look)
    calendar = store(m("a", t(10), t(11), subject="Budget", checked_in=True))
    v = build_status_view(room, calendar, Directory(), t(10, 5))
    states[v.state] = (v.state_word, v.icon, v.look)
    assert states == {
        "free": ("Free", "check", "free"),
        "starting_soon": ("Starting soon", "clock", "starting_soon"),
        "awaiting_checkin": ("Reserved", "checkin", "awaiting_checkin"),
        "busy": ("Busy", "block", "busy"),
    }


def test_awaiting_check_in_is_a_status_with_check_in_as_the_action(swedish) -> None:
    room = replace(ROOM, auto_release=True)
    calendar = store(m("a", t(10), t(11), subject="Budget"))
    v = build_status_view(room, calendar, Directory(), t(10, 5), actions=("checkin",))
    assert (v.state_word, v.headline) == ("Reserverat", "Checka in senast 10:10")
    assert v.actions == ("checkin",)


def test_a_booking_waiting_for_central_does_not_look_done() -> None:
    booking = m("b-1", t(9), t(9, 30), subject="Booked here", checked_in=True, pending=True)
    calendar = store(booking)
    v = build_status_view(ROOM, calendar, Directory(), t(9, 5), pending=("booking.create",))
    assert (v.state, v.look, v.hatched, v.icon) == ("pending", "busy", True, "hourglass")
    assert (v.state_word, v.headline) == ("Booking…", "Waiting for confirmation")
    assert v.remaining == "Until 09:30 · not confirmed yet"
    assert v.meeting_label == "Now · pending" and v.timeline[0].pending
    confirmed = store(replace(booking, pending=False))
    done = build_status_view(ROOM, confirmed, Directory(), t(9, 5))
    assert (done.state, done.hatched, done.state_word) == ("busy", False, "Busy")


def test_extend_and_end_waiting_for_central_are_hatched_and_said() -> None:
    longer = store(m("a", t(9), t(10, 15), checked_in=True, pending=True))
    v = build_status_view(ROOM, longer, Directory(), t(9, 5), pending=("booking.extend",))
    assert (v.state, v.hatched, v.remaining) == ("busy", True, "Extension not confirmed yet")
    ended = build_status_view(ROOM, store(), Directory(), t(9, 5), pending=("booking.end",))
    assert (v.headline, ended.state, ended.hatched) == ("Busy until 10:15", "free", True)
    assert ended.remaining == "Ending not confirmed yet"


def test_a_refusal_is_a_dialog_with_its_reason() -> None:
    words = "The room is booked in the calendar from 09:30 to 10:00"
    booked = Rejected("booking.create", words, "conflict", t(9, 6))
    v = build_status_view(ROOM, store(), Directory(), t(9, 7), rejected=booked)
    assert v.rejection is not None
    assert (v.rejection.title, v.rejection.words, v.rejection.booking) == (
        "Not booked",
        words,
        True,
    )
    checkin = Rejected("meeting.checkin", "The meeting changed meanwhile", "state", t(9, 6))
    r = build_status_view(ROOM, store(), Directory(), t(9, 7), rejected=checkin).rejection
    assert r is not None and (r.title, r.booking) == ("Not checked in", False)
    assert build_status_view(ROOM, store(), Directory(), t(9, 7)).rejection is None


def item(n: int, past: bool = False) -> AgendaItem:
    return AgendaItem(f"{n}:00", f"Meeting {n}", "", False, past)


def test_agenda_says_how_many_more_when_rows_do_not_fit() -> None:
    items = [item(n, past=n < 2) for n in range(8)]  # two are over
    shown, more = agenda_window(items, 4)
    assert [i.subject for i in shown] == ["Meeting 2", "Meeting 3", "Meeting 4"]
    assert more == 3  # the fourth row says "+3 more"
    shown, more = agenda_window(items, 4, rows_with_more=3)
    assert (len(shown), more) == (3, 3)
    shown, more = agenda_window(items[:5], 4)  # from now on it fits: a past one fills up
    assert [i.subject for i in shown] == ["Meeting 1", "Meeting 2", "Meeting 3", "Meeting 4"]
    assert more == 0
    assert agenda_window(items, 1) == ((), 6)
    assert agenda_window(items, 0) == ((), 6)  # only the "+6 more" line
    assert agenda_window(items[:2], 0) == ((), 0)


def test_book_now_choices_say_their_end_time() -> None:
    end = datetime(2026, 11, 30, 10, 20, tzinfo=Z)
    assert until_label(end, Z) == "until 10:20"
    assert until_label(end, Z, h24=False) == "until 10:20 AM"


def test_no_calendar_keeps_find_room_and_report() -> None:
    v = build_status_view(ROOM, CalendarStore(Z), Directory(), t(10), actions=("book", "find"))
    assert v.actions == ("find",)
    bare = build_status_view(ROOM, CalendarStore(Z), Directory(), t(10))
    assert bare.actions == ("find", "report") and bare.timeline == ()


# notices: each lasts as long as its state ---------------------------------------------


def notice(text: str, at: datetime, lasts: Lasts = Lasts.VISIT, error: bool = False) -> Notice:
    return Notice(text, error, at.astimezone(UTC), lasts)


def shown(board: NoticeBoard, calendar: CalendarStore, now: datetime, notices, **kw) -> list:
    v = build_status_view(ROOM, calendar, Directory(), now, notices=notices, board=board, **kw)
    return [line.text for line in v.notices]


def test_a_visit_notice_stays_while_the_person_is_at_the_screen() -> None:
    board, calendar = NoticeBoard(), store()
    done = [notice("Booking confirmed", t(9))]
    touches = [t(9, 0, 50), t(9, 1, 40), t(9, 2, 30)]
    for touch in touches:  # still touching: still shown after 2 minutes
        assert shown(board, calendar, touch + timedelta(seconds=5), done, last_touch=touch) == [
            "Booking confirmed"
        ]
    idle = touches[-1] + VISIT_IDLE
    assert shown(board, calendar, idle, done, last_touch=touches[-1]) == []
    assert shown(board, calendar, idle, done, last_touch=idle) == []  # never comes back


def test_a_room_notice_lasts_until_the_room_changes() -> None:
    board = NoticeBoard()
    calendar = store(m("a", t(11), t(12)))
    released = [notice("Nobody checked in: the room was released", t(9, 10), Lasts.ROOM)]
    for minutes in (0, 2, 30):  # free until 11:00 all along
        now = t(9, 10) + timedelta(minutes=minutes)
        assert shown(board, calendar, now, released) == [released[0].text]
    assert shown(board, calendar, t(10, 52), released) == []  # starting soon now
    assert shown(board, calendar, t(9, 20), released) == []


def test_the_empty_room_offer_lasts_while_it_stands() -> None:
    board, calendar = NoticeBoard(), store()
    offer = [notice("The room seems empty", t(9), Lasts.OFFER)]
    assert shown(board, calendar, t(9, 30), offer, offer=True) == ["The room seems empty"]
    assert shown(board, calendar, t(9, 31), offer, offer=False) == []


def test_an_error_stays_until_it_is_tapped_away_and_comes_first() -> None:
    board, calendar = NoticeBoard(), store()
    notices = [
        notice("Could not save", t(9), error=True, lasts=Lasts.ACKNOWLEDGED),
        notice("The room seems empty", t(9, 1), Lasts.OFFER),
        notice("Kept", t(9, 2)),
    ]
    offline = _Sync(False, pending=1)
    v = build_status_view(
        ROOM,
        calendar,
        Directory(),
        t(12),
        notices=notices,
        board=board,
        offer=True,
        sync_status=offline,
    )
    # being offline outranks the offer: everyone passing must know, and Keep has a button
    assert [(n.kind, n.dismiss) for n in v.notices] == [("error", True), ("offline", False)]
    assert len(v.notices) == MAX_NOTICES
    calm = build_status_view(ROOM, calendar, Directory(), t(12), sync_status=offline)
    assert [(n.kind, n.text) for n in calm.notices] == [("offline", "Offline — 1 change waiting")]


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

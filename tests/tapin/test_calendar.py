"""Room status and "until" times: before, during, after, back to back, midnight, DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tapin.calendar import (
    CalendarStore,
    Directory,
    RoomState,
    day_bounds,
    meeting_view,
    room_status,
)
from tapin.domain import Meeting, Person, Visibility

STHLM = ZoneInfo("Europe/Stockholm")
NY = ZoneInfo("America/New_York")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, zone: ZoneInfo = STHLM, fold: int = 0):
    return datetime(y, mo, d, h, mi, tzinfo=zone, fold=fold)


def meeting(start: datetime, end: datetime, mid: str = "m", **kw) -> Meeting:
    return Meeting(id=mid, room_id="r", start=start, end=end, subject="Budget", **kw)


DAY = (2026, 11, 30)
TEN = meeting(at(*DAY, 10), at(*DAY, 11), "ten")
TWO = meeting(at(*DAY, 14), at(*DAY, 15), "two")


@pytest.mark.parametrize(
    ("now", "state", "until"),
    [
        (at(*DAY, 8), RoomState.FREE, at(*DAY, 10)),
        (at(*DAY, 9, 49), RoomState.FREE, at(*DAY, 10)),
        (at(*DAY, 9, 50), RoomState.STARTING_SOON, at(*DAY, 10)),
        (at(*DAY, 10), RoomState.BUSY, at(*DAY, 11)),
        (at(*DAY, 10, 59), RoomState.BUSY, at(*DAY, 11)),
        (at(*DAY, 11), RoomState.FREE, at(*DAY, 14)),
        (at(*DAY, 15), RoomState.FREE, None),
        (at(*DAY, 23, 59), RoomState.FREE, None),
    ],
)
def test_status_before_during_after(now, state, until) -> None:
    status = room_status([TWO, TEN], now, STHLM)
    assert status.state is state
    assert status.until == until


def test_busy_until_follows_back_to_back_and_overlapping_meetings() -> None:
    chain = [
        meeting(at(*DAY, 9), at(*DAY, 10), "a"),
        meeting(at(*DAY, 10), at(*DAY, 10, 30), "b"),
        meeting(at(*DAY, 10, 15), at(*DAY, 11, 15), "c"),
        meeting(at(*DAY, 11, 30), at(*DAY, 12), "d"),
    ]
    status = room_status(chain, at(*DAY, 9, 30), STHLM)
    assert status.state is RoomState.BUSY
    assert status.until == at(*DAY, 11, 15)
    assert status.current is not None and status.current.id == "a"
    assert status.next is not None and status.next.id == "d"


def test_free_until_ignores_meetings_of_tomorrow() -> None:
    tomorrow = meeting(at(2026, 12, 1, 8), at(2026, 12, 1, 9))
    status = room_status([tomorrow], at(*DAY, 20), STHLM)
    assert status.state is RoomState.FREE
    assert status.until is None


def test_meeting_across_midnight_is_busy_on_both_days() -> None:
    late = meeting(at(*DAY, 23, 30), at(2026, 12, 1, 0, 30))
    before = room_status([late], at(*DAY, 23, 45), STHLM)
    after = room_status([late], at(2026, 12, 1, 0, 10), STHLM)
    assert before.state is after.state is RoomState.BUSY
    assert before.until == after.until == at(2026, 12, 1, 0, 30)
    store = CalendarStore(STHLM)
    store.replace_room("r", [late])
    assert store.meetings("r", date(2026, 12, 1)) == (late,)
    assert store.meetings("r", date(2026, 11, 30)) == (late,)
    assert store.meetings("r", date(2026, 12, 2)) == ()


def test_day_boundary_is_the_sites_midnight_not_utcs() -> None:
    # 23:30 in Stockholm is 22:30 UTC: still the same site day, the 09:00 meeting of
    # the next site day does not make the room "free until 09:00".
    next_morning = meeting(at(2026, 12, 1, 9), at(2026, 12, 1, 10))
    status = room_status([next_morning], at(*DAY, 23, 30), STHLM)
    assert status.until is None
    # A New York panel at 20:00 local (01:00 UTC next day) is still on its own day.
    ny_meeting = meeting(at(*DAY, 21, zone=NY), at(*DAY, 22, zone=NY))
    status = room_status([ny_meeting], at(*DAY, 20, zone=NY), NY)
    assert status.state is RoomState.FREE and status.until == at(*DAY, 21, zone=NY)


def test_spring_forward_day_is_23_hours_and_durations_are_real() -> None:
    start, end = day_bounds(date(2026, 3, 29), STHLM)
    assert end - start == timedelta(hours=23)
    # 01:30 CET to 03:30 CEST is one real hour.
    dst = meeting(at(2026, 3, 29, 1, 30), at(2026, 3, 29, 3, 30))
    assert dst.duration == timedelta(hours=1)
    status = room_status([dst], at(2026, 3, 29, 1, 45), STHLM)
    assert status.state is RoomState.BUSY
    assert status.remaining(at(2026, 3, 29, 1, 45)) == timedelta(minutes=45)
    assert status.until is not None and status.until.astimezone(STHLM).hour == 3


def test_fall_back_day_is_25_hours_and_the_repeated_hour_is_ordered() -> None:
    start, end = day_bounds(date(2026, 10, 25), STHLM)
    assert end - start == timedelta(hours=25)
    first = at(2026, 10, 25, 2, 30, fold=0)  # 02:30 CEST
    second = at(2026, 10, 25, 2, 30, fold=1)  # 02:30 CET, an hour later
    m = meeting(second, at(2026, 10, 25, 4))
    status = room_status([m], first, STHLM)
    assert status.state is RoomState.FREE
    assert status.remaining(first) == timedelta(hours=1)
    assert room_status([m], second, STHLM).state is RoomState.BUSY


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        room_status([TEN], datetime(2026, 11, 30, 10), STHLM)


def test_private_meeting_shows_neither_subject_nor_organiser() -> None:
    anna = Person(id="p1", name="Anna Lind", email="anna@example.org")
    secret = meeting(at(*DAY, 10), at(*DAY, 11), private=True, organiser_id="p1")
    view = meeting_view(secret, Directory([anna]))
    assert view.subject == "Private meeting"
    assert view.organiser is None
    assert "Budget" not in repr(view)


def test_invisible_organiser_is_never_named() -> None:
    ghost = Person(
        id="p2", name="Ghost Person", email="g@example.org", visibility=Visibility.INVISIBLE
    )
    directory = Directory([ghost])
    assert directory.get("p2") is None
    assert len(directory) == 0
    view = meeting_view(meeting(at(*DAY, 10), at(*DAY, 11), organiser_id="p2"), directory)
    assert view.subject == "Budget"
    assert view.organiser is None


def test_store_notifies_and_forgets_a_person() -> None:
    store = CalendarStore(STHLM)
    seen: list[str] = []
    unsubscribe = store.subscribe(seen.append)
    assert not store.loaded("r")
    store.replace_room(
        "r", [meeting(at(*DAY, 10), at(*DAY, 11), organiser_id="p1", attendee_ids=("p1", "p3"))]
    )
    assert store.loaded("r") and seen == ["r"]
    store.forget_person("p1")
    (m,) = store.meetings("r")
    assert m.organiser_id is None and m.subject == "" and m.attendee_ids == ("p3",)
    assert seen == ["r", "r"]
    unsubscribe()
    unsubscribe()  # idempotent
    store.clear()
    assert seen == ["r", "r"]


def test_store_refuses_a_meeting_of_another_room() -> None:
    store = CalendarStore(STHLM)
    other = Meeting(id="x", room_id="other", start=at(*DAY, 9), end=at(*DAY, 10))
    with pytest.raises(ValueError, match="belongs to other"):
        store.replace_room("r", [other])


def test_reprs_carry_no_personal_data() -> None:
    person = Person(id="p1", name="Anna Lind", email="anna@example.org", phone="+46 8 1")
    m = meeting(at(*DAY, 10), at(*DAY, 11))
    assert "Anna" not in repr(person) and "anna@" not in repr(person)
    assert "Budget" not in repr(m)


def _booked_here(store: CalendarStore) -> Meeting:
    """A booking made on this panel, shown at once (pending), then confirmed by central."""
    mine = meeting(at(*DAY, 9), at(*DAY, 9, 30), "bk", pending=True)
    store.put_local("r", mine)
    store.settle_local("r", "bk")
    return mine


def _shown(store: CalendarStore) -> list[tuple[str, datetime, datetime]]:
    return [(m.id, m.start, m.end) for m in store.meetings("r")]


def test_a_confirmed_booking_survives_a_snapshot_taken_before_central_had_it() -> None:
    store = CalendarStore(STHLM)
    mine = _booked_here(store)
    assert not store.meetings("r")[0].pending  # confirmed
    store.replace_room("r", [TEN], mentioned={"ten"})  # read before the booking applied
    assert _shown(store) == [("bk", mine.start, mine.end), ("ten", TEN.start, TEN.end)]


def test_once_central_agrees_its_later_changes_show() -> None:
    store = CalendarStore(STHLM)
    mine = _booked_here(store)
    theirs = meeting(mine.start, mine.end, "bk")
    store.replace_room("r", [theirs, TEN], mentioned={"bk", "ten"})  # caught up
    moved = meeting(at(*DAY, 13), at(*DAY, 14), "bk")  # then moved in the room's calendar
    store.replace_room("r", [moved, TEN], mentioned={"bk", "ten"})
    assert _shown(store) == [("ten", TEN.start, TEN.end), ("bk", moved.start, moved.end)]
    store.replace_room("r", [TEN], mentioned={"bk", "ten"})  # released at central
    assert _shown(store) == [("ten", TEN.start, TEN.end)]


def test_a_booking_central_released_or_moved_at_once_gives_way() -> None:
    store = CalendarStore(STHLM)
    _booked_here(store)
    store.replace_room("r", [], mentioned={"bk"})  # named, not shown: released or ended
    assert _shown(store) == []

    store = CalendarStore(STHLM)
    _booked_here(store)
    moved = meeting(at(*DAY, 13), at(*DAY, 14), "bk")
    store.replace_room("r", [moved], mentioned={"bk"})  # maybe a snapshot from before...
    assert _shown(store) == [("bk", at(*DAY, 9), at(*DAY, 9, 30))]
    store.replace_room("r", [moved], mentioned={"bk"})  # ... not twice: central decides
    assert _shown(store) == [("bk", moved.start, moved.end)]


def test_a_pending_change_is_never_taken_back_by_a_snapshot() -> None:
    store = CalendarStore(STHLM)
    store.put_local("r", meeting(at(*DAY, 9), at(*DAY, 9, 30), "bk", pending=True))
    for _ in range(3):  # not confirmed yet: central's view cannot know it
        store.replace_room("r", [], mentioned={"bk"})
    assert [m.id for m in store.meetings("r")] == ["bk"]
    # a check-in made here then confirmed: central's checked-in version takes over
    store.settle_local("r", "bk")
    store.put_local("r", meeting(at(*DAY, 9), at(*DAY, 9, 30), "bk", checked_in=True))
    store.settle_local("r", "bk")
    store.replace_room("r", [meeting(at(*DAY, 9), at(*DAY, 9, 30), "bk")], mentioned={"bk"})
    assert store.meetings("r")[0].checked_in  # central's copy is older: ours stays
    store.replace_room(
        "r", [meeting(at(*DAY, 9), at(*DAY, 9, 30), "bk", checked_in=True)], mentioned={"bk"}
    )
    assert store.local("r", "bk") is None and store.meetings("r")[0].checked_in

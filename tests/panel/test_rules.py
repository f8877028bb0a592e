"""Book now, check-in window, no-show release, extend, end early: every edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from panel.rules import (
    Occupancy,
    book_now_choices,
    can_check_in,
    checkin_window,
    end_early_at,
    extend_choices,
    release_decision,
)
from tapin.domain import Meeting, Room

Z = ZoneInfo("Europe/Stockholm")
ROOM = Room(id="r", name="R", floor=1, capacity=4)


def t(h: int, m: int = 0, s: int = 0, day: int = 30, month: int = 11) -> datetime:
    return datetime(2026, month, day, h, m, s, tzinfo=Z)


def mtg(start: datetime, end: datetime, mid: str = "m", **kw) -> Meeting:
    return Meeting(id=mid, room_id="r", start=start, end=end, **kw)


TEN = mtg(t(10), t(11), "ten")


@pytest.mark.parametrize(
    ("now", "choices"),
    [
        (t(8), [15, 30, 45, 60]),
        (t(9, 15), [15, 30, 45]),
        (t(9, 30), [15, 30]),
        (t(9, 44, 59), [15]),
        (t(9, 46), [14]),  # less than 15 but at least 5: the gap itself
        (t(9, 55), [5]),
        (t(9, 55, 1), []),
        (t(10, 30), []),  # in use
        (t(11), [15, 30, 45, 60]),
    ],
)
def test_book_now_never_runs_into_the_next_meeting(now, choices) -> None:
    assert book_now_choices([TEN], now) == choices


def test_book_now_stops_at_the_end_of_the_day() -> None:
    assert book_now_choices([], t(23, 20), day_end=t(0, 0, day=1, month=12)) == [15, 30]


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (t(9, 49, 59), False),
        (t(9, 50), True),
        (t(10, 9, 59), True),
        (t(10, 10), False),
    ],
)
def test_checkin_window_edges(now, ok) -> None:
    assert can_check_in(TEN, ROOM, now) is ok


def test_checkin_window_is_configurable_and_never_past_the_end() -> None:
    room = Room(
        id="r",
        name="R",
        floor=1,
        capacity=4,
        checkin_before=timedelta(minutes=5),
        checkin_after=timedelta(minutes=45),
    )
    short = mtg(t(10), t(10, 30))
    opens, closes = checkin_window(short, room)
    assert (opens, closes) == (t(9, 55), t(10, 30))
    assert not can_check_in(short, room, t(9, 54))
    assert can_check_in(short, room, t(10, 29))


def test_checked_in_meeting_cannot_check_in_again_nor_be_released() -> None:
    done = mtg(t(10), t(11), checked_in=True)
    assert not can_check_in(done, ROOM, t(10))
    assert not release_decision(done, ROOM, t(10, 30)).release


@pytest.mark.parametrize(
    ("now", "release"),
    [(t(10, 9, 59), False), (t(10, 10), True), (t(10, 59), True), (t(11), False)],
)
def test_no_show_release_at_the_window_edge(now, release) -> None:
    assert release_decision(TEN, ROOM, now).release is release


def test_long_meetings_are_never_released() -> None:
    workshop = mtg(t(8), t(16))
    decision = release_decision(workshop, ROOM, t(12))
    assert not decision.release and "8 hours" in decision.reason
    almost = mtg(t(8), t(15, 59))
    assert release_decision(almost, ROOM, t(12)).release


def test_release_respects_policy_and_presence() -> None:
    off = Room(id="r", name="R", floor=1, capacity=4, auto_release=False)
    assert not release_decision(TEN, off, t(10, 30)).release
    occupied = release_decision(TEN, ROOM, t(10, 30), occupancy=Occupancy.OCCUPIED)
    assert not occupied.release and "occupied" in occupied.reason
    assert release_decision(TEN, ROOM, t(10, 30), occupancy=Occupancy.VACANT).release


def test_release_window_is_absolute_across_dst() -> None:
    # 2026-03-29: clocks jump from 02:00 to 03:00 in Stockholm. A meeting from 01:55
    # CET has its window close at 02:05 CET == 03:05 CEST, ten real minutes later.
    start = datetime(2026, 3, 29, 1, 55, tzinfo=Z)
    night = mtg(start, start + timedelta(hours=1))
    _, closes = checkin_window(night, ROOM)
    assert closes - start == timedelta(minutes=10)
    assert closes.astimezone(Z).hour == 3 and closes.astimezone(Z).minute == 5
    assert not release_decision(night, ROOM, datetime(2026, 3, 29, 3, 4, tzinfo=Z)).release
    assert release_decision(night, ROOM, datetime(2026, 3, 29, 3, 5, tzinfo=Z)).release


def test_release_rules_in_utc_and_new_york_agree() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 11, 1, 1, 30, tzinfo=ny, fold=1)  # the repeated hour, EST
    m = mtg(start, start + timedelta(hours=1))
    assert release_decision(m, ROOM, start.astimezone(UTC) + timedelta(minutes=10)).release
    assert not release_decision(m, ROOM, start + timedelta(minutes=9)).release


def test_extend_in_15_minute_steps_while_free() -> None:
    later = mtg(t(11, 40), t(12), "later")
    assert extend_choices(TEN, [TEN, later], t(10, 30)) == [15, 30]
    assert extend_choices(TEN, [TEN], t(10, 30)) == [15, 30, 45, 60]
    back_to_back = mtg(t(11), t(12), "next")
    assert extend_choices(TEN, [TEN, back_to_back], t(10, 30)) == []
    assert extend_choices(TEN, [TEN], t(9, 30)) == []  # not in progress


def test_end_early_frees_the_rest() -> None:
    assert end_early_at(TEN, t(10, 20, 31)) == t(10, 20)
    assert end_early_at(TEN, t(9)) is None
    assert end_early_at(TEN, t(10, 0, 30)) == t(10)  # same minute as the start


def test_extend_stops_at_midnight_like_book_now() -> None:
    late = mtg(t(23, 0), t(23, 30), "late")
    midnight = t(0, 0, day=1, month=12)
    assert extend_choices(late, [late], t(23, 10), day_end=midnight) == [15, 30]
    assert extend_choices(late, [late], t(23, 10)) == [15, 30, 45, 60]  # no day given

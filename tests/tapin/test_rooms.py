"""Free rooms right now: which, in what order, for how long; midnight and DST edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tapin.domain import Room, Site
from tapin.rooms import NONE_FREE, UNKNOWN, FreeRoom, free_rooms, free_rooms_view

STHLM = ZoneInfo("Europe/Stockholm")
NY = ZoneInfo("America/New_York")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, zone: ZoneInfo = STHLM, fold: int = 0):
    return datetime(y, mo, d, h, mi, tzinfo=zone, fold=fold).astimezone(UTC)


DAY = (2026, 11, 30)
HERE = Room(id="here", name="Aurora", floor=3, capacity=8)


def site(*rooms: Room, zone: ZoneInfo = STHLM) -> Site:
    return Site(id="s", name="S", timezone=zone, rooms=(HERE, *rooms))


def room(rid: str, floor: int = 3, name: str | None = None, **kw) -> Room:
    return Room(id=rid, name=name or rid.title(), floor=floor, capacity=kw.pop("capacity", 6), **kw)


def ids(found: list[FreeRoom]) -> list[str]:
    return [f.room.id for f in found]


def test_only_other_rooms_free_now_are_listed() -> None:
    s = site(room("busy"), room("free"), room("unknown"))
    availability = {
        "here": (),
        "busy": ((at(*DAY, 9), at(*DAY, 10)),),
        "free": ((at(*DAY, 11), at(*DAY, 12)),),
    }
    found = free_rooms(s, availability, HERE, at(*DAY, 9, 30))
    assert ids(found) == ["free"]
    (free,) = found
    assert free.free_until == at(*DAY, 11)
    assert free.free_for == timedelta(minutes=90)


def test_edges_of_a_busy_interval() -> None:
    s = site(room("r"))
    availability = {"r": ((at(*DAY, 10), at(*DAY, 11)),)}
    assert ids(free_rooms(s, availability, HERE, at(*DAY, 10))) == []  # starts now: busy
    assert ids(free_rooms(s, availability, HERE, at(*DAY, 10, 59))) == []
    (after,) = free_rooms(s, availability, HERE, at(*DAY, 11))  # ended now: free
    assert after.free_until is None and after.free_for is None


def test_rooms_free_for_under_ten_minutes_are_left_out() -> None:
    s = site(room("r"))
    availability = {"r": ((at(*DAY, 10), at(*DAY, 11)),)}
    assert ids(free_rooms(s, availability, HERE, at(*DAY, 9, 50))) == ["r"]  # exactly 10
    late = at(*DAY, 9, 50) + timedelta(seconds=1)
    assert ids(free_rooms(s, availability, HERE, late)) == []


def test_order_same_floor_then_longest_free_then_name() -> None:
    s = site(
        room("b-short", name="Beta"),
        room("a-short", name="alpha"),
        room("long"),
        room("allday"),
        room("upstairs", floor=4),
        room("upstairs-short", floor=4),
    )
    availability = {
        "b-short": ((at(*DAY, 10), at(*DAY, 11)),),
        "a-short": ((at(*DAY, 10), at(*DAY, 11)),),
        "long": ((at(*DAY, 15), at(*DAY, 16)),),
        "allday": ((at(*DAY, 7), at(*DAY, 8)),),
        "upstairs": (),
        "upstairs-short": ((at(*DAY, 9, 30), at(*DAY, 10)),),
    }
    found = free_rooms(s, availability, HERE, at(*DAY, 9))
    assert ids(found) == ["allday", "long", "a-short", "b-short", "upstairs", "upstairs-short"]


def test_unsorted_and_back_to_back_intervals() -> None:
    s = site(room("r"))
    availability = {
        "r": (
            (at(*DAY, 14), at(*DAY, 15)),
            (at(*DAY, 9), at(*DAY, 9, 30)),
            (at(*DAY, 9, 30), at(*DAY, 10)),
            (at(*DAY, 12), at(*DAY, 13)),
        )
    }
    assert ids(free_rooms(s, availability, HERE, at(*DAY, 9, 29))) == []
    assert ids(free_rooms(s, availability, HERE, at(*DAY, 9, 30))) == []
    (free,) = free_rooms(s, availability, HERE, at(*DAY, 10))
    assert free.free_until == at(*DAY, 12)


def test_tomorrows_meeting_leaves_the_rest_of_today_free() -> None:
    # 23:30 in Stockholm is 22:30 UTC: the 09:00 meeting belongs to the next site day.
    s = site(room("r"))
    availability = {"r": ((at(2026, 12, 1, 9), at(2026, 12, 1, 10)),)}
    (free,) = free_rooms(s, availability, HERE, at(*DAY, 23, 30))
    assert free.free_until is None
    # A meeting starting right at the site's midnight is tomorrow's too.
    availability = {"r": ((at(2026, 12, 1, 0), at(2026, 12, 1, 1)),)}
    (free,) = free_rooms(s, availability, HERE, at(*DAY, 23, 30))
    assert free.free_until is None


def test_a_meeting_across_midnight_keeps_the_room_busy_after_midnight() -> None:
    s = site(room("r"))
    late = (at(*DAY, 23, 30), at(2026, 12, 1, 0, 30))
    assert ids(free_rooms(s, {"r": (late,)}, HERE, at(2026, 12, 1, 0, 10))) == []
    (before,) = free_rooms(s, {"r": (late,)}, HERE, at(*DAY, 23))
    assert before.free_until == late[0]


def test_the_site_day_is_the_sites_not_utcs() -> None:
    # 20:00 in New York is 01:00 UTC the next day; the 21:00 meeting is still today.
    s = site(room("r"), zone=NY)
    availability = {"r": ((at(*DAY, 21, zone=NY), at(*DAY, 22, zone=NY)),)}
    (free,) = free_rooms(s, availability, HERE, at(*DAY, 20, zone=NY))
    assert free.free_until == at(*DAY, 21, zone=NY)
    assert free.free_for == timedelta(hours=1)


def test_spring_forward_durations_are_real_time() -> None:
    # 01:30 CET to 03:30 CEST on 29 March is one real hour.
    s = site(room("r"))
    availability = {"r": ((at(2026, 3, 29, 3, 30), at(2026, 3, 29, 4)),)}
    (free,) = free_rooms(s, availability, HERE, at(2026, 3, 29, 1, 30))
    assert free.free_for == timedelta(hours=1)
    view = free_rooms_view(s, availability, HERE, at(2026, 3, 29, 1, 30))
    assert view.rows[0].free == "Free until 03:30"
    assert view.rows[0].detail == "for 1 h"


def test_fall_back_repeated_hour() -> None:
    first = at(2026, 10, 25, 2, 30, fold=0)  # 02:30 CEST
    second = at(2026, 10, 25, 2, 30, fold=1)  # 02:30 CET, an hour later
    s = site(room("r"))
    availability = {"r": ((second, at(2026, 10, 25, 4)),)}
    (free,) = free_rooms(s, availability, HERE, first)
    assert free.free_for == timedelta(hours=1)
    assert ids(free_rooms(s, availability, HERE, second)) == []
    # The 25-hour day still ends at the site's midnight.
    (evening,) = free_rooms(
        s, {"r": ((at(2026, 10, 26, 0, 10), at(2026, 10, 26, 1)),)}, HERE, at(2026, 10, 25, 23)
    )
    assert evening.free_until is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        free_rooms(site(room("r")), {"r": ()}, HERE, datetime(2026, 11, 30, 10))


def test_view_texts_in_24h_and_12h() -> None:
    s = site(
        room("later", capacity=8, equipment=("display", "video")),
        room("soon", floor=2, capacity=1),
        room("allday", floor=2, capacity=0),
    )
    availability = {
        "later": ((at(*DAY, 14), at(*DAY, 15)),),
        "soon": ((at(*DAY, 9, 45), at(*DAY, 10)),),
        "allday": (),
    }
    view = free_rooms_view(s, availability, HERE, at(*DAY, 9))
    assert view.message == "" and view.more == ""
    later, allday, soon = view.rows
    assert (later.name, later.floor, later.seats, later.equipment) == (
        "Later",
        "Floor 3",
        "8 seats",
        "display, video",
    )
    assert later.same_floor and not soon.same_floor
    assert (later.free, later.detail) == ("Free until 14:00", "for 5 h")
    assert (soon.free, soon.detail, soon.seats) == ("Free for 45 min", "until 09:45", "1 seat")
    assert (allday.free, allday.detail, allday.seats) == ("Free for the rest of the day", "", "")
    h12 = free_rooms_view(s, availability, HERE, at(*DAY, 9), h24=False)
    assert h12.rows[0].free == "Free until 2:00 PM"


def test_view_shows_at_most_five_and_counts_the_rest() -> None:
    rooms = [room(f"r{i}") for i in range(8)]
    availability = {r.id: () for r in rooms}
    view = free_rooms_view(site(*rooms), availability, HERE, at(*DAY, 9))
    assert len(view.rows) == 5 and view.more == "+3 more"
    view = free_rooms_view(site(*rooms), availability, HERE, at(*DAY, 9), limit=8)
    assert len(view.rows) == 8 and view.more == ""


def test_view_never_guesses_without_availability() -> None:
    s = site(room("r"))
    assert free_rooms_view(s, None, HERE, at(*DAY, 9)).message == UNKNOWN
    # Knowing only this room's own availability says nothing about the others.
    assert free_rooms_view(s, {"here": ()}, HERE, at(*DAY, 9)).message == UNKNOWN
    assert free_rooms_view(site(), {"here": ()}, HERE, at(*DAY, 9)).message == UNKNOWN
    busy = {"r": ((at(*DAY, 8), at(*DAY, 18)),)}
    view = free_rooms_view(s, busy, HERE, at(*DAY, 9))
    assert view.rows == () and view.message == NONE_FREE


@pytest.fixture
def swedish():
    from tapin import i18n

    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def test_view_texts_in_swedish(swedish) -> None:
    s = site(
        room("later", capacity=8, equipment=("display", "audio")),
        room("soon", floor=2, capacity=1),
        room("allday", floor=2, capacity=0),
    )
    availability = {
        "later": ((at(*DAY, 14), at(*DAY, 15)),),
        "soon": ((at(*DAY, 9, 45), at(*DAY, 10)),),
        "allday": (),
    }
    later, allday, soon = free_rooms_view(s, availability, HERE, at(*DAY, 9)).rows
    assert (later.floor, later.seats, later.equipment) == ("Våning 3", "8 platser", "skärm, ljud")
    assert (later.free, later.detail) == ("Ledigt till 14:00", "i 5 tim")
    assert (soon.free, soon.detail, soon.seats) == ("Ledigt i 45 min", "till 09:45", "1 plats")
    assert allday.free == "Ledigt resten av dagen"
    rooms = [room(f"r{i}") for i in range(8)]
    view = free_rooms_view(site(*rooms), {r.id: () for r in rooms}, HERE, at(*DAY, 9))
    assert view.more == "+3 till"
    assert free_rooms_view(s, None, HERE, at(*DAY, 9)).message == (
        "Det går inte att se lediga rum just nu (ingen anslutning)"
    )
    none_free = free_rooms_view(
        site(room("r")), {"r": ((at(*DAY, 8), at(*DAY, 18)),)}, HERE, at(*DAY, 9)
    )
    assert none_free.message == "Inget annat rum är ledigt just nu"

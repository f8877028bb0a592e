"""The built-in demo site: deterministic, varied, and it keeps the privacy rules."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from tapin.demo.site import DEMO_ROOM, demo_meetings, demo_site
from tapin.domain import Visibility


def test_demo_is_deterministic_and_laid_on_the_day_asked_for() -> None:
    site = demo_site()
    now = datetime(2026, 11, 30, 9, 20, tzinfo=UTC)
    day = date(2026, 11, 30)
    assert demo_site() == site
    today = demo_meetings(site, day, now=now)
    assert today == demo_meetings(site, day, now=now)
    tomorrow = demo_meetings(site, date(2026, 12, 1))
    assert {m.start.astimezone(site.timezone).date() for m in today} == {day}
    assert {m.start.astimezone(site.timezone).date() for m in tomorrow} == {date(2026, 12, 1)}
    # without "now" the demo room has no meetings placed around it
    assert DEMO_ROOM in {m.room_id for m in today}
    assert DEMO_ROOM not in {m.room_id for m in tomorrow}


def test_demo_has_floors_rooms_desks_and_varied_people() -> None:
    site = demo_site()
    assert len({r.floor for r in site.rooms}) >= 3
    assert all(r.capacity > 0 for r in site.rooms) and len(site.desks) >= 12
    kinds = {p.visibility for p in site.people}
    assert kinds == {Visibility.VISIBLE, Visibility.INVISIBLE}
    assert site.room(DEMO_ROOM).name == "Aurora"


def test_demo_meetings_include_private_ones_and_invisible_organisers() -> None:
    site = demo_site()
    meetings = demo_meetings(site, date(2026, 11, 30))
    invisible = {p.id for p in site.people if not p.visible}
    assert any(m.private for m in meetings)
    assert any(m.organiser_id in invisible for m in meetings)
    for room in site.rooms:
        mine = sorted((m for m in meetings if m.room_id == room.id), key=lambda m: m.start)
        assert all(a.end <= b.start for a, b in itertools.pairwise(mine))


def test_demo_room_has_a_meeting_around_now() -> None:
    site = demo_site()
    now = datetime(2026, 11, 30, 13, 7, tzinfo=UTC)
    meetings = [
        m for m in demo_meetings(site, date(2026, 11, 30), now=now) if m.room_id == DEMO_ROOM
    ]
    assert any(m.covers(now) for m in meetings)
    assert any(m.start > now for m in meetings)

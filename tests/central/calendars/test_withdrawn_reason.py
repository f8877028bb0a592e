"""A booking central withdraws because the room's calendar (a real Radicale) won reaches the
device with its reason: a code in the calendar snapshot served by a real central, parsed by
the device strictly, said in the panel's language; nothing of a private winner leaks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from central.calendars.base import booking_uid
from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from panel.notices import WithdrawnNotices
from tapin import i18n
from tapin.config import Config
from tapin.device.runtime import empty_runtime
from tapin.device.snapshots import SnapshotError, parse_withdrawn
from tests.central.calendars.conftest import ics, vevent
from tests.central.conftest import NOW, ZONE, World, at


def _panel_config() -> Config:
    return Config(
        role="panel", timezone=ZONE, locale="en_GB", state_dir=Path("/nonexistent"), room="r2"
    )


async def _snapshot(world: World, panel: Any) -> dict[str, Any]:
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r2"}, headers=panel.headers
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_withdrawn_booking_comes_back_with_its_reason_and_no_secrets(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    # a private meeting booked in the calendar over 10:00-11:00, just before the write-back
    calendar.save_event(ics(vevent("merger", at(10), at(11), "Secret merger", "CLASS:PRIVATE")))
    clash = panel.event("booking.create", "room:r2", {"booking_id": "bk-w"}, at(10), at(10, 30))
    cancelled = panel.event("booking.create", "room:r2", {"booking_id": "bk-c"}, at(15), at(16))
    assert [r["outcome"] for r in await world.send(panel, clash, cancelled)] == ["applied"] * 2
    end = panel.event("booking.end", "room:r2", {"booking_id": "bk-c"}, None, at(9))
    assert [r["outcome"] for r in await world.send(panel, end)] == ["applied"]
    report = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert report.withdrawn == 1

    data = await _snapshot(world, panel)
    by_id = {m["id"]: m for m in data["meetings"]}
    assert by_id["bk-w"]["status"] == "released"
    assert by_id["bk-w"]["withdrawn"] == "calendar_conflict"
    assert "withdrawn" not in by_id["bk-c"]  # released by its booker: nothing to say
    assert "Secret" not in str(data) and "merger" not in str(data)

    # the device: the room is free again, and the booking is known as withdrawn
    runtime = empty_runtime(_panel_config())
    assert runtime.apply_snapshot("calendar", data)
    assert [m.id for m in runtime.calendar.meetings("r2")] == []
    [withdrawn] = runtime.withdrawn
    assert (withdrawn.booking_id, withdrawn.reason) == ("bk-w", "calendar_conflict")
    assert (withdrawn.start, withdrawn.end) == (at(10), at(10, 30))

    told = WithdrawnNotices()
    before = at(9, 55)
    assert told.news(runtime.withdrawn, before, ZONE) == [
        "Your booking 10:00–10:30 was withdrawn: the room was booked in the calendar at the same"
        " time"
    ]
    assert told.news(runtime.withdrawn, before, ZONE) == []  # said once
    i18n.use("sv_SE")
    try:
        [words] = WithdrawnNotices().news(runtime.withdrawn, before, ZONE)
    finally:
        i18n.use("en")
    assert words == "Din bokning 10:00–10:30 drogs tillbaka: rummet var bokat i kalendern samma tid"
    assert WithdrawnNotices().news(runtime.withdrawn, at(10, 30), ZONE) == []  # over: no news

    # the next sync brings the winner, private: the panel shows the room busy, no subject
    await sync_site(world.pool, site, connector, NOW)
    assert runtime.apply_snapshot("calendar", await _snapshot(world, panel))
    [meeting] = runtime.calendar.meetings("r2")
    assert (meeting.private, meeting.subject, meeting.start) == (True, "", at(10))
    assert [w.booking_id for w in runtime.withdrawn] == ["bk-w"]


async def test_a_booking_moved_in_the_calendar_onto_a_taken_time_has_the_same_reason(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    calendar.save_event(ics(vevent("board", at(14), at(15), "Board", "CLASS:PRIVATE")))
    booking = panel.event("booking.create", "room:r2", {"booking_id": "bk-m"}, at(11), at(11, 30))
    assert [r["outcome"] for r in await world.send(panel, booking)] == ["applied"]
    assert (await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})).written
    await sync_site(world.pool, site, connector, NOW)
    # someone drags central's event in the calendar onto the board meeting
    event = calendar.event_by_uid(booking_uid("bk-m"))
    component = event.icalendar_component
    component["dtstart"].dt, component["dtend"].dt = at(14), at(14, 30)
    event.save()
    report = await sync_site(world.pool, site, connector, NOW)
    assert report.withdrawn == 1

    data = await _snapshot(world, panel)
    [item] = [m for m in data["meetings"] if m["id"] == "bk-m"]
    assert (item["status"], item["withdrawn"]) == ("released", "calendar_conflict")
    runtime = empty_runtime(_panel_config())
    assert runtime.apply_snapshot("calendar", data)
    assert WithdrawnNotices().news(runtime.withdrawn, at(9), ZONE) == [
        "Your booking 11:00–11:30 was withdrawn: the room was booked in the calendar at the same"
        " time"
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"withdrawn": 7}, "short code"),
        ({"withdrawn": "Calendar Conflict"}, "short code"),
        ({"withdrawn": "x" * 41}, "short code"),
        ({"withdrawn": "calendar_conflict", "status": "confirmed"}, "only for a released"),
        ({"withdrawn": "calendar_conflict", "source": "calendar"}, "only for a released"),
        ({"withdrawn": "calendar_conflict", "end": "10:30"}, "ISO 8601"),
    ],
)
def test_a_malformed_withdrawn_booking_is_refused_whole(
    change: dict[str, Any], problem: str
) -> None:
    item: dict[str, Any] = {
        "id": "bk-w",
        "source": "device",
        "start": at(10).isoformat(),
        "end": at(10, 30).isoformat(),
        "private": False,
        "subject": None,
        "organiser_id": None,
        "attendee_ids": [],
        "status": "released",
        "withdrawn": "calendar_conflict",
    }
    good: dict[str, Any] = {"room_id": "r2", "meetings": [item]}
    assert [w.reason for w in parse_withdrawn(good, "r2")] == ["calendar_conflict"]
    unknown = copy.deepcopy(good)
    unknown["meetings"][0]["withdrawn"] = "policy"  # a newer central's code: general words
    [later] = parse_withdrawn(unknown, "r2")
    assert WithdrawnNotices().news([later], at(9), ZONE) == [
        "Your booking 10:00–10:30 was withdrawn by the server"
    ]
    bad = copy.deepcopy(good)
    bad["meetings"][0].update(change)
    with pytest.raises(SnapshotError, match=problem):
        parse_withdrawn(bad, "r2")
    runtime = empty_runtime(_panel_config())
    assert not runtime.apply_snapshot("calendar", bad)  # ignored whole, the old kept
    assert runtime.withdrawn == ()

"""The sync engine's rules against a real Radicale and a real central on PostgreSQL:
an organiser the directory sync made inactive is no one; an event central wrote and
someone then moved in the calendar moves the booking (or withdraws it when the room is
taken then) and is never written over; rooms are read several at once, bounded."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from caldav.davclient import DAVClient

from central.calendars.base import FetchResult, SyncState, Window, booking_uid
from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import connectors_for, sync_site
from central.calendars.writeback import drain_writebacks
from tests.central.calendars.conftest import ics, vevent
from tests.central.calendars.radicale import PASSWORD, USER, Radicale
from tests.central.conftest import NOW, Device, World, at


async def _calendar(world: World, panel: Device) -> list[dict[str, Any]]:
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r2"}, headers=panel.headers
    )
    assert response.status_code == 200, response.text
    meetings: list[dict[str, Any]] = response.json()["meetings"]
    return meetings


async def _one(world: World, sql: str, *params: object) -> Any:
    async with world.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else tuple(row)


async def test_an_inactive_organiser_is_no_one(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    organised = "ORGANIZER:mailto:Vera@Example.com"
    calendar.save_event(ics(vevent("by-vera", at(10), at(11), "Planning", organised)))
    await sync_site(world.pool, site, connector, NOW)
    assert await _one(world, "SELECT organiser_id FROM meetings WHERE room_id = 'r2'") == "p-vis"

    async with world.pool.connection() as conn:  # what the directory sync does when she left
        await conn.execute("UPDATE people SET inactive_since = now() WHERE id = 'p-vis'")
    calendar.save_event(ics(vevent("by-vera", at(10), at(11, 30), "Planning", organised)))
    await sync_site(world.pool, site, connector, NOW)

    assert await _one(world, "SELECT organiser_id FROM meetings WHERE room_id = 'r2'") is None


async def _booked_and_written(
    world: World, site: SiteCalendars, connector: CalDavConnector, start: Any, end: Any
) -> Device:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)  # the room has a calendar now
    booking = {"booking_id": "bk-1", "booked_by": "p-vis", "subject": "Quick sync"}
    [result] = await world.send(
        panel, panel.event("booking.create", "room:r2", booking, start, end)
    )
    assert result["outcome"] == "applied"
    report = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert report.written == 1
    return panel


def _move_in_the_calendar(calendar: Any, start: Any, end: Any) -> None:
    """What a colleague does in Outlook or Google: the same event, another time."""
    event = calendar.event_by_uid(booking_uid("bk-1"))
    event.data = ics(vevent(booking_uid("bk-1"), start, end, "Quick sync (moved)"))
    event.save()


def _event_times(calendar: Any) -> tuple[Any, Any]:
    component = calendar.event_by_uid(booking_uid("bk-1")).icalendar_component
    return component.decoded("dtstart"), component.decoded("dtend")


async def test_a_booking_moved_in_the_calendar_takes_the_new_time(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await _booked_and_written(world, site, connector, at(11), at(11, 30))
    _move_in_the_calendar(calendar, at(13), at(14))

    report = await sync_site(world.pool, site, connector, NOW)

    assert (report.adopted, report.withdrawn) == (1, 0)
    [shown] = await _calendar(world, panel)
    assert (shown["id"], shown["status"]) == ("bk-1", "confirmed")
    assert (shown["start"][11:16], shown["end"][11:16]) == ("13:00", "14:00")
    # central has nothing to write back: its old version never goes over the edit
    again = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert again.handled == 0
    assert _event_times(calendar) == (at(13), at(14))
    # a quiet sync changes nothing, and an extend on the panel now builds on the new time
    assert (await sync_site(world.pool, site, connector, NOW)).adopted == 0
    extend = panel.event("booking.extend", "room:r2", {"booking_id": "bk-1"}, None, at(14, 30))
    assert [r["outcome"] for r in await world.send(panel, extend)] == ["applied"]
    assert (await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})).written
    assert _event_times(calendar) == (at(13), at(14, 30))


async def test_a_booking_moved_onto_a_taken_time_is_withdrawn_with_the_reason(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    calendar.save_event(ics(vevent("board", at(15), at(16), "Board")))
    panel = await _booked_and_written(world, site, connector, at(11), at(11, 30))
    _move_in_the_calendar(calendar, at(15, 30), at(16, 30))

    report = await sync_site(world.pool, site, connector, NOW)

    assert (report.adopted, report.withdrawn) == (0, 1)
    shown = {m["id"]: (m["status"], m.get("withdrawn")) for m in await _calendar(world, panel)}
    assert shown["bk-1"] == ("released", "calendar_conflict")
    assert await _one(
        world, "SELECT outcome, reason, pending FROM calendar_writebacks WHERE booking_id = 'bk-1'"
    ) == ("withdrawn", "moved in the calendar to 15:30 to 16:30, a time the room is taken", False)
    assert (await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})).handled == 0
    assert _event_times(calendar) == (at(15, 30), at(16, 30))  # the edit stays as it was made


class _Meeting:
    """The real connector; its first ``meet`` fetches wait for each other (a barrier), so
    they are provably in flight at once; the most ever in flight is recorded."""

    calls = 0
    in_flight = 0
    most = 0
    guard = threading.Lock()

    def __init__(self, real: CalDavConnector, barrier: threading.Barrier) -> None:
        self.real, self.barrier = real, barrier

    @property
    def requests(self) -> int:
        return self.real.requests

    @requests.setter
    def requests(self, value: int) -> None:
        self.real.requests = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def fetch(self, calendar: str, state: SyncState, window: Window) -> FetchResult:
        with self.guard:
            type(self).calls += 1
            meet = type(self).calls <= self.barrier.parties
            type(self).in_flight += 1
            type(self).most = max(type(self).most, type(self).in_flight)
        try:
            if meet:
                self.barrier.wait(timeout=20)
            return self.real.fetch(calendar, state, window)
        finally:
            with self.guard:
                type(self).in_flight -= 1


async def test_rooms_are_read_several_at_once_and_no_more(world: World, server: Radicale) -> None:
    rooms = [f"c{n}" for n in range(7)]
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO rooms (id, site_id, name) SELECT r, 'alpha', r FROM unnest(%s::text[]) r",
            [rooms],
        )
    urls = {}
    with DAVClient(server.url, username=USER, password=PASSWORD) as client:
        principal = client.principal()
        for n, room in enumerate(rooms):
            name = f"{room}-{uuid.uuid4().hex[:8]}"
            made = principal.make_calendar(name=name, cal_id=name)
            made.save_event(ics(vevent(f"m-{room}", at(10 + n % 5), at(11 + n % 5), f"M {room}")))
            urls[room] = str(made.url)
    site = SiteCalendars("alpha", "caldav", server.url, USER, PASSWORD, rooms=urls)
    barrier = threading.Barrier(3)
    several = connectors_for(
        lambda: _Meeting(CalDavConnector(site.url, site.user, site.password), barrier),
        len(rooms),
        at_once=3,
    )
    assert len(several) == 3
    try:
        report = await sync_site(world.pool, site, several, NOW)
    finally:
        for one in several:
            one.close()

    assert not barrier.broken  # three fetches did meet: they were in flight together
    assert _Meeting.most == 3
    assert (report.rooms, report.failed, report.changed) == (7, {}, 7)
    assert await _one(world, "SELECT count(*) FROM meetings WHERE room_id LIKE 'c%%'") == 7


async def test_the_command_takes_rooms_at_once_and_refuses_a_bad_number(
    world: World,
    db: str,
    server: Radicale,
    calendar: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from central.cli import main

    calendar.save_event(ics(vevent("one", at(10), at(11), "Planning")))
    path = tmp_path / "calendars.toml"
    path.write_text(
        f'[sites.alpha]\nurl = "{server.url}"\nuser = "{USER}"\npassword = "{PASSWORD}"\n'
        f'[sites.alpha.rooms]\nr2 = "{calendar.url}"\n'
    )
    path.chmod(0o600)
    args = ["calendar", "sync", "--once", "--calendars", str(path), "--dsn", db]

    assert await asyncio.to_thread(main, [*args, "--rooms-at-once", "2"]) == 0
    assert "site alpha: 1 rooms synced" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main([*args, "--rooms-at-once", "0"])
    assert refused.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith("argument --rooms-at-once: must be a whole number from 1 to 64, not '0'")
    )


async def test_a_panel_change_queued_before_the_edit_never_writes_over_it(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await _booked_and_written(world, site, connector, at(11), at(11, 30))
    extend = panel.event("booking.extend", "room:r2", {"booking_id": "bk-1"}, None, at(12))
    assert [r["outcome"] for r in await world.send(panel, extend)] == ["applied"]
    _move_in_the_calendar(calendar, at(13), at(14))  # before central writes the extend

    refused = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert (refused.written, refused.retrying) == (0, 1)  # If-Match failed: not forced
    assert _event_times(calendar) == (at(13), at(14))
    report = await sync_site(world.pool, site, connector, NOW)
    assert report.adopted == 1
    [shown] = await _calendar(world, panel)
    assert (shown["start"][11:16], shown["end"][11:16]) == ("13:00", "14:00")
    async with world.pool.connection() as conn:  # the retry is due now, not after its backoff
        await conn.execute("UPDATE calendar_writebacks SET due_at = now()")
    await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert _event_times(calendar) == (at(13), at(14))

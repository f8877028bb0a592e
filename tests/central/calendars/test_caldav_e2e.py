"""Central ↔ a real CalDAV server (Radicale), both ways, seen where a user sees it: the
panel's calendar snapshot served by a real central on PostgreSQL, and the room calendar."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from central.calendars.base import booking_uid
from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from tests.central.calendars.conftest import ics, vevent
from tests.central.conftest import NOW, TODAY, Device, World, at


async def _calendar(world: World, panel: Device) -> list[dict[str, Any]]:
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r2"}, headers=panel.headers
    )
    assert response.status_code == 200, response.text
    meetings: list[dict[str, Any]] = response.json()["meetings"]
    return meetings


def _times(meeting: dict[str, Any]) -> tuple[str, str]:
    return meeting["start"][11:16], meeting["end"][11:16]


async def test_events_made_in_the_calendar_reach_the_panel_after_one_sync(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    week = timedelta(days=7)
    calendar.save_event(
        ics(
            vevent(
                "single",
                at(10),
                at(10, 30),
                "Standup",
                "ORGANIZER:mailto:VERA@example.com",
                "ATTENDEE:mailto:ivan@example.com",
                "ATTENDEE:mailto:vera@example.com",
            )
        )
    )
    # weekly since last week: today's moved to 14:00, next week's cancelled
    calendar.save_event(
        ics(
            vevent("weekly", at(12) - week, at(13) - week, "Weekly", "RRULE:FREQ=WEEKLY;COUNT=4"),
            vevent("weekly", at(14), at(15), "Weekly (moved)", f"RECURRENCE-ID{_rid(at(12))}"),
            vevent(
                "weekly",
                at(12) + week,
                at(13) + week,
                "Weekly",
                f"RECURRENCE-ID{_rid(at(12) + week)}",
                "STATUS:CANCELLED",
            ),
        )
    )
    calendar.save_event(ics(vevent("private", at(16), at(17), "Secret merger", "CLASS:PRIVATE")))
    calendar.save_event(ics(vevent("moving", at(17), at(17, 30), "Will move")))
    calendar.save_event(ics(vevent("cancelling", at(18), at(18, 30), "Will be cancelled")))

    report = await sync_site(world.pool, site, connector, NOW)
    assert (report.rooms, report.failed, report.full) == (1, {}, 1)

    shown = await _calendar(world, panel)
    by_subject = {m["subject"]: m for m in shown if m["subject"]}
    assert [_times(m) for m in shown] == [
        ("10:00", "10:30"),
        ("14:00", "15:00"),
        ("16:00", "17:00"),
        ("17:00", "17:30"),
        ("18:00", "18:30"),
    ]
    standup = by_subject["Standup"]
    assert standup["organiser_id"] == "p-vis"  # mapped by email, case aside
    assert standup["attendee_ids"] == ["p-vis"]  # the invisible attendee is nobody
    assert "Weekly (moved)" in by_subject and "Weekly" not in by_subject
    private = [m for m in shown if m["private"]]
    assert len(private) == 1 and private[0]["subject"] is None
    assert private[0]["organiser_id"] is None
    # next week's occurrence was cancelled; the one after is there, at its own time
    assert (
        await world.count(
            "meetings", "room_id = 'r2' AND lower(during) = %s", at(12, day=TODAY + week)
        )
        == 0
    )
    assert (
        await world.count(
            "meetings", "room_id = 'r2' AND lower(during) = %s", at(12, day=TODAY + 2 * week)
        )
        == 1
    )

    moving = calendar.event_by_uid("moving")
    moving.data = ics(vevent("moving", at(19), at(19, 30), "Moved"))
    moving.save()
    cancelling = calendar.event_by_uid("cancelling")
    cancelling.data = ics(
        vevent("cancelling", at(18), at(18, 30), "Will be cancelled", "STATUS:CANCELLED")
    )
    cancelling.save()
    calendar.event_by_uid("private").delete()

    again = await sync_site(world.pool, site, connector, NOW)
    assert (again.full, again.failed) == (0, {})
    shown = await _calendar(world, panel)
    assert [(m["subject"], *_times(m)) for m in shown] == [
        ("Standup", "10:00", "10:30"),
        ("Weekly (moved)", "14:00", "15:00"),
        ("Moved", "19:00", "19:30"),
    ]
    quiet = await sync_site(world.pool, site, connector, NOW)
    assert (quiet.changed, quiet.removed, quiet.requests) == (0, 0, 1)  # one small REPORT


def _rid(moment: Any) -> str:
    from tests.central.calendars.conftest import local

    return local(moment)


async def test_a_panel_booking_becomes_an_event_that_follows_extend_and_end(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)  # the room has a calendar now
    booking = {"booking_id": "bk-1", "booked_by": "p-vis", "subject": "Quick sync"}
    [result] = await world.send(
        panel, panel.event("booking.create", "room:r2", booking, at(11), at(11, 30))
    )
    assert result["outcome"] == "applied"

    report = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert report.written == 1
    event = calendar.event_by_uid(booking_uid("bk-1")).icalendar_component
    assert (event.decoded("dtstart"), event.decoded("dtend")) == (at(11), at(11, 30))
    assert str(event["organizer"]).lower() == "mailto:vera@example.com"
    assert str(event["summary"]) == "Quick sync"

    # reading the calendar back does not turn central's own event into a second meeting
    await sync_site(world.pool, site, connector, NOW)
    assert [(m["id"], m["source"]) for m in await _calendar(world, panel)] == [("bk-1", "device")]

    extend = panel.event("booking.extend", "room:r2", {"booking_id": "bk-1"}, None, at(12))
    assert [r["outcome"] for r in await world.send(panel, extend)] == ["applied"]
    assert (await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})).written
    event = calendar.event_by_uid(booking_uid("bk-1")).icalendar_component
    assert event.decoded("dtend") == at(12)

    end = panel.event("booking.end", "room:r2", {"booking_id": "bk-1"}, None, at(11, 40))
    assert [r["outcome"] for r in await world.send(panel, end)] == ["applied"]
    await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    event = calendar.event_by_uid(booking_uid("bk-1")).icalendar_component
    assert event.decoded("dtend") == at(11, 40)

    # a booking cancelled before it starts leaves the calendar
    later = {"booking_id": "bk-2"}
    await world.send(panel, panel.event("booking.create", "room:r2", later, at(15), at(15, 30)))
    await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert str(calendar.event_by_uid(booking_uid("bk-2")).icalendar_component["summary"])
    cancel = panel.event("booking.end", "room:r2", later, None, at(14))
    await world.send(panel, cancel)
    report = await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})
    assert report.deleted == 1
    assert [e.icalendar_component["uid"] for e in calendar.events()] == [booking_uid("bk-1")]


class _SomeoneBooksAtTheSameMoment:
    """The real connector; the first event write also lands a colleague's event in the
    same slot on the same server (as Outlook would, a moment before ours)."""

    def __init__(self, real: CalDavConnector, calendar: Any, clash: str) -> None:
        self.real, self.calendar, self.clash = real, calendar, clash
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_event(self, *args: Any, **kwargs: Any) -> str:
        if self.clash:
            self.calendar.save_event(self.clash)
            self.clash = ""
        return self.real.put_event(*args, **kwargs)


async def test_an_event_made_in_the_calendar_at_the_same_moment_wins(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    # one made in the calendar just before, one at the very moment of the write-back
    calendar.save_event(ics(vevent("board", at(15), at(16), "Board")))
    racer = _SomeoneBooksAtTheSameMoment(
        connector, calendar, ics(vevent("race", at(11), at(12), "Raced"))
    )
    first = panel.event("booking.create", "room:r2", {"booking_id": "bk-a"}, at(11), at(11, 30))
    second = panel.event("booking.create", "room:r2", {"booking_id": "bk-b"}, at(15, 30), at(16))
    assert [r["outcome"] for r in await world.send(panel, first, second)] == ["applied"] * 2

    report = await drain_writebacks(world.pool, {"alpha": racer}, {"r2": "alpha"})
    assert report.withdrawn == 2

    # the device's bookings come back released; the room calendar holds only the winners
    shown = {m["id"]: m["status"] for m in await _calendar(world, panel)}
    assert shown == {"bk-a": "released", "bk-b": "released"}
    uids = sorted(str(e.icalendar_component["uid"]) for e in calendar.events())
    assert uids == ["board", "race"]
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT booking_id, outcome, reason FROM calendar_writebacks ORDER BY 1"
        )
        rows = await cur.fetchall()
    assert rows == [
        ("bk-a", "withdrawn", "the room was booked in the calendar from 11:00 to 12:00"),
        ("bk-b", "withdrawn", "the room was booked in the calendar from 15:00 to 16:00"),
    ]
    # the next sync shows what won, and a check-in on a withdrawn booking is refused
    await sync_site(world.pool, site, connector, NOW)
    subjects = [m["subject"] for m in await _calendar(world, panel) if m["source"] == "calendar"]
    assert subjects == ["Raced", "Board"]
    checkin = panel.event("meeting.checkin", "room:r2", {"meeting_id": "bk-a"})
    [answer] = await world.send(panel, checkin)
    assert answer["outcome"] == "rejected"


async def test_a_write_back_waits_out_an_outage_and_is_made_once(
    world: World, calendar: Any, site: SiteCalendars, connector: CalDavConnector
) -> None:
    panel = await world.enroll(room="r2")
    await sync_site(world.pool, site, connector, NOW)
    booking = panel.event("booking.create", "room:r2", {"booking_id": "bk-o"}, at(16), at(17))
    await world.send(panel, booking)
    rooms = {"r2": "alpha"}
    async with world.pool.connection() as conn:  # the calendar server is down (nothing on :9)
        await conn.execute("UPDATE room_calendars SET calendar_url = 'http://127.0.0.1:9/x/'")
    unreachable = CalDavConnector("http://127.0.0.1:9/", site.user, site.password, timeout=2)
    down = await drain_writebacks(world.pool, {"alpha": unreachable}, rooms)
    unreachable.close()
    assert (down.retrying, down.written) == (1, 0)
    async with world.pool.connection() as conn:
        await conn.execute("UPDATE room_calendars SET calendar_url = %s", [site.rooms["r2"]])
        cur = await conn.execute(
            "SELECT pending, attempts, error, due_at > now() + interval '3 seconds'"
            " FROM calendar_writebacks"
        )
        assert await cur.fetchone() == (True, 1, "calendar read failed (ConnectionError)", True)
    assert (await drain_writebacks(world.pool, {"alpha": connector}, rooms)).handled == 0
    async with world.pool.connection() as conn:  # its backoff is over
        await conn.execute("UPDATE calendar_writebacks SET due_at = now()")
    assert (await drain_writebacks(world.pool, {"alpha": connector}, rooms)).written == 1
    assert (await drain_writebacks(world.pool, {"alpha": connector}, rooms)).handled == 0
    assert [str(e.icalendar_component["uid"]) for e in calendar.events()] == [booking_uid("bk-o")]

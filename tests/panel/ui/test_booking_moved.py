"""A booking made on the panel and then moved in the room's calendar, end to end: booked
by touch on a real offscreen panel, applied by a real central (PostgreSQL, TLS), written
back to a real CalDAV server (Radicale), moved there as a colleague would in Outlook;
central's calendar sync moves the booking and the panel that made it shows the new time
(its own copy of the booking gives way once central has it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from caldav.davclient import DAVClient
from psycopg_pool import AsyncConnectionPool

from central.calendars.base import booking_uid
from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync
from tests.central.calendars.conftest import ics, vevent
from tests.central.calendars.radicale import PASSWORD, USER, radicale
from tests.panel.ui.test_panel_actions import settle, tap_choice
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]


async def test_a_booking_moved_in_the_calendar_moves_on_the_panel_that_made_it(
    central: Any, screen: Any, run_panel: Any, tmp_path: Path
) -> None:
    device = central.enroll("panel", room="skog")
    with psycopg.connect(central.dsn) as conn:  # a free room whatever the hour
        conn.execute("DELETE FROM meetings WHERE room_id = 'skog'")
        [site_id] = conn.execute("SELECT site_id FROM rooms WHERE id = 'skog'").fetchone() or [""]
    with radicale(tmp_path / "radicale") as server:
        name = f"skog-{uuid.uuid4().hex[:6]}"
        with DAVClient(server.url, username=USER, password=PASSWORD) as client:
            calendar = client.principal().make_calendar(name=name, cal_id=name)
        site = SiteCalendars(
            site_id=site_id,
            connector="caldav",
            url=server.url,
            user=USER,
            password=PASSWORD,
            rooms={"skog": str(calendar.url)},
        )
        connector = CalDavConnector(site.url, site.user, site.password)
        pool = AsyncConnectionPool(central.dsn, min_size=1, max_size=2, open=False)
        await pool.open()
        config = load_config(device.config)
        runtime = empty_runtime(config)
        sync = await open_device_sync(config, runtime)
        try:
            await sync_site(pool, site, connector, datetime.now(UTC))  # skog has a calendar
            assert await sync.agent.refresh(force=True)
            app = run_panel(runtime, "skog", sink=sync.queue)
            sync.agent.on_settled = app.controller.on_results
            app.refresh()
            screen.frames(3)

            book = app.status_screen.action_button("book")
            assert book is not None, texts(app.root)
            screen.tap_widget(book)
            tap_choice(screen, app, next(iter(app.status_screen.dialog.buttons)))
            await settle(app, screen)
            assert await sync.agent.drain(force=True) == 1
            await settle(app, screen)
            [booked] = runtime.calendar.meetings("skog")
            assert not booked.pending and app.status_screen.view.state == "busy"
            report = await drain_writebacks(pool, {site_id: connector}, {"skog": site_id})
            assert report.written == 1
            assert await sync.agent.refresh(force=True)  # central has it: its copy decides
            [mine] = runtime.calendar.meetings("skog")
            assert (mine.start, mine.end, mine.checked_in) == (booked.start, booked.end, True)

            # a colleague moves it to later today in the calendar
            later = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
            event = calendar.event_by_uid(booking_uid(booked.id))
            event.data = ics(
                vevent(booking_uid(booked.id), later, later + timedelta(minutes=30), "x")
            )
            event.save()
            assert (await sync_site(pool, site, connector, datetime.now(UTC))).adopted == 1

            assert await sync.agent.refresh(force=True)
            app.refresh()
            screen.frames(3)
            [moved] = runtime.calendar.meetings("skog")
            assert (moved.id, moved.start, moved.end) == (
                booked.id,
                later,
                later + timedelta(minutes=30),
            )
            assert not moved.checked_in  # the door's check-in was for the old time
            assert app.status_screen.view.state == "free", texts(app.root)
            shown = " ".join(texts(app.root))
            assert f"{later.astimezone(config.timezone):%H:%M}" in shown, shown
            screen.save(tmp_path / "moved.png")
        finally:
            await sync.close()
            await pool.close()
            connector.close()

"""A panel of room ``skog`` whose room has a real calendar: a real central (PostgreSQL,
TLS), a real CalDAV server (Radicale) holding the room's calendar, the panel's real
device sync and an offscreen panel; and a booking made on it by touch. For the tests of
what the calendar does to a panel's booking (withdrawn, moved)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from caldav.davclient import DAVClient
from psycopg_pool import AsyncConnectionPool

from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from tapin.config import Config, load_config
from tapin.device.runtime import Runtime, empty_runtime
from tapin.device.services import open_device_sync
from tapin.domain import Meeting
from tests.central.calendars.radicale import PASSWORD, USER, radicale
from tests.panel.ui.test_panel_actions import settle, tap_choice
from tests.panel.ui.test_status_screen import texts


@dataclass
class CalendarRoom:
    app: Any
    runtime: Runtime
    sync: Any
    config: Config
    calendar: Any
    """The room's calendar on the CalDAV server (a ``caldav`` Calendar)."""
    pool: AsyncConnectionPool
    site: SiteCalendars
    connector: CalDavConnector

    async def sync_calendar(self) -> Any:
        """Central's calendar sync of the site, now; its report."""
        return await sync_site(self.pool, self.site, self.connector, datetime.now(UTC))

    async def write_back(self) -> Any:
        """Central's calendar write-back, now; its report."""
        site_id = self.site.site_id
        return await drain_writebacks(self.pool, {site_id: self.connector}, {"skog": site_id})

    async def book_by_touch(self, screen: Any) -> Meeting:
        """Book now (the first choice) on the panel and drain it to central: the booking."""
        book = self.app.status_screen.action_button("book")
        assert book is not None, texts(self.app.root)
        screen.tap_widget(book)
        tap_choice(screen, self.app, next(iter(self.app.status_screen.dialog.buttons)))
        await settle(self.app, screen)
        assert await self.sync.agent.drain(force=True) == 1
        await settle(self.app, screen)
        assert self.app.status_screen.view.state == "busy", texts(self.app.root)
        [booked] = self.runtime.calendar.meetings("skog")
        return booked


@asynccontextmanager
async def calendar_room(
    central: Any, screen: Any, run_panel: Any, tmp_path: Path
) -> AsyncIterator[CalendarRoom]:
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
            yield CalendarRoom(app, runtime, sync, config, calendar, pool, site, connector)
        finally:
            await sync.close()
            await pool.close()
            connector.close()

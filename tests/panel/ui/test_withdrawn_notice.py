"""A panel booking that the room's calendar wins, end to end: booked by touch on a real
offscreen panel, sent to a real central (PostgreSQL, TLS), written back to a real CalDAV
server (Radicale) where a colleague's private meeting already holds the slot; central
withdraws it and the panel says so, in its language, without a word of the winner."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from caldav.davclient import DAVClient
from psycopg_pool import AsyncConnectionPool

from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from tapin import i18n
from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync
from tests.central.calendars.conftest import ics, vevent
from tests.central.calendars.radicale import PASSWORD, USER, radicale
from tests.panel.ui.test_panel_actions import settle, tap_choice
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]


def _withdrawn_line(shown: list[str]) -> str:
    return next((t for t in shown if "withdrawn" in t or "drogs tillbaka" in t), "")


@pytest.mark.parametrize("locale", ["en_GB", "sv_SE"])
async def test_a_booking_the_calendar_wins_is_withdrawn_with_words_on_the_panel(
    central: Any, screen: Any, run_panel: Any, tmp_path: Path, locale: str
) -> None:
    device = central.enroll("panel", room="skog")
    with psycopg.connect(central.dsn) as conn:  # a free room whatever the hour
        conn.execute("DELETE FROM meetings WHERE room_id = 'skog'")
        [site_id] = conn.execute("SELECT site_id FROM rooms WHERE id = 'skog'").fetchone() or [""]
    i18n.use(locale)
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
            await asyncio.sleep(0)
            await settle(app, screen)
            assert app.status_screen.view.state == "busy", texts(app.root)
            [booked] = runtime.calendar.meetings("skog")

            # meanwhile a colleague's private meeting was booked over it in the calendar
            now = datetime.now(UTC)
            calendar.save_event(
                ics(
                    vevent(
                        "merger",
                        now - timedelta(minutes=5),
                        now + timedelta(hours=2),
                        "Secret merger",
                        "CLASS:PRIVATE",
                        "ORGANIZER:mailto:vera@example.com",
                    )
                )
            )
            report = await drain_writebacks(pool, {site_id: connector}, {"skog": site_id})
            assert report.withdrawn == 1

            assert await sync.agent.refresh(force=True)
            app.refresh()
            screen.frames(3)
            shown = texts(app.root)
            times = "{}–{}".format(
                *(f"{t.astimezone(config.timezone):%H:%M}" for t in (booked.start, booked.end))
            )
            expected = (
                f"Your booking {times} was withdrawn: the room was booked in the calendar at"
                " the same time"
                if locale == "en_GB"
                else f"Din bokning {times} drogs tillbaka: rummet var bokat i kalendern samma tid"
            )
            assert _withdrawn_line(shown) == expected, shown
            assert not any(t in ("Booking confirmed", "Bokningen är bekräftad") for t in shown)
            assert app.status_screen.view.state == "free"  # until the calendar's meeting arrives
            assert not any("Secret" in t or "Vera" in t for t in shown)
            screen.save(tmp_path / f"withdrawn-{locale}.png")

            # the next calendar sync brings the winner (private, no subject); the words stay
            await sync_site(pool, site, connector, datetime.now(UTC))
            assert await sync.agent.refresh(force=True)
            app.refresh()
            screen.frames(3)
            shown = texts(app.root)
            assert app.status_screen.view.state in ("busy", "awaiting_checkin")
            assert _withdrawn_line(shown) == expected
            assert not any("Secret" in t for t in shown)
            screen.save(tmp_path / f"withdrawn-then-busy-{locale}.png")

            # said once: another snapshot does not repeat it; tapped away, it is gone
            assert await sync.agent.refresh(force=True)
            app.refresh()
            assert sum(n.text == expected for n in app.controller.notices) == 1
            app.controller.acknowledge()
            app.refresh()
            screen.frames(3)
            assert _withdrawn_line(texts(app.root)) == ""
        finally:
            i18n.use("en")
            await sync.close()
            await pool.close()
            connector.close()

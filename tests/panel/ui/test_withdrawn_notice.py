"""A panel booking that the room's calendar wins, end to end: booked by touch on a real
offscreen panel, sent to a real central (PostgreSQL, TLS), written back to a real CalDAV
server (Radicale) where a colleague's private meeting already holds the slot; central
withdraws it and the panel says so, in its language, without a word of the winner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tapin import i18n
from tests.central.calendars.conftest import ics, vevent
from tests.panel.ui.calendar_room import calendar_room
from tests.panel.ui.test_panel_actions import settle
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]


def _withdrawn_line(shown: list[str]) -> str:
    return next((t for t in shown if "withdrawn" in t or "drogs tillbaka" in t), "")


@pytest.mark.parametrize("locale", ["en_GB", "sv_SE"])
async def test_a_booking_the_calendar_wins_is_withdrawn_with_words_on_the_panel(
    central: Any, screen: Any, run_panel: Any, tmp_path: Path, locale: str
) -> None:
    i18n.use(locale)
    async with calendar_room(central, screen, run_panel, tmp_path) as room:
        app, sync, config, calendar = room.app, room.sync, room.config, room.calendar
        try:
            booked = await room.book_by_touch(screen)
            await asyncio.sleep(0)
            await settle(app, screen)

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
            report = await room.write_back()
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
            await room.sync_calendar()
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

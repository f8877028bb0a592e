"""A booking made on the panel and then moved in the room's calendar, end to end: booked
by touch on a real offscreen panel, applied by a real central (PostgreSQL, TLS), written
back to a real CalDAV server (Radicale), moved there as a colleague would in Outlook;
central's calendar sync moves the booking and the panel that made it shows the new time
(its own copy of the booking gives way once central has it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.calendars.base import booking_uid
from tests.central.calendars.conftest import ics, vevent
from tests.panel.ui.calendar_room import calendar_room
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]


async def test_a_booking_moved_in_the_calendar_moves_on_the_panel_that_made_it(
    central: Any, screen: Any, run_panel: Any, tmp_path: Path
) -> None:
    async with calendar_room(central, screen, run_panel, tmp_path) as room:
        app, runtime, sync, config = room.app, room.runtime, room.sync, room.config
        booked = await room.book_by_touch(screen)
        assert not booked.pending
        assert (await room.write_back()).written == 1
        assert await sync.agent.refresh(force=True)  # central has it: its copy decides
        [mine] = runtime.calendar.meetings("skog")
        assert (mine.start, mine.end, mine.checked_in) == (booked.start, booked.end, True)

        # a colleague moves it to later today in the calendar
        later = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
        event = room.calendar.event_by_uid(booking_uid(booked.id))
        event.data = ics(vevent(booking_uid(booked.id), later, later + timedelta(minutes=30), "x"))
        event.save()
        assert (await room.sync_calendar()).adopted == 1

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

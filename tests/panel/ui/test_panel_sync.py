"""The panel over a real central: the calendar arrives from PostgreSQL through TLS, and
when central goes away the panel says it is offline and how much is waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]


async def test_panel_shows_central_calendar_then_offline_banner(
    central, screen, run_panel, tmp_path: Path
) -> None:
    device = central.enroll("panel", room="aurora")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    app = run_panel(runtime, "aurora")
    assert "Calendar unavailable" in texts(app.root)  # nothing known before the first sync

    sync = await open_device_sync(config, runtime)
    try:
        assert await sync.agent.refresh(force=True)
        app.refresh()
        screen.frames(3)
        shown = texts(app.root)
        assert "Aurora" in shown and "Calendar unavailable" not in shown
        assert app.status_screen.view.state in ("free", "busy", "starting_soon", "awaiting_checkin")
        screen.save(tmp_path / "online.png")

        central.stop()
        for i in range(3):
            await sync.queue.enqueue(
                "issue.report",
                "room:aurora",
                {"report_id": f"r-{i}", "category": "audio", "text": "hum"},
            )
        await sync.agent.drain(force=True)
        app.refresh()
        screen.frames(3)
        shown = texts(app.root)
        assert any(t.startswith("Offline — 3 changes waiting") for t in shown)
        assert "Aurora" in shown  # it keeps working from memory
        screen.save(tmp_path / "offline.png")
    finally:
        await sync.close()


async def test_book_now_by_touch_lands_in_centrals_postgresql(
    central, screen, run_panel, tmp_path: Path
) -> None:
    import asyncio

    import psycopg

    from tests.e2e.conftest import count
    from tests.panel.ui.test_panel_actions import settle, tap_choice

    device = central.enroll("panel", room="skog")
    with psycopg.connect(central.dsn) as conn:  # a free room whatever the hour
        conn.execute("DELETE FROM meetings WHERE room_id = 'skog'")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    sync = await open_device_sync(config, runtime)
    try:
        assert await sync.agent.refresh(force=True)
        app = run_panel(runtime, "skog", sink=sync.queue)
        sync.agent.on_settled = app.controller.on_results
        app.refresh()
        screen.frames(3)
        book = app.status_screen.action_button("book")
        assert book is not None, texts(app.root)
        screen.tap_widget(book)
        first = next(iter(app.status_screen.dialog.buttons))
        tap_choice(screen, app, first)
        await settle(app, screen)
        assert any("PENDING" in t for t in texts(app.root))
        assert await sync.agent.drain(force=True) == 1
        await asyncio.sleep(0)
        await settle(app, screen)
        shown = texts(app.root)
        assert "Booking confirmed" in shown and not any("PENDING" in t for t in shown)
        assert (
            count(
                central.dsn,
                "SELECT count(*) FROM bookings WHERE resource = 'room:skog'"
                " AND device_id IS NOT NULL",
            )
            == 1
        )
        screen.save(tmp_path / "booked-via-central.png")
    finally:
        await sync.close()

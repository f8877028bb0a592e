"""A panel revoked at central says so in words and refuses what would only wait in its
queue forever: a real central (PostgreSQL, TLS), ``tapin central revoke``, the device's
own services (sealed queue, sync agent, the sink the panel taps into) and real touches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sync.identity import load_identity
from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import DeviceServices
from tests.panel.ui.test_panel_actions import settle, tap_choice
from tests.panel.ui.test_status_screen import texts

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]

REVOKED = "This panel was revoked on the server: nothing done here is sent. Call IT."
REFUSED = "This panel was revoked on the server: the action was not saved. Call IT."


async def test_a_revoked_panel_says_so_and_refuses_book_now(
    central, screen, run_panel, tmp_path: Path
) -> None:
    import psycopg

    device = central.enroll("panel", room="skog")
    with psycopg.connect(central.dsn) as conn:  # a free room whatever the hour
        conn.execute("DELETE FROM meetings WHERE room_id = 'skog'")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    services = await DeviceServices.open(config, runtime)
    try:
        assert services.sync is not None and services.sink is not None
        services.scheduler.pause()  # only this test's exchanges: no job's answer crosses them
        await asyncio.sleep(1.0)  # one already under way ends first
        assert await services.sync.agent.refresh(force=True)
        app = run_panel(runtime, "skog", sink=services.sink)
        app.refresh()
        screen.frames(3)
        assert REVOKED not in texts(app.root)

        central.central("revoke", load_identity(device.state_dir).device_id)
        assert not await services.sync.agent.refresh(force=True)  # central says: revoked
        app.refresh()
        screen.frames(3)
        assert REVOKED in texts(app.root)  # everyone passing reads it
        screen.save(tmp_path / "revoked.png")

        book = app.status_screen.action_button("book")
        assert book is not None, texts(app.root)
        screen.tap_widget(book)
        tap_choice(screen, app, next(iter(app.status_screen.dialog.buttons)))
        await settle(app, screen)
        shown = texts(app.root)
        assert REFUSED in shown  # in words, at once
        assert not any("PENDING" in t for t in shown)  # the booking was taken back
        assert app.status_screen.view.state == "free"
        assert (await services.sync.queue.counts()).waiting == 0  # nothing waits forever
        screen.save(tmp_path / "revoked-book-refused.png")
    finally:
        await services.close()

"""Start-up as a person at the panel sees it: secondary screens are built when first
shown, and an action tapped before the device services are open (they open just after
the first frame) waits for the queue instead of being lost or refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from panel import launch
from panel.app import SCREENS
from panel.launch import StartingSink
from sync.queue import AsyncSealedQueue
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tests.panel.ui.test_panel_actions import settle, tap_choice
from tests.panel.ui.test_status_screen import texts

pytestmark = pytest.mark.ui
KEY = X25519PrivateKey.generate()
NOW = datetime(2026, 11, 30, 8, 20, tzinfo=UTC)  # 09:20 in Stockholm, a free room


def free_room(tmp_path: Path):
    runtime = demo_runtime(demo_config(tmp_path / "state"), clock=ManualClock(NOW))
    runtime.calendar.replace_room("aurora", [])
    return runtime


def book_15_minutes(screen, app) -> None:
    screen.tap_widget(app.status_screen.action_button("book"))
    tap_choice(screen, app, "15 min")


async def test_secondary_screens_are_built_when_first_shown(screen, run_panel, tmp_path) -> None:
    app = run_panel(free_room(tmp_path), "aurora")
    manager = app.manager
    assert set(SCREENS) <= set(manager.screen_names)  # every screen is offered...
    assert all(manager.get_screen(name).children == [] for name in SCREENS)  # ...none built
    screen.tap_widget(app.status_screen.action_button("find"))
    screen.frames(3)
    find_room = manager.current_screen
    assert manager.current == "find_room" and "Free rooms now" in texts(find_room)
    app.go("status")
    screen.frames(1)
    app.go("find_room")
    assert manager.current_screen is find_room  # built once, kept
    assert manager.get_screen("report").children == []  # not shown yet: still not built
    app.go("status")


async def test_an_action_tapped_while_starting_reaches_the_queue(
    screen, run_panel, tmp_path
) -> None:
    starting = StartingSink()
    app = run_panel(free_room(tmp_path), "aurora", sink=starting)
    book_15_minutes(screen, app)
    await asyncio.sleep(0.05)
    app.refresh()
    screen.frames(3)
    assert "Booked at the panel" in texts(app.root)  # on screen at once
    assert app.tasks  # the action waits for the queue
    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()
    try:
        starting.open(queue)  # the services are open now
        await settle(app, screen)
        assert [row.type for row in await queue.rows()] == ["booking.create"]
        shown = texts(app.root)
        assert "Booked at the panel" in shown
        assert not any("not connected" in t or "starting" in t for t in shown)
    finally:
        await queue.close()


async def test_without_a_queue_the_waiting_action_is_undone_and_said(
    screen, run_panel, tmp_path
) -> None:
    starting = StartingSink()
    app = run_panel(free_room(tmp_path), "aurora", sink=starting)
    book_15_minutes(screen, app)
    await asyncio.sleep(0.05)
    starting.open(None)  # this device turned out to have no queue (not enrolled)
    await settle(app, screen)
    shown = texts(app.root)
    assert any("not connected" in t for t in shown)
    assert "Booked at the panel" not in shown


async def test_services_that_never_open_refuse_the_action_in_words(
    screen, run_panel, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(launch, "STARTING_WAIT", 0.2)
    app = run_panel(free_room(tmp_path), "aurora", sink=StartingSink())
    book_15_minutes(screen, app)
    await settle(app, screen)
    shown = texts(app.root)
    assert any("still starting" in t for t in shown)
    assert "Booked at the panel" not in shown

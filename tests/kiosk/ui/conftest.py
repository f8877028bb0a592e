"""Real Kivy, offscreen: the window harness of :mod:`tests.kivy_window`, at the kiosk's
1280x800 (put back to the harness's size afterwards), and a demo kiosk with a real
sealed queue and the demo's central answering it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import AsyncSealedQueue
from sync.wire import open_epoch_key, open_payload
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tests.kivy_window import SIZE, screen

__all__ = ["KEY", "NOW", "Kiosk", "kiosk", "screen", "sealed"]

KEY = X25519PrivateKey.generate()
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
"""10:30 in Stockholm on a Tuesday."""
KIOSK_SIZE = (1280, 800)


@dataclass
class Kiosk:
    app: Any
    queue: AsyncSealedQueue
    central: Any
    clock: ManualClock[datetime]
    idle: list[float]
    """The app's idle clock: ``idle[0]`` seconds."""


async def sealed(queue: AsyncSealedQueue) -> list[tuple[str, dict[str, Any]]]:
    """What the queue holds, opened with central's key (left in the queue)."""
    batch = await queue.take_batch(100)
    await queue.release_inflight()
    return [
        (e.type, open_payload(e, open_epoch_key(e.epoch, batch.epochs[e.epoch], KEY)))
        for e in batch.events
    ]


@pytest.fixture
async def kiosk(screen: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """``start(pin_hash=None)`` opens the demo kiosk app in the test window."""
    from kivy.app import App
    from kivy.uix.modalview import ModalView

    from kiosk.app import KioskApp
    from kiosk.context import DemoCamera
    from tapin.demo.central import DemoCentral
    from tapin.demo.visitors import DemoLobby
    from tapin.hardware.printer import SimulatedPrinter

    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()
    started: list[Any] = []

    def start(*, pin_hash: str | None = None, camera: bool = False, printer: bool = True) -> Kiosk:
        clock = ManualClock(NOW)
        config = demo_config(tmp_path / "state", "kiosk")
        if pin_hash is not None:
            config = dataclasses.replace(config, admin_pin_hash=pin_hash)
        runtime = demo_runtime(config, clock=clock)
        screen.window.size = KIOSK_SIZE
        extras: dict[str, Any] = {"printer": SimulatedPrinter()} if printer else {}
        if camera:
            extras["camera"] = DemoCamera()
        app = KioskApp(runtime, "lobby-main", sink=queue, extras=extras)
        idle = [0.0]
        app.idle_clock = lambda: idle[0]
        app.last_touch = 0.0
        lobby = DemoLobby(runtime)
        central = DemoCentral(queue, KEY, runtime.calendar, app.controller.on_results, lobby=lobby)
        app._run_prepare()
        started.append(app)
        screen.frames(4)
        return Kiosk(app, queue, central, clock, idle)

    yield start
    for widget in list(screen.window.children):
        if isinstance(widget, ModalView):
            widget.dismiss(animation=False)
    for app in started:
        for field in app.screen("name").fields() if app.manager else []:
            field.focus = False
        app.dispatch("on_stop")
        if app.root is not None:
            screen.window.remove_widget(app.root)
        App._running_app = None
    screen.window.size = SIZE
    screen.frames(2)
    await queue.close()

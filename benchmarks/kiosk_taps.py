"""Tap -> next screen on the lobby kiosk: the screen half of ``benchmarks.kiosk``.

The demo kiosk (:class:`kiosk.app.KioskApp`, real Kivy rendering offscreen with Mesa,
1280x800, a real sealed queue answered by the demo's central) in this process. A
visitor goes through every sign-in step of a guest (name, visitor type, company,
email, host, terms, photo, done) R times; each step's answer is typed into the flow
beforehand (typing is not what is measured), then the step's button is tapped with a
real touch (``UnitTestTouch``: down, up, through the window's event dispatch).

Timed, per tap: from the finger down to the end of the first frame that shows the next
step (Kivy's event loop: input, clock, layout, drawing; ``EventLoop.idle`` returns after
the frame is drawn). Not timed: starting the app, the typing.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["STEPS", "TapFigures", "measure_taps"]

STEPS = ("name", "type", "company", "email", "host", "terms", "photo", "done")
"""The guest's screens in order; a tap on one shows the next."""
SIZE = (1280, 800)
WAIT = 10.0
"""Seconds a tap may take at most before the run fails (bounded loops)."""


@dataclass
class TapFigures:
    taps: dict[str, list[float]] = field(default_factory=dict)
    """Seconds from the finger down to the frame showing this step, per step."""

    def all(self) -> list[float]:
        return [t for times in self.taps.values() for t in times]


def _button(root: Any, label: str) -> Any:
    from kivy.uix.button import Button

    for widget in root.walk():
        shown = isinstance(widget, Button) and widget.opacity > 0 and not widget.disabled
        if shown and widget.text == label:
            return widget
    raise RuntimeError(f"no enabled button {label!r} on screen")


class _Kiosk:
    """The demo kiosk app in this process's offscreen window."""

    def __init__(self, folder: Path) -> None:
        from tapin.ui.kivyenv import prepare_kivy

        prepare_kivy(folder / "kivy", SIZE, offscreen=True)
        from kivy.base import EventLoop
        from kivy.core.window import Window

        self.loop = EventLoop
        self.window = Window
        self.folder = folder
        self.app: Any = None
        self.central: Any = None

    async def start(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        from kiosk.app import KioskApp
        from kiosk.context import DemoCamera
        from sync.queue import AsyncSealedQueue
        from tapin.demo.central import DemoCentral
        from tapin.demo.clock import ManualClock
        from tapin.demo.runtime import demo_config, demo_runtime
        from tapin.demo.visitors import DemoLobby
        from tapin.hardware.printer import SimulatedPrinter

        key = X25519PrivateKey.generate()
        self.queue = AsyncSealedQueue(self.folder / "queue.db", key.public_key())
        await self.queue.open()
        clock = ManualClock(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
        runtime = demo_runtime(demo_config(self.folder / "state", "kiosk"), clock=clock)
        extras = {"printer": SimulatedPrinter(), "camera": DemoCamera()}
        self.app = KioskApp(runtime, "lobby-main", sink=self.queue, extras=extras)
        self.central = DemoCentral(
            self.queue,
            key,
            runtime.calendar,
            self.app.controller.on_results,
            lobby=DemoLobby(runtime),
        )
        self.app._run_prepare()
        await self.frames(4)

    async def frames(self, count: int = 1) -> None:
        for _ in range(count):
            self.loop.idle()
            await asyncio.sleep(0)  # the app's own tasks (sign-in, photo) go on

    async def tap(self, widget: Any, shows: Callable[[], bool]) -> float:
        """Tap ``widget``; seconds until the end of the first frame where ``shows()``."""
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        start = time.perf_counter()
        touch.touch_down()
        self.loop.idle()
        touch.touch_up()
        while True:
            self.loop.idle()
            if shows():
                return time.perf_counter() - start
            if time.perf_counter() - start > WAIT:
                raise RuntimeError("the next screen did not show")
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        from kivy.app import App

        if self.app is not None:
            self.app.dispatch("on_stop")
            if self.app.root is not None:
                self.window.remove_widget(self.app.root)
            App._running_app = None
        await self.queue.close()


async def _visitor(kiosk: _Kiosk, figures: TapFigures, i: int) -> None:
    app = kiosk.app
    app.home()
    await kiosk.frames(2)

    def on(step: str) -> Callable[[], bool]:
        return lambda: app.current() == step

    async def typed(app: Any, step: str, text: str) -> None:
        """What a visitor types, put in the step's field at once (not timed)."""
        app.screen(step).ids.field.text = text
        await kiosk.frames(2)

    async def tap(label: str, step: str) -> None:
        took = await kiosk.tap(_button(app.root, label), on(step))
        figures.taps.setdefault(step, []).append(took)
        await kiosk.frames(1)

    await tap("Sign in as a visitor", "name")
    await typed(app, "name", f"Benchmark Visitor {chr(65 + i % 26)}")
    await tap("Continue", "type")
    await tap("Guest", "company")
    await typed(app, "company", "Benchmark Works")
    await tap("Continue", "email")
    await typed(app, "email", f"visitor{i}@example.org")
    await tap("Continue", "host")
    await typed(app, "host", "bj")  # the search lists Björn
    await tap("Björn Ek", "terms")
    _button(app.root, "I have read and accept the terms").dispatch("on_release")
    await kiosk.frames(1)
    await tap("Continue", "photo")
    for _ in range(200):  # the photo is taken off the loop; bounded
        if _has(app.root, "Sign in"):
            break
        await kiosk.frames(1)
    await tap("Sign in", "done")


def _has(root: Any, label: str) -> bool:
    try:
        _button(root, label)
    except RuntimeError:
        return False
    return True


def measure_taps(rounds: int) -> TapFigures:
    """``rounds`` guests through every sign-in step. Raises ``RuntimeError`` when a
    step's button is missing or its screen does not show within :data:`WAIT`."""
    figures = TapFigures()

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            kiosk = _Kiosk(Path(tmp))
            await kiosk.start()
            try:
                await _visitor(kiosk, TapFigures(), 0)  # warm-up: first loads of every screen
                for i in range(rounds):
                    await _visitor(kiosk, figures, i + 1)
            finally:
                await kiosk.stop()

    asyncio.run(main())
    return figures

"""Real Kivy, rendered offscreen with Mesa, at a fixed window size (the UI tests'
``conftest.py`` files bring these fixtures in; other tests never import Kivy).

Kivy allows one window per process: it is created once per test session (800x480, the
Pi 7" screen) and every test gets a clean window. Frames are advanced by hand with
``EventLoop.idle()``; touches are real ``MotionEvent``s dispatched through the window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tapin.ui.kivyenv import prepare_kivy

SIZE = (800, 480)
prepare_kivy(Path(tempfile.mkdtemp(prefix="tapin-kivy-")), SIZE, offscreen=True)


class Screen:
    """The offscreen window as a test sees it: frames, touches, pixels, PNGs."""

    def __init__(self) -> None:
        from kivy.base import EventLoop

        EventLoop.ensure_window()
        self.loop = EventLoop
        self.window = EventLoop.window
        self.window.size = SIZE

    def frames(self, count: int = 3) -> None:
        for _ in range(count):
            self.loop.idle()

    def tap(self, x: float, y_from_top: float) -> None:
        """A finger down and up at a point given in window pixels (origin top left)."""
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(x, self.window.height - y_from_top)
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)

    def tap_widget(self, widget: Any) -> None:
        x, y = widget.to_window(*widget.center)
        self.tap(x, self.window.height - y)

    def grab(self) -> Any:
        from tapin.ui.screenshot import grab

        return grab()

    def save(self, path: Path) -> Path:
        from tapin.ui.screenshot import write_png

        return write_png(path, self.grab())


@pytest.fixture(scope="session")
def screen() -> Screen:
    return Screen()


@pytest.fixture
def run_panel(screen: Screen) -> Iterator[Callable[..., Any]]:
    """Start a :class:`panel.app.PanelApp` in the test window; stopped afterwards."""
    from kivy.app import App

    from panel.app import PanelApp

    started: list[Any] = []

    def start(runtime: Any, room_id: str, **options: Any) -> PanelApp:
        app = PanelApp(runtime, room_id, **options)
        app._run_prepare()
        started.append(app)
        screen.frames(4)
        return app

    yield start
    from kivy.uix.modalview import ModalView

    for widget in list(screen.window.children):
        if isinstance(widget, ModalView):
            widget.dismiss(animation=False)
    for app in started:
        app.dispatch("on_stop")
        if app.root is not None:
            screen.window.remove_widget(app.root)
        App._running_app = None
    screen.frames(1)

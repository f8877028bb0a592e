"""The room panel Kivy app: a thin view over the runtime.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy` (see
:mod:`panel.launch`).
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock, ClockEvent
from kivy.core.window import Window
from kivy.uix.screenmanager import NoTransition, ScreenManager

from panel.screens.status import StatusScreen
from panel.status_model import build_status_view
from tapin.runtime import Runtime

__all__ = ["PanelApp"]

REFRESH_SECONDS = 1.0


class PanelApp(App):
    """Shows one room. Reads the runtime's memory; never touches the network or disk."""

    title = "Tapin room panel"

    def __init__(self, runtime: Runtime, room_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.room_id = room_id
        self.room = runtime.room(room_id)
        self.status_screen: StatusScreen | None = None
        self._ticker: ClockEvent | None = None
        self._refresh_trigger = Clock.create_trigger(self.refresh)
        self._unsubscribe = runtime.calendar.subscribe(lambda _room: self._refresh_trigger())

    def build(self) -> ScreenManager:
        manager = ScreenManager(transition=NoTransition())
        self.status_screen = StatusScreen(name="status")
        manager.add_widget(self.status_screen)
        Window.clearcolor = (0, 0, 0, 1)
        self.refresh()
        self._ticker = Clock.schedule_interval(self.refresh, REFRESH_SECONDS)
        return manager

    def refresh(self, *_: Any) -> None:
        """Recompute the status view from memory; assign only when something changed."""
        if self.status_screen is None:
            return
        now = self.runtime.tick()
        self.room = self.runtime.room(self.room_id)  # the rooms snapshot may have arrived
        view = build_status_view(
            self.room,
            self.runtime.calendar,
            self.runtime.directory,
            now,
            h24=self.runtime.h24,
            sync_status=self.runtime.sync_status,
        )
        if view != self.status_screen.view:
            self.status_screen.view = view

    def on_stop(self) -> None:
        self._unsubscribe()
        if self._ticker is not None:
            self._ticker.cancel()

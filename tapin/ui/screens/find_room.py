"""The "find a free room" screen: which other rooms are free now, nearest floor first.

The rows come from :func:`tapin.rooms.free_rooms_view` (no Kivy there), built from the
runtime's memory each time the screen is shown. It never guesses: without availability
it says that free rooms are not known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.clock import Clock, ClockEvent
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from tapin import timefmt
from tapin.rooms import FreeRoomsView, free_rooms_view
from tapin.ui.context import ScreenContext
from tapin.ui.kit import TapinScreen

__all__ = ["FindRoomScreen", "FreeRoomItem"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

REFRESH_SECONDS = 30.0
"""While shown, the list follows the clock ("Free for 12 min" does not go stale)."""


class FreeRoomItem(BoxLayout):
    """One free room: name and details on the left, how long it is free on the right."""

    name = StringProperty("")
    details = StringProperty("")
    free = StringProperty("")
    detail = StringProperty("")
    unit = NumericProperty(1.0)
    portrait = BooleanProperty(False)


class FindRoomScreen(TapinScreen):
    view: FreeRoomsView | None = ObjectProperty(None, allownone=True)
    clock_text = StringProperty("")

    def __init__(self, ctx: ScreenContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "find_room")
        super().__init__(**kwargs)
        self.ctx = ctx
        self._ticker: ClockEvent | None = None
        self.bind(view=self._fill_rows, unit=self._fill_rows, portrait=self._fill_rows)

    def on_pre_enter(self, *_: Any) -> None:
        self.refresh()

    def on_enter(self, *_: Any) -> None:
        if self._ticker is None:
            self._ticker = Clock.schedule_interval(lambda _dt: self.refresh(), REFRESH_SECONDS)

    def on_leave(self, *_: Any) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def refresh(self) -> None:
        """Rebuild the list from the runtime's memory at the context's clock."""
        runtime = self.ctx.runtime
        now = self.ctx.clock()
        self.clock_text = timefmt.clock(now, runtime.site.timezone, h24=runtime.h24)
        self.view = free_rooms_view(
            runtime.site,
            runtime.availability,
            runtime.room(self.ctx.room_id) if self.ctx.room_id else None,
            now,
            h24=runtime.h24,
        )

    def go_back(self) -> None:
        self.ctx.back()

    def _fill_rows(self, *_: Any) -> None:
        box = self.ids.rows
        box.clear_widgets()
        if self.view is None:
            return
        for row in self.view.rows:
            details = "  ·  ".join(part for part in (row.floor, row.seats, row.equipment) if part)
            box.add_widget(
                FreeRoomItem(
                    name=row.name,
                    details=details,
                    free=row.free,
                    detail=row.detail,
                    unit=self.unit,
                    portrait=self.portrait,
                )
            )

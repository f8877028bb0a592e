"""The status screen: is the room free, until when, what is on today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from panel.status_model import StatusView
from tapin.ui import widgets  # noqa: F401  (registers StatusIcon and Timeline with the Factory)

__all__ = ["AgendaRow", "StatusScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_AGENDA_ROWS = 4
MAX_AGENDA_ROWS_PORTRAIT = 3


class AgendaRow(BoxLayout):
    times = StringProperty("")
    subject = StringProperty("")
    current = BooleanProperty(False)
    past = BooleanProperty(False)
    unit = NumericProperty(1.0)


class StatusScreen(Screen):
    view: StatusView | None = ObjectProperty(None, allownone=True)
    unit = NumericProperty(1.0)
    portrait = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(view=self._fill_agenda, unit=self._fill_agenda, portrait=self._fill_agenda)

    def _fill_agenda(self, *_: Any) -> None:
        box = self.ids.agenda
        box.clear_widgets()
        if self.view is None:
            return
        items = list(self.view.agenda)
        rows = MAX_AGENDA_ROWS_PORTRAIT if self.portrait else MAX_AGENDA_ROWS
        # Show from the meeting in progress (or the last one that ended) onwards.
        first = next((i for i, item in enumerate(items) if not item.past), len(items))
        start = max(0, min(first, len(items) - rows))
        for item in items[start : start + rows]:
            box.add_widget(
                AgendaRow(
                    times=item.times,
                    subject=item.subject,
                    current=item.current,
                    past=item.past,
                    unit=self.unit,
                )
            )
        if not items and self.view.state != "unavailable":
            box.add_widget(AgendaRow(times="", subject="No meetings today", unit=self.unit))

"""A modal with a few big choices (book 15/30/45/60 min, extend, end now?)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.modalview import ModalView

__all__ = ["ChoiceDialog"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class ChoiceDialog(ModalView):
    title = StringProperty("")
    detail = StringProperty("")
    cancel_text = StringProperty("Cancel")
    unit = NumericProperty(1.0)

    def __init__(
        self,
        title: str,
        choices: Sequence[tuple[str, Any]],
        on_choose: Callable[[Any], None],
        *,
        detail: str = "",
        unit: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title, self.detail, self.unit = title, detail, unit
        self._on_choose = on_choose
        self.buttons: dict[str, Any] = {}
        for label, value in choices:
            button = Factory.PanelButton(text=label, font_size=unit * 24)
            button.bind(on_release=lambda _b, v=value: self._choose(v))
            self.ids.choices.add_widget(button)
            self.buttons[label] = button
        self.ids.cancel.bind(on_release=lambda _b: self.dismiss())

    def _choose(self, value: Any) -> None:
        self.dismiss()
        self._on_choose(value)

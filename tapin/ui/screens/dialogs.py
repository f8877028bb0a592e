"""A modal with a few big choices (book 15/30/45/60 min, extend, end now?) and a Cancel
that does not look like one of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.modalview import ModalView

from tapin.ui.kit import DestructiveButton, PrimaryButton

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
        destructive: bool = False,
        **kwargs: Any,
    ) -> None:
        """``destructive``: the choices end or give something away (red, and this dialog
        is their confirmation step)."""
        super().__init__(**kwargs)
        self.title, self.detail, self.unit = title, detail, unit
        self._on_choose = on_choose
        self.buttons: dict[str, Any] = {}
        for label, value in choices:
            role = DestructiveButton if destructive else PrimaryButton
            button = role(text=label, unit=unit, font_units=24)
            button.bind(on_release=lambda _b, v=value: self._choose(v))
            self.ids.choices.add_widget(button)
            self.buttons[label] = button
        self.ids.cancel.bind(on_release=lambda _b: self.dismiss())

    def _choose(self, value: Any) -> None:
        self.dismiss()
        self._on_choose(value)

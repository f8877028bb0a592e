"""A modal with a few big choices (book 15/30/45/60 min, extend, end now?, "Not booked")
and a Cancel that does not look like one of them.

A choice may carry a second line (``sub``: "until 10:20"). The choices sit in one row
when each gets at least :data:`MIN_CHOICE_WIDTH` units, else in two columns, so their
labels (which shrink, then wrap, never cut: :mod:`tapin.ui.kit`) stay large.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.modalview import ModalView

from tapin.ui.kit import DestructiveButton, PrimaryButton, SecondaryButton

__all__ = ["MIN_CHOICE_WIDTH", "Choice", "ChoiceDialog"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MIN_CHOICE_WIDTH = 140
_ROLES = {"primary": PrimaryButton, "secondary": SecondaryButton, "destructive": DestructiveButton}


@dataclass(frozen=True, slots=True)
class Choice:
    label: str
    value: Any
    sub: str = ""
    """A second line under the label ("until 10:20")."""
    role: str = ""
    """``primary``, ``secondary`` or ``destructive``; empty: the dialog's default."""


class ChoiceDialog(ModalView):
    title = StringProperty("")
    detail = StringProperty("")
    cancel_text = StringProperty("Cancel")
    tone = StringProperty("")
    """``error``: the title sits on a red band (something was refused)."""
    unit = NumericProperty(1.0)
    columns = NumericProperty(1)

    def __init__(
        self,
        title: str,
        choices: Sequence[Choice | tuple[str, Any]],
        on_choose: Callable[[Any], None],
        *,
        detail: str = "",
        unit: float = 1.0,
        destructive: bool = False,
        on_cancel: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """``destructive``: the choices end or give something away (red, and this dialog
        is their confirmation step). An empty ``cancel_text`` shows no Cancel;
        ``on_cancel`` runs when Cancel is tapped."""
        super().__init__(**kwargs)
        self.title, self.detail, self.unit = title, detail, unit
        self._on_choose = on_choose
        self._on_cancel = on_cancel
        self.buttons: dict[str, Any] = {}
        """Each choice's button, by its label (without the second line)."""
        self.count = len(choices)
        for entry in choices:
            choice = entry if isinstance(entry, Choice) else Choice(entry[0], entry[1])
            default = "destructive" if destructive else "primary"
            role = _ROLES[choice.role or default]
            text = f"{choice.label}\n{choice.sub}" if choice.sub else choice.label
            button = role(text=text, unit=unit, font_units=24 if not choice.sub else 22)
            button.bind(on_release=lambda _b, v=choice.value: self._choose(v))
            self.ids.choices.add_widget(button)
            self.buttons[choice.label] = button
        self.ids.cancel.bind(on_release=lambda _b: self._cancel())
        self.bind(width=self._layout, unit=self._layout)
        self._layout()

    def _layout(self, *_: Any) -> None:
        """One row of choices when they fit at :data:`MIN_CHOICE_WIDTH`, else two columns."""
        inner = self.width - 40 * self.unit
        fits = inner / max(1, self.count) >= MIN_CHOICE_WIDTH * self.unit
        self.columns = max(1, self.count if fits else min(2, self.count))
        self.ids.choices.cols = int(self.columns)

    @property
    def rows(self) -> int:
        return math.ceil(self.count / max(1, int(self.columns)))

    def _choose(self, value: Any) -> None:
        self.dismiss(animation=False)
        self._on_choose(value)

    def _cancel(self) -> None:
        self.dismiss(animation=False)
        if self._on_cancel is not None:
            self._on_cancel()

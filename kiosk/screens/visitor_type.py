"""What brings the visitor here: one big button per visitor type of the lobby (guest,
interview, contractor, delivery…, named in the screen's language). A tap chooses it and
goes on; the type decides the steps that follow.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder

from kiosk.screens.step import StepScreen
from tapin import i18n
from tapin.i18n import _
from tapin.ui.kit import PrimaryButton, SecondaryButton

__all__ = ["TypeScreen", "language"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


def language() -> str:
    """``en`` or ``sv``: the screen's language, for names central sends in both."""
    return i18n.current().split("_")[0].lower()


class TypeScreen(StepScreen):
    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", "type")
        super().__init__(ctx, **kwargs)
        self.title = _("What brings you here?")
        self.buttons: dict[str, Any] = {}
        """Each type's button, by the type's id."""

    def on_unit(self, *_args: Any) -> None:
        for button in self.buttons.values():
            button.unit = self.unit

    def load(self) -> None:
        grid = self.ids.types
        grid.clear_widgets()
        self.buttons = {}
        chosen = self.ctx.signin.draft.visitor_type
        for kind in self.ctx.signin.types():
            role = PrimaryButton if kind.id == chosen else SecondaryButton
            button = role(text=kind.name(language()), unit=self.unit, font_units=28)
            button.bind(on_release=lambda _b, k=kind.id: self.choose(k))
            grid.add_widget(button)
            self.buttons[kind.id] = button
        self.can_continue = chosen is not None

    def choose(self, type_id: str) -> None:
        self.ctx.signin.choose_type(type_id)
        self.ctx.kiosk.next_step()

    def save(self) -> bool:
        return self.ctx.signin.draft.visitor_type is not None

"""Who the visitor is here to see: they type part of a name and tap their host among
the matches, or "I don't know / not listed" (reception is told instead). Only visible
people can be found: :class:`tapin.calendar.Directory` holds no one else.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty

from kiosk.screens.step import StepScreen
from tapin.i18n import _
from tapin.ui.kit import PrimaryButton, SecondaryButton

__all__ = ["MAX_MATCHES", "HostScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_MATCHES = 6


class HostScreen(StepScreen):
    nothing = BooleanProperty(False)
    """Something was typed and nobody matches."""

    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", "host")
        super().__init__(ctx, **kwargs)
        self.title = _("Who are you visiting?")
        self.matches: dict[str, Any] = {}
        """The buttons shown, by person id."""

    def on_unit(self, *_args: Any) -> None:
        for button in self.matches.values():
            button.unit = self.unit

    def load(self) -> None:
        draft = self.ctx.signin.draft
        person = self.ctx.runtime.directory.get(draft.host_id) if draft.host_id else None
        self.ids.field.text = person.name if person is not None else ""
        self.search(self.ids.field.text)

    def search(self, text: str) -> None:
        self.problem = ""
        grid = self.ids.people
        grid.clear_widgets()
        self.matches = {}
        chosen = self.ctx.signin.draft.host_id
        people = self.ctx.signin.search_hosts(text[:100], limit=MAX_MATCHES)
        for person in people:
            role = PrimaryButton if person.id == chosen else SecondaryButton
            button = role(text=person.name, unit=self.unit, font_units=22)
            button.bind(on_release=lambda _b, p=person.id: self.choose(p))
            grid.add_widget(button)
            self.matches[person.id] = button
        self.nothing = bool(text.strip()) and not people
        self.can_continue = False

    def choose(self, person_id: str | None) -> None:
        """A host picked (``None``: "I don't know / not listed"): on to the next step."""
        self.ids.field.focus = False
        if self.ctx.signin.choose_host(person_id):
            self.ctx.kiosk.next_step()

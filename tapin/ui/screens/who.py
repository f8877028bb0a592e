"""Who is booking? Asked by Book now where the room's policy says so (``ask_booker``).

A USB badge reader types the badge id and Enter, like a keyboard: the person is found by
badge. Or the person types part of their name (on-screen keyboard) and taps it among the
matches. Only visible people can be found: the directory holds no one else.

The field takes the on-screen keyboard's text layout (:mod:`tapin.ui.keyboard`); the
dialog stays above the docked keyboard, and in landscape, where the keyboard leaves
little room, the hint line folds away and the matches go three to a row. Cancel sits
beside the field, so it is always in view.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from tapin.calendar import Directory
from tapin.domain import Person
from tapin.i18n import _
from tapin.ui.keyboard import KeyboardModal
from tapin.ui.kit import SecondaryButton

__all__ = ["WhoDialog"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_MATCHES = 6


class WhoDialog(KeyboardModal):
    message = StringProperty("")
    unit = NumericProperty(1.0)
    compact = BooleanProperty(False)
    """A landscape keyboard is docked: hint folded, three matches to a row."""

    def __init__(
        self, directory: Directory, on_person: Callable[[Person], None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.directory = directory
        self.on_person = on_person
        self.buttons: dict[str, Any] = {}

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        # at once, not when the fade-in ends: the keyboard docks now and the dialog
        # appears where it stays, above it
        self.ids.query.focus = True

    def search(self, text: str) -> None:
        box = self.ids.people
        box.clear_widgets()
        self.buttons = {}
        self.message = ""
        for person in self.directory.search(text, MAX_MATCHES):
            # the grid gives every row its height
            button = SecondaryButton(text=person.name, unit=self.unit, font_units=18)
            button.bind(on_release=lambda _b, p=person: self.choose(p))
            box.add_widget(button)
            self.buttons[person.name] = button

    def badge(self, text: str) -> None:
        """Enter pressed: a badge reader finished typing (or a person pressed Enter)."""
        person = self.directory.by_badge(text)
        if person is None:
            matches = self.directory.search(text, 2)
            if len(matches) == 1:
                person = matches[0]
        if person is None:
            self.ids.query.text = ""
            self.message = _("Badge or name not recognised; try again")
            self.ids.query.focus = True
            return
        self.choose(person)

    def choose(self, person: Person) -> None:
        self.dismiss()
        self.on_person(person)

"""Who are you? Before a desk is booked: a USB badge reader types the badge id and
Enter into the field (so does a person typing it), the staff QR code on a phone
(``TAPIN-STAFF:<badge_id>``) is shown to the camera (the app runs the scanner while
this screen is shown and hands the code to :meth:`IdentifyScreen.scanned`), or a name
typed and tapped among the matches. Only visible people can be found.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty

from kiosk.context import KioskContext
from kiosk.screens.staff_home import StaffScreen
from tapin.domain import Person
from tapin.i18n import _
from tapin.ui.kit import SecondaryButton

__all__ = ["IdentifyScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_MATCHES = 6


class IdentifyScreen(StaffScreen):
    can_scan = BooleanProperty(False)
    nothing = BooleanProperty(False)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "identify")
        super().__init__(ctx, **kwargs)
        self.title = _("Who are you?")
        self.can_scan = "camera" in ctx.extras
        self.matches: dict[str, Any] = {}
        self.then = "desk_booking"
        """Where to go once the person is known."""

    def load(self) -> None:
        self.ids.field.text = ""
        self.search("")

    def on_enter(self, *_args: Any) -> None:
        self.ids.field.focus = True  # the badge reader types into it

    def search(self, text: str) -> None:
        grid = self.ids.people
        grid.clear_widgets()
        self.matches = {}
        people = self.staff.search_people(text, MAX_MATCHES) if text.strip() else []
        for person in people:
            button = SecondaryButton(text=person.name, unit=self.unit, font_units=22)
            button.bind(on_release=lambda _b, p=person.id: self.choose(p))
            grid.add_widget(button)
            self.matches[person.id] = button
        self.nothing = bool(text.strip()) and not people and not _looks_like_badge(text)

    def entered(self, text: str) -> None:
        """Enter: a badge reader finished typing (or a person pressed Enter)."""
        person = self.staff.identify_badge(text)
        if person is None:
            matches = self.staff.search_people(text, 2)
            if len(matches) == 1:
                person = self.staff.identify_person(matches[0].id)
        if person is None:
            self.ids.field.text = ""
            self.say(_("Badge or name not recognised; try again"), error=True)
            self.ids.field.focus = True
            return
        self._known(person)

    def scanned(self, text: str) -> bool:
        """A code the camera read; ``False`` when it is not a staff code at all."""
        from sync.events import STAFF_QR_PREFIX

        if not text.startswith(STAFF_QR_PREFIX):
            return False
        person = self.staff.identify_qr(text)
        if person is None:
            self.say(_("This staff code is not recognised here"), error=True)
            return True
        self._known(person)
        return True

    def choose(self, person_id: str) -> None:
        person = self.staff.identify_person(person_id)
        if person is not None:
            self._known(person)

    def _known(self, person: Person) -> None:
        self.ids.field.focus = False
        self.ids.field.text = ""
        self.ctx.kiosk.go(self.then)


def _looks_like_badge(text: str) -> bool:
    stripped = text.strip()
    return any(c.isdigit() for c in stripped)

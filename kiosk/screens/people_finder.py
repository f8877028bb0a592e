"""Find a colleague: type part of a name; visible colleagues only, each with their title,
department and where they sit today (their desk booking; a private booking shows no
desk); tap one to see their desk on the map. Invisible people are in no result, no
count and on no map: the directory holds no one else.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import StringProperty

import kiosk.screens.floormap  # noqa: F401  (FloorMap for the .kv)
from kiosk.context import KioskContext
from kiosk.screens.staff_home import StaffScreen
from kiosk.staff import PersonFound, floor_dict
from tapin.i18n import _, ngettext
from tapin.ui.kit import PrimaryButton, SecondaryButton

__all__ = ["PeopleFinderScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class PeopleFinderScreen(StaffScreen):
    count_text = StringProperty("")
    person_id = StringProperty("")
    where_text = StringProperty("")

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "people_finder")
        super().__init__(ctx, **kwargs)
        self.title = _("Find a colleague")
        self.rows: dict[str, Any] = {}
        self.found: list[PersonFound] = []

    def load(self) -> None:
        self.search(self.ids.field.text)

    def search(self, text: str) -> None:
        self.found = self.staff.find_people(text) if text.strip() else []
        if self.person_id not in {f.person.id for f in self.found}:
            self.person_id = ""
        n = len(self.found)
        if not text.strip():
            self.count_text = ""
        elif n:
            self.count_text = ngettext("{n} colleague found", "{n} colleagues found", n).format(n=n)
        else:
            self.count_text = _("Nobody by that name. Check the spelling.")
        self.update()

    def describe(self, found: PersonFound) -> str:
        person = found.person
        about = ", ".join(x for x in (person.title, person.department) if x)
        if found.desk is None:
            where = _("no desk booked today")
        else:
            where = _("desk {desk}, floor {floor}").format(
                desk=found.desk.name, floor=found.desk.floor
            )
        return f"{person.name}\n{about} · {where}" if about else f"{person.name}\n{where}"

    def update(self) -> None:
        grid = self.ids.people
        grid.clear_widgets()
        self.rows = {}
        for found in self.found:
            role = PrimaryButton if found.person.id == self.person_id else SecondaryButton
            button = role(text=self.describe(found), unit=self.unit, font_units=19)
            button.bind(on_release=lambda _b, p=found.person.id: self.pick(p))
            grid.add_widget(button)
            self.rows[found.person.id] = button
        self._map()

    def pick(self, person_id: str) -> None:
        self.ids.field.focus = False
        self.person_id = person_id
        self.update()

    def _map(self) -> None:
        fmap = self.ids.map
        found = next((f for f in self.found if f.person.id == self.person_id), None)
        desk = found.desk if found is not None else None
        if found is None:
            self.where_text = ""
        elif desk is None:
            self.where_text = _("{name} has no desk booked today.").format(name=found.person.name)
        else:
            self.where_text = _("{name} sits at desk {desk} on floor {floor} today.").format(
                name=found.person.name, desk=desk.name, floor=desk.floor
            )
        if desk is None:
            fmap.floor = None
            fmap.highlight = ""
            return
        plan = self.staff.floor_plan(desk.floor)
        if plan is None:
            fmap.floor = None
            return
        if (fmap.floor or {}).get("floor") != desk.floor:
            fmap.floor = floor_dict(plan)
        fmap.desk_names = {d.id: d.name for d in self.staff.desks()}
        fmap.room_names = {r.id: r.name for r in self.ctx.runtime.site.rooms}
        fmap.desk_states = self.staff.desk_states("day")
        fmap.room_states = self.staff.room_states()
        fmap.highlight = desk.id
        fmap.focus_on(desk.id)

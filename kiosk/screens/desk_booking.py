"""Book a desk for today: the floor's map (every desk free / booked / yours /
unavailable, every room free / busy; pan and zoom by touch) and, beside it (under it
in portrait), the desk picked, morning / afternoon / all day, "private" and Book; "Any
free desk near my team"; the floor's desks as a list too (tap one to pick it). A
booking shows at once as pending and is confirmed or refused by central (said in the
message band in the kiosk's language).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

import kiosk.screens.floormap  # noqa: F401  (FloorMap for the .kv)
from kiosk.context import KioskContext
from kiosk.screens.staff_home import StaffScreen, part_name
from kiosk.staff import floor_dict
from tapin.i18n import _
from tapin.pending import ActionError
from tapin.ui.kit import PrimaryButton, SecondaryButton, TapinToggle

__all__ = ["DeskBookingScreen", "state_name"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


def state_name(state: str) -> str:
    return {
        "free": _("Free"),
        "booked": _("Booked"),
        "yours": _("Yours"),
        "unavailable": _("Out of use"),
    }.get(state, state)


class DeskBookingScreen(StaffScreen):
    floor = NumericProperty(0)
    part = StringProperty("day")
    desk_id = StringProperty("")
    desk_text = StringProperty("")
    can_book = BooleanProperty(False)
    book_text = StringProperty("")
    private = BooleanProperty(False)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "desk_booking")
        super().__init__(ctx, **kwargs)
        self.title = _("Book a desk")
        self.floor_buttons: dict[int, Any] = {}
        self.part_buttons: dict[str, Any] = {}
        self.desk_buttons: dict[str, Any] = {}
        self.states: dict[str, str] = {}
        self.booked: str | None = None
        """The booking made last on this screen (to say when central confirmed it)."""
        self._shown_floor: int | None = None

    def load(self) -> None:
        floors = self.staff.floors()
        self.floor = self._home_floor(floors)  # the floor of their desk, else their team's
        parts = self.staff.parts_open()
        if self.part not in parts:
            self.part = parts[0] if parts else "day"
        self.desk_id = ""
        self.private = False
        self.booked = None
        self._build_toggles(floors, parts)

    def _home_floor(self, floors: list[int]) -> int:
        who = self.staff.who
        mine = self.staff.mine()
        if mine:
            desk = self.staff.desk(mine[0].desk_id)
            if desk is not None:
                return desk.floor
        if who is not None and floors:
            team = [
                d.floor
                for d in self.staff.desks()
                if self.ctx.runtime.neighbourhoods.get(d.id, "").casefold()
                == who.department.casefold()
            ]
            if team:
                return max(set(team), key=team.count)
        return floors[0] if floors else 0

    def _build_toggles(self, floors: list[int], parts: list[str]) -> None:
        box = self.ids.floors
        box.clear_widgets()
        self.floor_buttons = {}
        for number in floors:
            text = _("Floor {n}").format(n=number)  # the plan's name is central's English
            button = TapinToggle(text=text, group=f"floor-{id(self)}", unit=self.unit)
            button.font_units = 20
            button.state = "down" if number == self.floor else "normal"
            button.bind(on_release=lambda _b, n=number: self.show_floor(n))
            box.add_widget(button)
            self.floor_buttons[number] = button
        box = self.ids.parts
        box.clear_widgets()
        self.part_buttons = {}
        for part in ("morning", "afternoon", "day"):
            button = TapinToggle(text=part_name(part), group=f"part-{id(self)}", unit=self.unit)
            button.font_units = 20
            button.state = "down" if part == self.part else "normal"
            button.disabled = part not in parts
            button.bind(on_release=lambda _b, p=part: self.choose_part(p))
            box.add_widget(button)
            self.part_buttons[part] = button

    def show_floor(self, number: int) -> None:
        self.floor = number
        for n, button in self.floor_buttons.items():
            button.state = "down" if n == number else "normal"
        if self.desk_id and (desk := self.staff.desk(self.desk_id)) and desk.floor != number:
            self.desk_id = ""
        self.update()

    def choose_part(self, part: str) -> None:
        self.part = part
        for p, button in self.part_buttons.items():
            button.state = "down" if p == part else "normal"
        self.update()

    def picked(self, kind: str, item_id: str) -> None:
        """A tap on the map: a desk is picked (a room says whether it is free)."""
        self.touched()
        if kind == "desk":
            self.pick(item_id)
        elif kind == "room":
            room = next((r for r in self.ctx.runtime.site.rooms if r.id == item_id), None)
            if room is not None:
                state = self.staff.room_state(room.id)
                self.say(
                    _("{room}: free now").format(room=room.name)
                    if state == "free"
                    else _("{room}: in use now").format(room=room.name)
                )

    def pick(self, desk_id: str) -> None:
        self.desk_id = desk_id
        self.update()

    def toggle_private(self) -> None:
        self.private = not self.private

    def update(self) -> None:
        staff = self.staff
        who = staff.who
        self.states = staff.desk_states(self.part, who.id if who is not None else None)
        desks = staff.desks(self.floor)
        plan = staff.floor_plan(self.floor)
        fmap = self.ids.map
        if plan is None:
            fmap.floor = None
        elif self._shown_floor != self.floor or fmap.floor is None:
            fmap.floor = floor_dict(plan)
        self._shown_floor = self.floor if plan is not None else None
        fmap.desk_names = {d.id: d.name for d in staff.desks()}
        fmap.room_names = {r.id: r.name for r in self.ctx.runtime.site.rooms}
        fmap.desk_states = dict(self.states)
        fmap.room_states = staff.room_states()
        fmap.highlight = self.desk_id
        self._list(desks)
        self._detail()
        if self.booked is not None and not staff.pending(self.booked) and not self.error:
            mine = {b.booking_id for b in staff.mine()}
            if self.booked in mine:
                self.say(_("Booked. The desk is yours."))
            self.booked = None

    def _list(self, desks: list[Any]) -> None:
        grid = self.ids.desks
        grid.clear_widgets()
        self.desk_buttons = {}
        for desk in desks:
            state = self.states.get(desk.id, "unavailable")
            role = PrimaryButton if desk.id == self.desk_id else SecondaryButton
            button = role(text=f"{desk.name} · {state_name(state)}", unit=self.unit, font_units=18)
            button.bind(on_release=lambda _b, d=desk.id: self.pick(d))
            grid.add_widget(button)
            self.desk_buttons[desk.id] = button

    def _detail(self) -> None:
        desk = self.staff.desk(self.desk_id) if self.desk_id else None
        if desk is None:
            self.desk_text = _("Tap a desk on the map or in the list.")
            self.can_book, self.book_text = False, _("Book")
            return
        state = self.states.get(desk.id, "unavailable")
        about = ", ".join(x for x in (desk.zone, ", ".join(desk.equipment)) if x)
        self.desk_text = _("Desk {desk}: {state}").format(
            desk=desk.name, state=state_name(state).lower()
        ) + (f"\n{about}" if about else "")
        self.can_book = state == "free"
        self.book_text = _("Book {desk}: {part}").format(
            desk=desk.name, part=part_name(self.part).lower()
        )

    def book(self, desk_id: str | None = None) -> None:
        """Book the desk picked (or ``desk_id``) for the part chosen."""
        desk_id = desk_id or self.desk_id
        if not desk_id:
            return
        if self.staff.who is None:
            self.ctx.kiosk.identify_then("desk_booking")
            return
        part, private = self.part, self.private

        async def act() -> None:
            try:
                booking = await self.staff.book_desk(desk_id, part, private=private)
            except ActionError as exc:
                self.say(str(exc), error=True)
                self.update()
                return
            desk = self.staff.desk(desk_id)
            self.booked = booking.booking_id
            self.say(
                _("Desk {desk} is yours: {span}. Confirming with the server…").format(
                    desk=desk.name if desk is not None else desk_id,
                    span=f"{self.clock(booking.start)}–{self.clock(booking.end)}",
                )
            )
            self.update()

        self.message, self.error = "", False
        self.ctx.run(act())

    def near_team(self) -> None:
        desk = self.staff.near_my_team(self.part)
        if desk is None:
            self.say(_("No desk is free then. Try another part of the day."), error=True)
            return
        self.show_floor(desk.floor)
        self.pick(desk.id)
        self.ids.map.focus_on(desk.id)
        self.book(desk.id)

"""Find a free room: free now or for the next hour, seats and equipment as filters;
the rooms as a list (book one: 15/30/45/60 minutes, never past its next meeting, as
the panel's "book now") and on the map (the floor of the room picked, free / busy).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

import kiosk.screens.floormap  # noqa: F401  (FloorMap for the .kv)
from kiosk.context import KioskContext
from kiosk.screens.staff_home import StaffScreen
from kiosk.staff import FreeRoom, floor_dict
from tapin.i18n import _, ngettext
from tapin.pending import ActionError
from tapin.ui.kit import PrimaryButton, SecondaryButton, TapinToggle

__all__ = ["CAPACITIES", "RoomFinderScreen", "equipment_name"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

CAPACITIES = (0, 4, 8, 12)


def equipment_name(kind: str) -> str:
    return {
        "display": _("Screen"),
        "video": _("Video calls"),
        "whiteboard": _("Whiteboard"),
        "audio": _("Speakers"),
        "phone": _("Phone"),
    }.get(kind, kind)


class RoomFinderScreen(StaffScreen):
    minutes = NumericProperty(0)
    capacity = NumericProperty(0)
    room_id = StringProperty("")
    count_text = StringProperty("")

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "room_finder")
        super().__init__(ctx, **kwargs)
        self.title = _("Find a free room")
        self.equipment: set[str] = set()
        self.rows: dict[str, Any] = {}
        self.filters: dict[str, Any] = {}
        self._build_filters()

    def _toggle(self, key: str, text: str, box: Any, on: Any, group: str | None = None) -> Any:
        button = TapinToggle(text=text, unit=self.unit, group=group)
        button.font_units = 18
        button.bind(on_release=lambda _b: on())
        box.add_widget(button)
        self.filters[key] = button
        return button

    def _build_filters(self) -> None:
        when, size, kit = self.ids.when, self.ids.size, self.ids.kit
        group = f"when-{id(self)}"
        self._toggle("now", _("Free now"), when, lambda: self.set_minutes(0), group)
        self._toggle("hour", _("For the next hour"), when, lambda: self.set_minutes(60), group)
        group = f"size-{id(self)}"
        for seats in CAPACITIES:
            text = _("Any size") if not seats else _("{n}+ seats").format(n=seats)
            self._toggle(f"seats-{seats}", text, size, lambda s=seats: self.set_capacity(s), group)
        for kind in self.staff.equipment():
            self._toggle(f"kit-{kind}", equipment_name(kind), kit, lambda k=kind: self.toggle(k))
        self._mark()

    def _mark(self) -> None:
        self.filters["now"].state = "normal" if self.minutes else "down"
        self.filters["hour"].state = "down" if self.minutes else "normal"
        for seats in CAPACITIES:
            self.filters[f"seats-{seats}"].state = "down" if seats == self.capacity else "normal"
        for key, button in self.filters.items():
            if key.startswith("kit-"):
                button.state = "down" if key[4:] in self.equipment else "normal"

    def load(self) -> None:
        self.room_id = ""

    def reset(self) -> None:
        super().reset()
        self.minutes, self.capacity, self.room_id = 0, 0, ""
        self.equipment = set()
        self._mark()

    def set_minutes(self, minutes: int) -> None:
        self.minutes = minutes
        self._mark()
        self.update()

    def set_capacity(self, seats: int) -> None:
        self.capacity = seats
        self._mark()
        self.update()

    def toggle(self, kind: str) -> None:
        self.equipment ^= {kind}
        self._mark()
        self.update()

    def found(self) -> list[FreeRoom]:
        return self.staff.free_rooms(
            minutes=int(self.minutes), capacity=int(self.capacity), equipment=self.equipment
        )

    def update(self) -> None:
        rooms = self.found()
        n = len(rooms)
        self.count_text = (
            ngettext("{n} room is free", "{n} rooms are free", n).format(n=n)
            if n
            else _("No room is free with these filters. Try fewer.")
        )
        if rooms and self.room_id not in {f.room.id for f in rooms}:
            self.room_id = rooms[0].room.id  # else the room picked last (just booked)
        grid = self.ids.rooms
        grid.clear_widgets()
        self.rows = {}
        for free in rooms:
            grid.add_widget(self._row(free))
        self._map(rooms)

    def _row(self, free: FreeRoom) -> Any:
        room = free.room
        row = BoxLayout(spacing=self.unit * 8)
        until = (
            _("free until {time}").format(time=self.clock(free.free_until))
            if free.free_until is not None
            else _("free for the rest of the day")
        )
        kit = ", ".join(equipment_name(e) for e in room.equipment)
        role = PrimaryButton if room.id == self.room_id else SecondaryButton
        head = _("{room} · floor {floor} · {n} seats").format(
            room=room.name, floor=room.floor, n=room.capacity
        )
        name = role(text=f"{head}\n{until}" + (f" · {kit}" if kit else ""), unit=self.unit)
        name.font_units = 16
        name.bind(on_release=lambda _b, r=room.id: self.pick(r))
        row.add_widget(name)
        for minutes in free.choices[-2:]:
            book = PrimaryButton(text=_("{m} min").format(m=minutes), unit=self.unit, font_units=18)
            book.size_hint_x = None
            book.width = self.unit * 78
            book.bind(on_release=lambda _b, r=room.id, m=minutes: self.book(r, m))
            row.add_widget(book)
        self.rows[room.id] = row
        return row

    def _map(self, _rooms: list[FreeRoom]) -> None:
        fmap = self.ids.map
        picked = next((r for r in self.ctx.runtime.site.rooms if r.id == self.room_id), None)
        floor = picked.floor if picked is not None else (self.staff.floors() or [0])[0]
        plan = self.staff.floor_plan(floor)
        wanted = floor_dict(plan) if plan is not None else None
        if (fmap.floor or {}).get("floor") != floor or wanted is None:
            fmap.floor = wanted
        fmap.room_names = {r.id: r.name for r in self.ctx.runtime.site.rooms}
        fmap.desk_names = {d.id: d.name for d in self.staff.desks()}
        fmap.room_states = self.staff.room_states()
        fmap.desk_states = self.staff.desk_states("day")
        fmap.highlight = self.room_id

    def pick(self, room_id: str) -> None:
        self.room_id = room_id
        self.update()

    def picked(self, kind: str, item_id: str) -> None:
        if kind == "room" and item_id in {f.room.id for f in self.found()}:
            self.pick(item_id)

    def book(self, room_id: str, minutes: int) -> None:
        room = next((r for r in self.ctx.runtime.site.rooms if r.id == room_id), None)

        async def act() -> None:
            try:
                await self.staff.book_room(room_id, minutes)
            except ActionError as exc:
                self.say(str(exc), error=True)
                return
            self.say(
                _("{room} is yours for {n} minutes. Confirming with the server…").format(
                    room=room.name if room is not None else room_id, n=minutes
                )
            )
            self.update()

        self.message, self.error = "", False
        self.ctx.run(act())

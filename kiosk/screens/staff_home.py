"""The staff side's home (the welcome screen's "Staff"): who is identified, "Book a
desk", "Find a free room", "Find a colleague", and the identified person's desk today
with check-in and release. :class:`StaffScreen` is what every staff screen shares: the
header (Back, title, "Not you?"), the message band (what happened, or central's refusal
in the kiosk's language) and the docked keyboard's room.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import FocusBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk.context import KioskContext
from kiosk.staff import StaffController
from sync.events import EventType
from tapin import timefmt
from tapin.i18n import _
from tapin.ui.keyboard import dock
from tapin.ui.kit import PrimaryButton, SecondaryButton, TapinScreen

__all__ = [
    "StaffBody",
    "StaffHeader",
    "StaffHomeScreen",
    "StaffMessage",
    "StaffScreen",
    "part_name",
]


class StaffBody(BoxLayout):
    """A staff screen's content, above the keyboard while one of its fields types."""

    screen = ObjectProperty(None, rebind=True)


class StaffHeader(BoxLayout):
    """Back, the screen's title, who is identified and "Not you?"."""

    screen = ObjectProperty(None, rebind=True)


class StaffMessage(Label):
    """What happened (blue) or why not (red); nothing when there is nothing to say."""

    screen = ObjectProperty(None, rebind=True)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))


def part_name(part: str) -> str:
    """A part of the day, in the kiosk's language."""
    return {"morning": _("Morning"), "afternoon": _("Afternoon"), "day": _("All day")}.get(
        part, part
    )


class StaffScreen(TapinScreen):
    """A staff screen: ``title``, ``message`` (``error``: a refusal, shown red)."""

    title = StringProperty("")
    message = StringProperty("")
    error = BooleanProperty(False)
    who_name = StringProperty("")
    covered = NumericProperty(0.0)
    typing = BooleanProperty(False)
    back_to = "staff_home"

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        dock.bind(height=self._on_keyboard, target=self._on_keyboard)

    @property
    def staff(self) -> StaffController:
        return self.ctx.kiosk.staff

    def on_pre_enter(self, *_args: Any) -> None:
        self.message, self.error = "", False
        self.load()
        self.refresh()

    def on_leave(self, *_args: Any) -> None:
        for field in self.fields():
            field.focus = False

    def _on_keyboard(self, *_args: Any) -> None:
        self.typing = any(f.focus and dock.serves(f) for f in self.fields())
        self.covered = float(dock.height) if self.typing else 0.0

    def fields(self) -> list[Any]:
        return [w for w in self.walk(restrict=True) if isinstance(w, FocusBehavior)]

    def say(self, text: str, *, error: bool = False) -> None:
        self.message, self.error = text, error

    def load(self) -> None:
        """Shown: fill from the controller (overridden)."""

    def refresh(self) -> None:
        """Memory changed (a snapshot, central's answer): redraw; a refusal is said."""
        who = self.staff.who
        self.who_name = who.name if who is not None else ""
        rejected = self.staff.rejected
        if rejected is not None:
            words = rejected.words
            if rejected.kind == EventType.BOOKING_CREATE:
                words = _("Not booked: {why}").format(why=words)
            self.say(words, error=True)
            self.staff.acknowledge()
        self.update()

    def update(self) -> None:
        """Redraw what the screen shows (overridden)."""

    def reset(self) -> None:
        self.message, self.error = "", False
        for field in self.fields():
            field.focus = False
            field.text = ""

    def not_me(self) -> None:
        self.staff.forget()
        self.ctx.kiosk.go("staff_home")

    def go_back(self) -> None:
        self.ctx.kiosk.go(self.back_to)

    def touched(self) -> None:
        self.ctx.kiosk.touched()

    def clock(self, moment: Any) -> str:
        runtime = self.ctx.runtime
        return timefmt.clock(moment, runtime.site.timezone, h24=runtime.h24)


class StaffHomeScreen(StaffScreen):
    has_desk = BooleanProperty(False)
    desk_text = StringProperty("")
    back_to = "welcome"

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "staff_home")
        super().__init__(ctx, **kwargs)
        self.title = _("Staff")
        self.buttons: dict[str, Any] = {}

    def go_back(self) -> None:
        self.ctx.kiosk.home()

    def update(self) -> None:
        box = self.ids.desk_actions
        box.clear_widgets()
        self.buttons = {}
        mine = self.staff.mine()
        self.has_desk = bool(mine)
        if not mine:
            self.desk_text = ""
            return
        booking = mine[0]
        desk = self.staff.desk(booking.desk_id)
        name = desk.name if desk is not None else booking.desk_id
        floor = desk.floor if desk is not None else 0
        span = f"{self.clock(booking.start)}–{self.clock(booking.end)}"
        state = (
            _("checked in")
            if booking.checked_in
            else (_("waiting for the server") if self.staff.pending(booking.booking_id) else "")
        )
        self.desk_text = _("Your desk today: {desk}, floor {floor}, {span}").format(
            desk=name, floor=floor, span=span
        ) + (f" ({state})" if state else "")
        if not booking.checked_in:
            check = PrimaryButton(text=_("Check in"), unit=self.unit, font_units=22)
            check.bind(on_release=lambda _b: self.check_in(booking.booking_id))
            box.add_widget(check)
            self.buttons["check_in"] = check
        release = SecondaryButton(text=_("Release the desk"), unit=self.unit, font_units=22)
        release.bind(on_release=lambda _b: self.release(booking.booking_id))
        box.add_widget(release)
        self.buttons["release"] = release

    def open(self, target: str) -> None:
        """A staff task; desk booking asks who you are first."""
        kiosk = self.ctx.kiosk
        if target == "desk_booking" and self.staff.who is None:
            kiosk.identify_then("desk_booking")
        else:
            kiosk.go(target)

    def check_in(self, booking_id: str) -> None:
        async def act() -> None:
            try:
                await self.staff.check_in(booking_id)
            except Exception as exc:  # ActionError: its words are for the screen
                self.say(str(exc), error=True)
                return
            self.say(_("Checked in. Have a good day!"))
            self.update()

        self.ctx.run(act())

    def release(self, booking_id: str) -> None:
        async def act() -> None:
            try:
                await self.staff.release(booking_id)
            except Exception as exc:
                self.say(str(exc), error=True)
                return
            self.say(_("The desk is free again for others. Thank you!"))
            self.update()

        self.ctx.run(act())

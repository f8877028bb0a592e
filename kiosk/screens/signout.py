"""Sign out: hold the badge's QR code up to the camera, or pick yourself from today's
visitors, each shown as first name and initial and company only ("Ada L. · Analytical
Engines"), and confirm. Then "Goodbye" and back to the welcome screen.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.clock import Clock, ClockEvent
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.context import KioskContext
from kiosk.validate import short_name
from tapin.i18n import _
from tapin.ui.kit import SecondaryButton, TapinScreen

__all__ = ["GOODBYE_SECONDS", "SignOutScreen", "row_text"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

GOODBYE_SECONDS = 4.0


def row_text(name: str, company: str) -> str:
    """``Ada L. · Analytical Engines``: what anyone in the lobby may read."""
    shown = short_name(name)
    return f"{shown} · {company}" if company else shown


class SignOutScreen(TapinScreen):
    message = StringProperty("")
    """"Goodbye, Ada", or what went wrong; empty: the list."""
    count = NumericProperty(0)
    can_scan = BooleanProperty(False)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "signout")
        super().__init__(**kwargs)
        self.ctx = ctx
        self.can_scan = "camera" in ctx.extras
        self.rows: dict[str, Any] = {}
        """Each visitor's button, by visitor id."""
        self._shown: tuple[tuple[str, str], ...] = ()
        self._home: ClockEvent | None = None

    def on_unit(self, *_args: Any) -> None:
        for button in self.rows.values():
            button.unit = self.unit

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.refresh()

    def on_leave(self, *_args: Any) -> None:
        if self._home is not None:
            self._home.cancel()
            self._home = None
        self.message = ""

    def refresh(self) -> None:
        """The list from the controller (central's snapshot and this kiosk's memory)."""
        rows = tuple(
            (r.visitor_id, row_text(r.name, r.company)) for r in self.ctx.controller.on_site()
        )
        self.count = len(rows)
        if rows == self._shown:
            return
        self._shown = rows
        grid = self.ids.visitors
        grid.clear_widgets()
        self.rows = {}
        for visitor_id, text in rows:
            button = SecondaryButton(text=text, unit=self.unit, font_units=22)
            button.bind(on_release=lambda _b, v=visitor_id: self.pick(v))
            grid.add_widget(button)
            self.rows[visitor_id] = button

    def pick(self, visitor_id: str) -> None:
        """Confirm, then sign out."""
        from tapin.ui.screens.dialogs import Choice, ChoiceDialog

        row = self.ctx.controller.find(visitor_id)
        if row is None:
            self.refresh()
            return
        self.ctx.kiosk.touched()
        dialog = ChoiceDialog(
            _("Sign out {name}?").format(name=short_name(row.name)),
            [Choice(_("Sign out"), visitor_id, role="primary")],
            lambda v: self.ctx.kiosk.sign_out(v, via="list"),
            detail=_("Thank you for visiting. Please leave your badge at reception."),
            unit=self.unit,
        )
        dialog.cancel_text = _("Cancel")
        self.ctx.kiosk.dialog = dialog
        dialog.open(animation=False)

    def goodbye(self, name: str) -> None:
        from kiosk.validate import first_name

        self.message = _("Goodbye, {name}. Thank you for visiting!").format(name=first_name(name))
        self.refresh()
        if self._home is not None:
            self._home.cancel()
        self._home = Clock.schedule_once(self._back_home, GOODBYE_SECONDS)

    def _back_home(self, _dt: float) -> None:
        """After the goodbye, welcome again: only if the kiosk is still on this screen
        (a sign-out answered after the visitor moved on must not pull the kiosk away)."""
        self._home = None
        if self.manager is not None and self.manager.current == self.name:
            self.ctx.kiosk.home()

    def problem(self, text: str) -> None:
        self.message = text
        self.refresh()

    def reset(self) -> None:
        self.message = ""

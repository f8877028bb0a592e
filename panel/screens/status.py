"""The status screen: is the room free, until when, what is on today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from panel.status_model import StatusView
from tapin.i18n import _
from tapin.ui import widgets  # noqa: F401  (registers StatusIcon and Timeline with the Factory)
from tapin.ui.kit import DestructiveButton, PrimaryButton, SecondaryButton, TapinScreen
from tapin.ui.screens.dialogs import ChoiceDialog

__all__ = ["AgendaRow", "StatusScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

ADMIN_HOLD_SECONDS = 3.0
"""The hidden gesture: hold the room name this long to get the admin PIN prompt."""
ACTION_LABELS = {
    "keep": "Keep the room",
    "checkin": "Check in",
    "book": "Book now",
    "extend": "Extend",
    "end": "End now",
    "find": "Find room",
    "report": "Report",
}
ACTION_ROLES = {
    "keep": PrimaryButton,
    "checkin": PrimaryButton,
    "book": PrimaryButton,
    "end": DestructiveButton,  # asks first (a choice dialog)
}
"""The role of each action's button; the others are secondary."""
MAX_AGENDA_ROWS = 4
MAX_AGENDA_ROWS_PORTRAIT = 3


class AgendaRow(BoxLayout):
    times = StringProperty("")
    subject = StringProperty("")
    current = BooleanProperty(False)
    past = BooleanProperty(False)
    unit = NumericProperty(1.0)


class StatusScreen(TapinScreen):
    view: StatusView | None = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx: Any = None
        """The :class:`panel.context.PanelContext`, set by the app."""
        self.dialog: ChoiceDialog | None = None
        self.who: Any = None
        self._hold: Any = None
        self._shown_actions: tuple[tuple[str, ...], float] | None = None
        self.bind(view=self._fill_agenda, unit=self._fill_agenda, portrait=self._fill_agenda)
        self.bind(view=self._fill_actions, unit=self._fill_actions)

    # the action bar ------------------------------------------------------------------

    def _fill_actions(self, *args: Any) -> None:
        actions = self.view.actions if self.view else ()
        if (actions, self.unit) == self._shown_actions:
            return
        self._shown_actions = (actions, self.unit)
        bar = self.ids.actions
        bar.clear_widgets()
        for name in actions[:4]:
            size = 19 if len(actions) < 4 else 16
            role = ACTION_ROLES.get(name, SecondaryButton)
            button = role(text=_(ACTION_LABELS[name]), unit=self.unit, font_units=size)
            button.action = name
            button.bind(on_release=lambda b: self.act(b.action))
            bar.add_widget(button)

    def action_button(self, name: str) -> Any:
        """The button of an action, for tests and the tour; ``None`` when not offered."""
        return next((b for b in self.ids.actions.children if b.action == name), None)

    def act(self, name: str) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        controller = ctx.controller
        if name == "book":
            choices = controller.book_now_choices()
            self._ask(
                _("Book this room now"),
                [(_("{m} min").format(m=m), m) for m in choices],
                self._book,
                detail=_("Starts now. Never runs into the next meeting."),
            )
        elif name == "extend":
            self._ask(
                _("Extend this meeting"),
                [("+" + _("{m} min").format(m=m), m) for m in controller.extend_choices()],
                lambda m: ctx.run(controller.extend(m)),
            )
        elif name == "end":
            self._ask(
                _("End the meeting now?"),
                [(_("End now"), True)],
                lambda _v: ctx.run(controller.end_now()),
                detail=_("The room becomes free for others."),
                cancel=_("Keep the room"),
                destructive=True,
            )
        elif name == "checkin":
            ctx.run(controller.check_in())
        elif name == "keep":
            controller.keep()
        elif name == "find":
            ctx.go("find_room")
        elif name == "report":
            ctx.go("report")

    def _book(self, minutes: int) -> None:
        ctx = self.ctx
        room = ctx.runtime.room(ctx.room)
        if not room.ask_booker:
            ctx.run(ctx.controller.book_now(minutes))
            return
        from tapin.ui.screens.who import WhoDialog

        self.who = WhoDialog(
            ctx.runtime.directory,
            lambda person: ctx.run(ctx.controller.book_now(minutes, booked_by=person.id)),
            unit=self.unit,
        )
        self.who.open()

    def _ask(
        self,
        title: str,
        choices: list[tuple[str, Any]],
        on_choose: Any,
        *,
        detail: str = "",
        cancel: str = "",
        destructive: bool = False,
    ) -> None:
        self.dialog = ChoiceDialog(
            title,
            choices,
            on_choose,
            detail=detail,
            unit=self.unit,
            cancel_text=cancel or _("Cancel"),
            destructive=destructive,
        )
        self.dialog.open()

    # the hidden admin gesture ----------------------------------------------------------

    def on_touch_down(self, touch: Any) -> bool:
        name = self.ids.room_name
        if name.collide_point(*name.to_widget(*touch.pos)) and self.ctx is not None:
            self._hold = Clock.schedule_once(
                lambda _dt: self.ctx.go("admin_pin"), ADMIN_HOLD_SECONDS
            )
        return bool(super().on_touch_down(touch))

    def on_touch_up(self, touch: Any) -> bool:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        return bool(super().on_touch_up(touch))

    def _fill_agenda(self, *args: Any) -> None:
        box = self.ids.agenda
        box.clear_widgets()
        if self.view is None:
            return
        items = list(self.view.agenda)
        rows = MAX_AGENDA_ROWS_PORTRAIT if self.portrait else MAX_AGENDA_ROWS
        # Show from the meeting in progress (or the last one that ended) onwards.
        first = next((i for i, item in enumerate(items) if not item.past), len(items))
        start = max(0, min(first, len(items) - rows))
        for item in items[start : start + rows]:
            box.add_widget(
                AgendaRow(
                    times=item.times,
                    subject=item.subject,
                    current=item.current,
                    past=item.past,
                    unit=self.unit,
                )
            )
        if not items and self.view.state != "unavailable":
            box.add_widget(AgendaRow(times="", subject=_("No meetings today"), unit=self.unit))

"""The status screen: is the room free, until when, what is on today.

The status card keeps its size whatever else is shown: notices share one area in the
side column (above the agenda, which then shows fewer rows and says "+N more"); a
refusal from central opens a dialog ("Not booked") that stays until it is answered.
``full_colour`` paints the whole screen in the status colour (as Teams panels do).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from panel.notices import NoticeLine
from panel.status_model import StatusView, agenda_window, until_label
from tapin.i18n import _
from tapin.ui import widgets  # noqa: F401  (registers StatusIcon, StatusBox, Timeline)
from tapin.ui.kit import PADDING, PrimaryButton, SecondaryButton, TapinScreen
from tapin.ui.screens.dialogs import Choice, ChoiceDialog
from tapin.ui.theme import PALETTE, STATE_CARDS, STATE_INK, rgba

__all__ = ["AgendaRow", "NoticeCard", "StatusScreen"]

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
}
"""The role of each action's button; the others are secondary. End now is secondary
here (a red button vanishes on the busy colour): its confirmation is the destructive
step."""
AGENDA_ROW = 50
AGENDA_MORE = 32
"""The height of the "+N more" line, in units."""
AGENDA_SPACING = 2


class AgendaRow(BoxLayout):
    times = StringProperty("")
    subject = StringProperty("")
    current = BooleanProperty(False)
    past = BooleanProperty(False)
    more = BooleanProperty(False)
    """The "+N more" row."""
    unit = NumericProperty(1.0)
    ink = ListProperty(rgba(PALETTE["ink"]))
    muted = ListProperty(rgba(PALETTE["muted"]))
    highlight = ListProperty(rgba(PALETTE["card_bg"]))


class NoticeCard(ButtonBehavior, BoxLayout):
    """One notice: colour, icon and bold words; an error says it is tapped away."""

    text = StringProperty("")
    kind = StringProperty("info")
    icon = StringProperty("info")
    dismiss = BooleanProperty(False)
    unit = NumericProperty(1.0)
    markup_text = StringProperty("")

    def on_kv_post(self, *args: Any) -> None:
        self._words()
        self.bind(text=self._words, dismiss=self._words, unit=self._words)

    def _words(self, *args: Any) -> None:
        words = escape_markup(self.text)
        if self.dismiss:
            hint = escape_markup(_("Tap to close"))
            words += f"\n[size={round(self.unit * 14)}][b]{hint}[/b][/size]"
        self.markup_text = words


class StatusScreen(TapinScreen):
    view: StatusView | None = ObjectProperty(None, allownone=True)
    full_colour = BooleanProperty(False)
    """The status colour over the whole screen, not only the status card."""
    look = StringProperty("free")
    hatched = BooleanProperty(False)
    ink = ListProperty(rgba(PALETTE["ink"]))
    card = ListProperty(rgba(STATE_CARDS["free"]))
    side_ink = ListProperty(rgba(PALETTE["ink"]))
    side_muted = ListProperty(rgba(PALETTE["muted"]))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx: Any = None
        """The :class:`panel.context.PanelContext`, set by the app."""
        self.dialog: ChoiceDialog | None = None
        self.rejection_dialog: ChoiceDialog | None = None
        self.who: Any = None
        self._hold: Any = None
        self._shown_actions: tuple[tuple[str, ...], float] | None = None
        self._shown_notices: tuple[tuple[NoticeLine, ...], float] | None = None
        self._shown_agenda: Any = None
        self._rejection_at: Any = None
        agenda = Clock.create_trigger(self._fill_agenda)
        self.bind(view=self._colours, full_colour=self._colours)
        self.bind(view=agenda, unit=agenda, full_colour=agenda)
        self.ids.agenda.bind(height=agenda)
        self.bind(view=self._fill_actions, unit=self._fill_actions)
        self.bind(view=self._fill_notices, unit=self._fill_notices)
        self.bind(view=self._show_rejection)

    # colours -------------------------------------------------------------------------

    def _colours(self, *args: Any) -> None:
        view = self.view
        self.look = view.look if view else "free"
        self.hatched = bool(view and view.hatched)
        ink = rgba(STATE_INK[self.look])
        self.ink = ink
        self.card = rgba(STATE_CARDS[self.look])
        self.side_ink = ink if self.full_colour else rgba(PALETTE["ink"])
        self.side_muted = ink if self.full_colour else rgba(PALETTE["muted"])

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
            text = _(ACTION_LABELS[name])
            button = role(text=text, unit=self.unit, font_units=size)
            # each button's share of the bar follows its label, so long labels keep their size
            extent = CoreLabel(font_size=size * self.unit, bold=True).get_extents(text)[0]
            button.size_hint_x = max(extent, 60 * self.unit) + 2 * PADDING * self.unit
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
            self._ask_book()
        elif name == "extend":
            meeting = controller.current()
            end = meeting.end if meeting is not None else ctx.clock()
            self._ask(
                _("Extend this meeting"),
                [
                    Choice("+" + _("{m} min").format(m=m), m, self._until(end, m))
                    for m in controller.extend_choices()
                ],
                lambda m: ctx.run(controller.extend(m)),
            )
        elif name == "end":
            self._ask(
                _("End the meeting now?"),
                [Choice(_("End now"), True)],
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

    def _until(self, start: Any, minutes: int) -> str:
        runtime = self.ctx.runtime
        end = start + timedelta(minutes=minutes)
        return until_label(end, runtime.calendar.zone, h24=runtime.h24)

    def _ask_book(self) -> None:
        controller = self.ctx.controller
        choices = controller.book_now_choices()
        start = self.ctx.clock().replace(second=0, microsecond=0)
        if not choices:
            self._ask(
                _("Book this room now"),
                [Choice(_("Find another room"), "find")],
                lambda _v: self.ctx.go("find_room"),
                detail=_("The room cannot be booked right now."),
            )
            return
        self._ask(
            _("Book this room now"),
            [Choice(_("{m} min").format(m=m), m, self._until(start, m)) for m in choices],
            self._book,
            detail=_("Starts now. Never runs into the next meeting."),
        )

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
        choices: list[Choice],
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

    # a refusal from central ------------------------------------------------------------

    def _show_rejection(self, *args: Any) -> None:
        rejection = self.view.rejection if self.view else None
        if rejection is None:
            if self.rejection_dialog is not None:
                self.rejection_dialog.dismiss(animation=False)
                self.rejection_dialog = None
            return
        if self.rejection_dialog is not None and self._rejection_at == rejection.at:
            return
        for dialog in (self.dialog, self.rejection_dialog):
            if dialog is not None:
                dialog.dismiss(animation=False)
        self._rejection_at = rejection.at
        if rejection.booking:
            choices = [
                Choice(_("Find another room"), "find"),
                Choice(_("Try again"), "retry", role="secondary"),
            ]
            cancel = _("Close")
        else:
            choices, cancel = [Choice(_("Close"), "ok")], ""
        self.rejection_dialog = ChoiceDialog(
            rejection.title,
            choices,
            self._answer_rejection,
            detail=rejection.words,
            unit=self.unit,
            cancel_text=cancel,
            on_cancel=lambda: self._answer_rejection("ok"),
            tone="error",
            auto_dismiss=False,
        )
        self.rejection_dialog.open()

    def _answer_rejection(self, answer: str) -> None:
        """Any answer acknowledges the refusal; then another room or another try."""
        self.rejection_dialog = None
        if self.ctx is None:
            return
        self.ctx.controller.acknowledge()
        if answer == "find":
            self.ctx.go("find_room")
        elif answer == "retry":
            self._ask_book()

    # the notice area -------------------------------------------------------------------

    def _fill_notices(self, *args: Any) -> None:
        lines = self.view.notices if self.view else ()
        if (lines, self.unit) == self._shown_notices:
            return
        self._shown_notices = (lines, self.unit)
        box = self.ids.notices
        box.clear_widgets()
        for line in lines:
            card = NoticeCard(
                text=line.text, kind=line.kind, icon=line.icon, dismiss=line.dismiss, unit=self.unit
            )
            if line.dismiss:
                card.bind(on_release=lambda _c: self._dismiss_notice())
            box.add_widget(card)

    def notice_card(self, kind: str) -> NoticeCard | None:
        """The notice card of a kind (``error``, ``offer``, ``info``, ``offline``)."""
        return next((c for c in self.ids.notices.children if c.kind == kind), None)

    def _dismiss_notice(self) -> None:
        if self.ctx is not None:
            self.ctx.controller.acknowledge()

    # the agenda ------------------------------------------------------------------------

    def _fill_agenda(self, *args: Any) -> None:
        box = self.ids.agenda
        u = self.unit
        row, gap = (AGENDA_ROW + AGENDA_SPACING) * u, AGENDA_SPACING * u
        fit = max(0, int((box.height + gap) // row))
        beside_more = max(0, int((box.height - AGENDA_MORE * u) // row))
        items = self.view.agenda if self.view else ()
        key = (items, fit, beside_more, u, self.full_colour, self.look)
        if key == self._shown_agenda:
            return
        self._shown_agenda = key
        box.clear_widgets()
        if self.view is None:
            return
        colours = {"ink": self.side_ink, "muted": self.side_muted, "unit": u}
        colours["highlight"] = self.card if self.full_colour else rgba(PALETTE["card_bg"])
        shown, more = agenda_window(items, fit, beside_more)
        if box.height < AGENDA_MORE * u:
            shown, more = (), 0
        for item in shown:
            box.add_widget(
                AgendaRow(
                    times=item.times,
                    subject=item.subject,
                    current=item.current,
                    past=item.past,
                    **colours,
                )
            )
        if more:
            box.add_widget(AgendaRow(subject=_("+{n} more").format(n=more), more=True, **colours))
        if not self.view.agenda and fit:
            words = (
                _("Meetings not known yet")
                if self.view.state == "unavailable"
                else _("No meetings today")
            )
            box.add_widget(AgendaRow(subject=words, **colours))
        box.add_widget(Widget())  # the rows stay at the top

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

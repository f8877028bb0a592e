"""The end of a sign-in: "Welcome, Ada." and, honestly, whether the host was told
("Björn has been told you are here", or "We'll let Björn know as soon as we're back
online" while the kiosk is offline, or reception when no host was named), and the
badge: a preview of what was printed (no printer: no badge, and nothing is said of it).
Back to the welcome screen on Done, or by itself after :data:`DONE_SECONDS`.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.clock import Clock, ClockEvent
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty

from kiosk.context import KioskContext
from kiosk.validate import first_name
from tapin.i18n import _
from tapin.ui.kit import TapinScreen

__all__ = ["DONE_SECONDS", "DoneScreen", "told_text"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

DONE_SECONDS = 30.0


def told_text(state: str, host: str | None) -> str:
    """What the visitor is told of their host, for a :data:`kiosk.controller.NOTIFY_STATES`
    state; ``host`` is the host's first name, ``None`` when none was named."""
    if host is None:
        if state == "offline":
            return _("We'll let reception know as soon as we're back online.")
        if state in ("reception", "delivered", "failed"):
            return _("Reception has been told you are here.")
        return _("We are letting reception know you are here…")
    if state == "delivered":
        return _("{host} has been told you are here.").format(host=host)
    if state == "offline":
        return _("We'll let {host} know as soon as we're back online.").format(host=host)
    if state in ("failed", "reception"):
        return _("We could not reach {host}, so reception has been told.").format(host=host)
    return _("We are letting {host} know you are here…").format(host=host)


class DoneScreen(TapinScreen):
    greeting = StringProperty("")
    told = StringProperty("")
    badge_note = StringProperty("")
    has_badge = BooleanProperty(False)
    failed = BooleanProperty(False)
    """The sign-in could not be saved: the message says what to do."""

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "done")
        super().__init__(**kwargs)
        self.ctx = ctx
        self._leave: ClockEvent | None = None

    def on_enter(self, *_args: Any) -> None:
        if self._leave is not None:
            self._leave.cancel()
        self._leave = Clock.schedule_once(lambda _dt: self.finish(), DONE_SECONDS)

    def on_leave(self, *_args: Any) -> None:
        if self._leave is not None:
            self._leave.cancel()
            self._leave = None

    def signing(self) -> None:
        self.reset()
        self.greeting = _("Signing you in…")

    def signed_in(self, name: str) -> None:
        self.failed = False
        self.greeting = _("Welcome, {name}.").format(name=first_name(name))

    def refused(self, why: str) -> None:
        self.failed = True
        self.greeting = _("Sorry, that did not work")
        self.told = why + "\n" + _("Please ask reception for help.")

    def update(self, state: str, host: str | None) -> None:
        if not self.failed and self.greeting:
            self.told = told_text(state, host)

    async def badge(self, png: bytes | None, note: str) -> None:
        """The badge printed (``png``) or why there is none (``note``)."""
        self.badge_note = note
        if png is None:
            self.has_badge = False
            self.ids.badge.clear()
            return
        self.has_badge = await self.ids.badge.show(png)

    def finish(self) -> None:
        self.ctx.kiosk.home()

    def reset(self) -> None:
        self.greeting = self.told = self.badge_note = ""
        self.failed = self.has_badge = False
        self.ids.badge.clear()

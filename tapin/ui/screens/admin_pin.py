"""The admin PIN prompt: a big keypad, masked dots, a lockout after wrong tries.

Opened by a hidden gesture on the status screen. The typed digits live only in a
private string of this screen (never a Kivy property, never logged) and are cleared on
every outcome and when the screen is left. The scrypt check runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kivy.animation import Animation
from kivy.clock import Clock, ClockEvent
from kivy.graphics import Color, Ellipse, Line
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.widget import Widget

from tapin.device.adminpin import MAX_DIGITS, MIN_DIGITS, PinGuard, PinLocked, describe_wait
from tapin.i18n import _, ngettext
from tapin.ui.context import ScreenContext
from tapin.ui.kit import TapinScreen

__all__ = ["AdminPinScreen", "PinDots"]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

IDLE_SECONDS = 60.0
"""Back to the status screen when nobody touches the prompt for this long."""

# English sources, shown as ``_(PROMPT)`` etc. in the language of the moment
PROMPT = "Enter the admin PIN"
NOT_SET_UP = "No admin PIN is set for this device"
NOT_SET_UP_DETAIL = (
    "To set one, run “tapin admin hash-pin” on the device, add the line it prints "
    "to {file} under [admin], then restart Tapin."
)
SOME_CONFIG = "the device's configuration file"


def not_set_up_detail(config_source: str) -> str:
    """What a technician does to set a PIN, naming the configuration file when the
    device was started from one (``config_source`` is :attr:`Config.source`)."""
    named = bool(config_source) and not config_source.startswith("<")
    return _(NOT_SET_UP_DETAIL).format(file=config_source if named else _(SOME_CONFIG))


def wrong_message(tries_left: int) -> str:
    return ngettext("Wrong PIN ({n} try left)", "Wrong PIN ({n} tries left)", tries_left).format(
        n=tries_left
    )


def locked_message(guard: PinGuard) -> str:
    return _("Locked for {wait}").format(wait=describe_wait(guard.remaining()))


class PinDots(Widget):
    """One dot per typed digit (at least four places shown); ``shake`` moves them."""

    filled = NumericProperty(0)
    places = NumericProperty(MIN_DIGITS)
    shake = NumericProperty(0.0)
    colour = ListProperty([1, 1, 1, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        redraw = Clock.create_trigger(self._draw)
        self.bind(
            filled=redraw, places=redraw, shake=redraw, colour=redraw, pos=redraw, size=redraw
        )

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        count = max(int(self.places), int(self.filled))
        radius = min(self.height * 0.32, self.width / (count * 3.2))
        gap = radius * 3.0
        left = self.center_x - gap * (count - 1) / 2 + self.shake
        with self.canvas:
            Color(*self.colour)
            for i in range(count):
                cx, cy = left + i * gap, self.center_y
                if i < self.filled:
                    Ellipse(pos=(cx - radius, cy - radius), size=(radius * 2, radius * 2))
                else:
                    Line(circle=(cx, cy, radius - 1), width=1.6)


class AdminPinScreen(TapinScreen):
    """``name`` is ``admin_pin``. ``guard`` is ``None`` when no PIN is configured: the
    prompt then says how a technician sets one, and there is no keypad at all."""

    """Taller than wide: title and message on top, keypad below, Cancel at the bottom."""
    pad = NumericProperty(24.0)
    gap = NumericProperty(28.0)
    cancel_height = NumericProperty(64.0)
    side_width = NumericProperty(368.0)
    """Width of the title column (the whole width less the padding, in portrait)."""
    digits = NumericProperty(0)
    """How many digits are typed (the digits themselves are private)."""
    heading = StringProperty("")
    """The title over the keypad ("" = "Device admin"); the kiosk's reception side names
    itself."""
    subheading = StringProperty("")
    """The line under it ("" = "For technicians only")."""
    message = StringProperty(PROMPT)
    detail = StringProperty("")
    error = BooleanProperty(False)
    keypad_on = BooleanProperty(True)
    set_up = BooleanProperty(True)
    """A PIN is configured (else the prompt only says admin is not set up)."""
    checking = BooleanProperty(False)

    def __init__(self, ctx: ScreenContext, guard: PinGuard | None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "admin_pin")
        super().__init__(**kwargs)
        self.ctx = ctx
        self.guard = guard
        self.set_up = guard is not None
        # the keypad widget itself (``ids`` holds weak proxies): without a PIN it is not
        # on the screen at all, and tests still reach it here
        self.keypad = next(c for c in self.children if c.uid == self.ids.keypad.uid)
        if guard is None:
            self.remove_widget(self.keypad)
        self._entry = ""
        self._ticker: ClockEvent | None = None
        self._idle: ClockEvent | None = None
        self._told_not_set_up = False

    # lifecycle ---------------------------------------------------------------------

    def on_pre_enter(self, *_: Any) -> None:
        self.on_leave()  # entered twice without leaving: one set of clocks only
        self._clear()
        self._show_state()
        if self.guard is None and not self._told_not_set_up:
            log.warning("admin PIN prompt opened, but no [admin] pin_hash is configured")
            self._told_not_set_up = True
        self._ticker = Clock.schedule_interval(lambda _dt: self._show_state(keep=True), 0.5)
        self._restart_idle()

    def on_leave(self, *_: Any) -> None:
        self._clear()
        for event in (self._ticker, self._idle):
            if event is not None:
                event.cancel()
        self._ticker = self._idle = None

    def _restart_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = Clock.schedule_once(lambda _dt: self.cancel(), IDLE_SECONDS)

    def _clear(self) -> None:
        self._entry = ""
        self.digits = 0

    def _show_state(self, *, keep: bool = False) -> None:
        """Prompt, lock countdown or "not set up". ``keep`` leaves a wrong-PIN message."""
        if self.guard is None:
            self.message = _(NOT_SET_UP)
            self.detail = not_set_up_detail(self.ctx.runtime.config.source)
            self.error, self.keypad_on = False, False
        elif self.guard.locked:
            self.message, self.detail = locked_message(self.guard), _("Too many wrong tries")
            self.error, self.keypad_on = True, False
            self._clear()
        elif not keep or not self.keypad_on:
            self.message = _(PROMPT)
            self.detail = _("{low} to {high} digits").format(low=MIN_DIGITS, high=MAX_DIGITS)
            self.error, self.keypad_on = False, True

    # keys ----------------------------------------------------------------------------

    def press(self, digit: str) -> None:
        if not self.keypad_on or self.checking or len(self._entry) >= MAX_DIGITS:
            return
        self._restart_idle()
        if self.error:
            self._show_state()
        self._entry += digit[:1]
        self.digits = len(self._entry)

    def delete(self) -> None:
        self._restart_idle()
        self._entry = self._entry[:-1]
        self.digits = len(self._entry)

    def cancel(self) -> None:
        self._clear()
        self.ctx.back()

    def submit(self) -> None:
        if self.guard is None or not self.keypad_on or self.checking:
            return
        if len(self._entry) < MIN_DIGITS:
            self.message = _("Enter {low} to {high} digits").format(low=MIN_DIGITS, high=MAX_DIGITS)
            self.error = True
            return
        pin, self._entry = self._entry, ""
        self.checking = True
        self.ctx.run(self._check(self.guard, pin))

    async def _check(self, guard: PinGuard, pin: str) -> None:
        try:
            right = await asyncio.to_thread(guard.check, pin)
        except PinLocked:
            right = False
        finally:
            self.checking = False
            self._clear()
        if right:
            self.error = False
            self.message = _(PROMPT)
            self.ctx.go("admin")
            return
        self._shake()
        if guard.locked:
            self._show_state()
        else:
            self.message, self.detail = wrong_message(guard.tries_left), _("Try again")
            self.error = True

    def _shake(self) -> None:
        dots = self.ids.dots
        step = self.unit * 14
        Animation.cancel_all(dots, "shake")
        wobble = Animation(shake=step, d=0.05)
        for sign in (-1, 1, -1):
            wobble += Animation(shake=sign * step * 0.8, d=0.07)
        wobble += Animation(shake=0, d=0.05)
        wobble.start(dots)

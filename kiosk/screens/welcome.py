"""The lobby's welcome (attract) screen: the site's name and logo, the language
(English, Svenska: the whole kiosk changes at once), "Sign in as a visitor" and "Sign
out" large, "Scan a QR code" (an invitation or a badge), a small "Staff" entry (the
staff side: desks, rooms, colleagues), and a hidden entry for reception's evacuation
list: hold the logo for :data:`HOLD_SECONDS`, then the admin PIN.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.clock import Clock, ClockEvent
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.image import Image

import assets
from kiosk.context import KioskContext
from tapin import i18n
from tapin.i18n import _
from tapin.ui.kit import TapinScreen

__all__ = ["HOLD_SECONDS", "LANGUAGES", "HoldLogo", "WelcomeScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

HOLD_SECONDS = 3.0
LANGUAGES = (("en_GB", "English"), ("sv_SE", "Svenska"))
"""The kiosk's languages, each named in itself."""
LOGO = str(assets.path("icons", "tapin.png"))


class HoldLogo(Image):
    """The logo; held for :data:`HOLD_SECONDS` it opens the admin PIN (reception)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hold: ClockEvent | None = None
        self.on_hold: Any = None

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        touch.grab(self)
        self._cancel()
        self._hold = Clock.schedule_once(lambda _dt: self._held(), HOLD_SECONDS)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        self._cancel()
        return True

    def _cancel(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None

    def _held(self) -> None:
        self._hold = None
        if self.on_hold is not None:
            self.on_hold()


class WelcomeScreen(TapinScreen):
    site_name = StringProperty("")
    lobby_name = StringProperty("")
    language = StringProperty("en_GB")
    logo = StringProperty(LOGO)
    languages = LANGUAGES
    can_scan = BooleanProperty(False)
    """The kiosk has a camera: "Scan a QR code" is offered."""

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "welcome")
        super().__init__(**kwargs)
        self.ctx = ctx
        self.language = i18n.current()
        self.can_scan = "camera" in ctx.extras
        self.ids.logo.on_hold = lambda: ctx.go("admin_pin")

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        settings = self.ctx.runtime.kiosk
        site = settings.site_name if settings is not None else ""
        self.site_name = site or self.ctx.runtime.site.name or _("Welcome")
        self.lobby_name = settings.lobby_name if settings is not None else ""

    def speaks(self, locale: str) -> bool:
        return self.language.split("_")[0] == locale.split("_")[0]

    def choose_language(self, locale: str) -> None:
        if not self.speaks(locale):
            self.ctx.kiosk.set_language(locale)

    def staff(self) -> None:
        """The staff side: desks, rooms, colleagues (kiosk/screens/staff_home.py)."""
        self.ctx.kiosk.open_staff()

"""Scan a QR code: the visitor holds an invitation (straight to the terms) or their
badge (signed out) up to the camera. The app runs the scanner while this screen or the
sign-out screen is shown and says here what it read (:meth:`ScanScreen.say`).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty

from kiosk.context import KioskContext
from tapin.i18n import _
from tapin.ui.kit import TapinScreen

__all__ = ["ScanScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class ScanScreen(TapinScreen):
    message = StringProperty("")
    error = BooleanProperty(False)
    camera_ok = BooleanProperty(True)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "scan")
        super().__init__(**kwargs)
        self.ctx = ctx

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.error = False

    def say(self, text: str, *, error: bool = False) -> None:
        self.message, self.error = text, error

    def reset(self) -> None:
        self.say("")

    @staticmethod
    def camera_text(ok: bool) -> str:
        if ok:
            return _("Hold the QR code from your invitation, or your badge, up to the camera")
        return _("The camera is not working right now. Please sign in or out by name.")

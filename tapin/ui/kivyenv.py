"""Prepare Kivy's process environment. Call before the first ``import kivy``.

Kivy reads its settings from environment variables at import time. For Tapin:

* no Kivy file log and no ``~/.kivy`` config written (logs go to stderr only, and a
  device must not grow files nobody reads);
* command-line arguments are ours, not Kivy's;
* without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY``) SDL renders offscreen with
  Mesa, so screenshots and tests work on a server;
* Tapin's own font, Inter (``assets/fonts``), is every label's default.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import assets

__all__ = ["FONT", "has_display", "prepare_kivy"]

FONT = "Inter"
"""Every label's font (``assets/fonts``): full Latin, Nordic names included."""


class _NoCutbufferAlarm(logging.Filter):
    """Kivy looks for the X tools xclip/xsel (a "cut buffer", X11's middle-click paste)
    when a text field is first focused and, finding none on a kiosk or panel, logs a
    CRITICAL record with two tracebacks. Nothing is wrong: the SDL clipboard works."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Cutbuffer: Unable to find")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_kivy(kivy_home: Path, size: tuple[int, int], *, offscreen: bool) -> None:
    """Set Kivy's environment and window size. Safe to call once per process."""
    if "kivy" in sys.modules:
        from kivy.core.window import Window

        Window.size = size
        return
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ["KIVY_HOME"] = str(kivy_home)
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ["KIVY_NO_FILELOG"] = "1"
    os.environ["KIVY_NO_CONFIG"] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", "warning")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # no xsel/xclip probing on a kiosk
    logging.getLogger("kivy").addFilter(_NoCutbufferAlarm())  # ...but the cut buffer probes
    if offscreen:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
        os.environ.setdefault("KIVY_WINDOW", "sdl2")
    from kivy.config import Config

    regular, bold = (str(assets.path("fonts", f"Inter-{w}.otf")) for w in ("Regular", "Bold"))
    Config.set("kivy", "default_font", repr([FONT, regular, regular, bold, bold]))
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "0")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    # the on-screen keyboard docks at the bottom for text fields; a USB keyboard or badge
    # reader (which types like a keyboard) works too. Tapin's own layouts and docking:
    # tapin.ui.keyboard
    Config.set("kivy", "keyboard_mode", "systemanddock")

"""Real Kivy, offscreen: the window harness of :mod:`tests.kivy_window`."""

from tests.kivy_window import run_panel, screen

__all__ = ["run_panel", "screen"]

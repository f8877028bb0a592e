"""Colours and sizes. Every status has a colour, a word and an icon: never colour alone.

Text colours are chosen for a contrast ratio of at least 4.5:1 (WCAG AA) against the
background they sit on; :func:`contrast` computes it and the tests check every pair.
"""

from __future__ import annotations

__all__ = ["PALETTE", "ROLE_COLOURS", "STATE_COLOURS", "contrast", "rgba"]

PALETTE = {
    "ink": "#FFFFFF",
    "ink_dim": "#D7DEE6",
    "panel_bg": "#14181F",
    "card_bg": "#222833",
    "muted": "#A9B4C2",
    "free": "#1B7A3A",
    "starting_soon": "#9A5B00",
    "busy": "#B3261E",
    "unavailable": "#4A5361",
    "timeline_track": "#3A4350",
    "timeline_meeting": "#E8EDF3",
    "now_marker": "#FFD54A",
    "offline": "#5A3E99",
    "button": "#FFFFFF",
    "button_ink": "#14181F",
    "notice": "#1F4E79",
    "error": "#8E1B1B",
    # button roles (tapin.ui.kit)
    "primary_bg": "#FFFFFF",
    "primary_down": "#C9D2DC",
    "primary_ink": "#14181F",
    "secondary_bg": "#3A4350",
    "secondary_down": "#5A6677",
    "destructive_bg": "#A4262C",
    "destructive_down": "#7A1C21",
    "cancel_ink": "#D7DEE6",
}

ROLE_COLOURS = {
    # role: (background, pressed background, text); cancel has no background
    "primary": ("primary_bg", "primary_down", "primary_ink"),
    "secondary": ("secondary_bg", "secondary_down", "ink"),
    "destructive": ("destructive_bg", "destructive_down", "ink"),
    "cancel": ("", "", "cancel_ink"),
}

STATE_COLOURS = {
    "free": PALETTE["free"],
    "starting_soon": PALETTE["starting_soon"],
    "awaiting_checkin": PALETTE["starting_soon"],
    "busy": PALETTE["busy"],
    "unavailable": PALETTE["unavailable"],
}


def rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """``#RRGGBB`` to Kivy's 0..1 RGBA tuple."""
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


def _luminance(hex_colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = rgba(hex_colour)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio between two ``#RRGGBB`` colours (1 to 21)."""
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)

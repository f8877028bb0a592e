"""Colours and sizes. Every status has a colour, a word and an icon: never colour alone.

Text colours are chosen for a contrast ratio of at least 4.5:1 (WCAG AA) against the
background they sit on; :func:`contrast` computes it and the tests check every pair.
The status colours also differ from each other in luminance (a contrast of at least
1.4 between any two), so they stay apart in greyscale and for colour-blind people:
dark slate (no calendar) < dark red (busy) < green (free) < light blue (reserved,
waiting for check-in) < light amber (starting soon). The dark ones carry white text,
the light ones dark text (:data:`STATE_INK`).
"""

from __future__ import annotations

__all__ = [
    "NOTICE_COLOURS",
    "PALETTE",
    "ROLE_COLOURS",
    "STATE_CARDS",
    "STATE_COLOURS",
    "STATE_HATCH",
    "STATE_INK",
    "contrast",
    "rgba",
]

PALETTE = {
    "ink": "#FFFFFF",
    "ink_dim": "#D7DEE6",
    "panel_bg": "#14181F",
    "card_bg": "#222833",
    "muted": "#A9B4C2",
    "ink_dark": "#14181F",
    "free": "#1B7A3A",
    "starting_soon": "#F7B92E",
    "awaiting_checkin": "#5AA6E0",
    "busy": "#9E1B1B",
    "unavailable": "#222833",
    "timeline_track": "#3A4350",
    "timeline_meeting": "#E8EDF3",
    "timeline_free": "#1D5A32",
    "timeline_past": "#2B313B",
    "timeline_busy": "#E5554C",
    "timeline_busy_past": "#6B3B3D",
    "now_marker": "#FFD54A",
    "offline": "#5A3E99",
    "button": "#FFFFFF",
    "button_ink": "#14181F",
    "notice": "#1F4E79",
    "error": "#8E1B1B",
    "offer": "#F7B92E",
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
    "awaiting_checkin": PALETTE["awaiting_checkin"],
    "busy": PALETTE["busy"],
    "unavailable": PALETTE["unavailable"],
}
"""The fill of each status (a booking waiting for central is the busy fill, hatched)."""

STATE_INK = {
    "free": PALETTE["ink"],
    "starting_soon": PALETTE["ink_dark"],
    "awaiting_checkin": PALETTE["ink_dark"],
    "busy": PALETTE["ink"],
    "unavailable": PALETTE["ink"],
}
"""The text and icon colour on each status colour."""

STATE_CARDS = {
    # the Now/Next card on the status colour: darker under white ink, lighter under dark
    "free": "#0F5A2A",
    "starting_soon": "#FBD88C",
    "awaiting_checkin": "#A4CEEE",
    "busy": "#6F1313",
    "unavailable": "#111419",
}

STATE_HATCH = {
    # the second colour of the stripes of a status that is not confirmed yet
    "free": "#0B4420",
    "starting_soon": "#FCE3A8",
    "awaiting_checkin": "#C4E0F5",
    "busy": "#3F0B0B",
    "unavailable": "#3A4350",
}

NOTICE_COLOURS = {
    # notice kind: (background, ink)
    "info": (PALETTE["notice"], PALETTE["ink"]),
    "error": (PALETTE["error"], PALETTE["ink"]),
    "offline": (PALETTE["offline"], PALETTE["ink"]),
    "offer": (PALETTE["offer"], PALETTE["ink_dark"]),
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

"""The UI kit both apps are built from: the base KV rules (``kit.kv``), buttons with a
role, and the screen base class.

Buttons have one of four roles, one style each:

=================  ============================================  ====================
role               for                                           looks
=================  ============================================  ====================
``primary``        the thing the person most likely wants        white, dark text
``secondary``      other choices                                 grey, white text
``destructive``    ends or gives something away (asks first)     red, white text
``cancel``         leave without choosing                        text only, no fill
=================  ============================================  ====================

Cancel never looks like a choice. A button's label is never cut: its font shrinks (to
:data:`MIN_SCALE` of its size at most) and then wraps onto a second line; a test walks
every button of every screen, state, size and language to prove it.

:class:`TapinScreen` gives every screen its ``unit`` (the scale of a design drawn for
800x480, or 480x800 in portrait) and ``portrait``.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, OptionProperty
from kivy.uix.behaviors import ToggleButtonBehavior
from kivy.uix.button import Button
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

__all__ = [
    "MIN_SCALE",
    "ROLES",
    "CancelButton",
    "DestructiveButton",
    "FitButton",
    "PrimaryButton",
    "RoleButton",
    "SecondaryButton",
    "TapinScreen",
    "TapinToggle",
    "cut_labels",
    "screen_unit",
]

ROLES = ("primary", "secondary", "destructive", "cancel")
MIN_SCALE = 0.72
"""A label shrinks to no less than this share of its font size before it wraps."""
PADDING = 8.0
"""Room kept free on each side of a button's label, in units."""


def screen_unit(width: float, height: float) -> tuple[float, bool]:
    """``(unit, portrait)`` for a window: designs are drawn for 800x480 (480x800)."""
    portrait = height > width
    if portrait:
        return min(width / 480.0, height / 800.0), True
    return min(width / 800.0, height / 480.0), False


class FitButton(Button):
    """A button whose label must fit: ``font_units`` is the wanted font size in units;
    the font shrinks, then the label wraps, until the whole label is inside."""

    unit = NumericProperty(1.0)
    font_units = NumericProperty(20.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        refit = Clock.create_trigger(lambda _dt: self.fit(), -1)
        self.bind(text=refit, size=refit, unit=refit, font_units=refit, bold=refit)
        self.fit()

    def inner_width(self) -> float:
        """The width a label may use: the button less :data:`PADDING` on each side."""
        return max(1.0, self.width - 2 * PADDING * self.unit)

    def fit(self) -> None:
        """Choose the font size (and wrapping) that shows the whole label."""
        width = self.inner_width()
        wanted = self.font_units * self.unit
        self.shorten = False
        self.halign = "center"
        self.valign = "middle"
        if not self.text:
            self.font_size = wanted
            self.text_size = (None, None)
            return
        longest = max(self._extent(line, wanted) for line in self.text.split("\n"))
        if longest <= width:
            size = wanted
        else:
            # whole pixels, rounded down so the label still fits: every size is a font
            # the renderer opens and keeps, so sizes are few; never below MIN_SCALE
            size = max(math.floor(wanted * width / longest), math.ceil(wanted * MIN_SCALE))
        self.font_size = size
        # wrap (at word boundaries) only when shrinking was not enough
        wrap: Any = (width, None) if longest * size / wanted > width else (None, None)
        self.text_size = wrap

    def _extent(self, line: str, size: float) -> float:
        label = CoreLabel(font_size=size, bold=self.bold, font_name=self.font_name)
        return float(label.get_extents(line)[0])


def cut_labels(roots: Iterable[Widget]) -> list[str]:
    """Every visible button under ``roots`` (e.g. ``Window.children``: the screens and
    any open dialog) whose label is not shown whole: shortened with "…", or wider or
    taller than its button. Empty when every label fits."""
    found = []
    for root in roots:
        for widget in root.walk():
            if not isinstance(widget, Button) or not widget.text.strip():
                continue
            if widget.opacity <= 0 or widget.width < 2 or widget.height < 2:
                continue  # not shown
            shown_w, shown_h = widget.texture_size
            full_w = max(
                float(
                    CoreLabel(
                        font_size=widget.font_size, bold=widget.bold, font_name=widget.font_name
                    ).get_extents(line)[0]
                )
                for line in widget.text.split("\n")
            )
            wraps = widget.text_size[0] is not None
            cut = widget.shorten and full_w > widget.width
            if (
                cut
                or shown_w > widget.width + 1
                or shown_h > widget.height + 1
                or (not wraps and full_w > widget.width + 1)
            ):
                found.append(
                    f"{widget.text!r}: {shown_w:.0f}x{shown_h:.0f} px of label in a "
                    f"{widget.width:.0f}x{widget.height:.0f} px button"
                )
    return found


class RoleButton(FitButton):
    """A button with a :data:`ROLES` role (its style lives in ``kit.kv``)."""

    role = OptionProperty("primary", options=ROLES)


class PrimaryButton(RoleButton):
    pass


class SecondaryButton(RoleButton):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("role", "secondary")
        super().__init__(**kwargs)


class DestructiveButton(RoleButton):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("role", "destructive")
        super().__init__(**kwargs)


class CancelButton(RoleButton):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("role", "cancel")
        super().__init__(**kwargs)


class TapinToggle(ToggleButtonBehavior, FitButton):
    """One of a group of choices (issue categories, visitor types): the chosen one is
    marked by colour, weight and a frame, not by colour alone."""


class TapinScreen(Screen):
    """A screen that knows its scale: ``unit`` and ``portrait`` follow its size."""

    unit = NumericProperty(1.0)
    portrait = BooleanProperty(False)

    def on_size(self, *_: Any) -> None:
        self.unit, self.portrait = screen_unit(self.width, self.height)


Builder.load_file(str(Path(__file__).with_name("kit.kv")))

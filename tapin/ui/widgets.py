"""Small Kivy widgets drawn with canvas instructions, shared by the panel and the kiosk.

* :class:`StatusPanel`: a status colour, solid, or hatched (diagonal stripes) for a
  status that is not confirmed yet or not known;
* :class:`StatusIcon`: one symbol per status, distinct in shape (not only in colour);
* :class:`Timeline`: the day as a bar, its range and hour ticks given by the view model.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from tapin.ui.theme import PALETTE, rgba

__all__ = ["ICONS", "StatusBox", "StatusIcon", "StatusPanel", "Timeline", "hatch_texture"]

HATCH_TILE = 32
"""Pixels of one repeat of the stripes texture (half stripe, half gap)."""
ICONS = (
    "check",
    "clock",
    "checkin",
    "block",
    "hourglass",
    "cloud-off",
    "info",
    "error",
)


@lru_cache(maxsize=32)
def hatch_texture(first: str, second: str) -> Texture:
    """A repeating tile of diagonal stripes in two ``#RRGGBB`` colours (anti-aliased)."""
    a, b = rgba(first)[:3], rgba(second)[:3]
    size, samples = HATCH_TILE, 4
    data = bytearray()
    for y in range(size):
        for x in range(size):
            cover = 0
            for sy in range(samples):
                for sx in range(samples):
                    u = x + (sx + 0.5) / samples + y + (sy + 0.5) / samples
                    cover += (u % size) < size / 2
            t = cover / samples**2
            data += bytes(round(255 * (ca * t + cb * (1 - t))) for ca, cb in zip(a, b, strict=True))
            data += b"\xff"
    texture = Texture.create(size=(size, size), colorfmt="rgba")
    texture.blit_buffer(bytes(data), colorfmt="rgba", bufferfmt="ubyte")
    texture.wrap = "repeat"
    texture.mag_filter = "linear"
    return texture


def _hatch(widget: Widget, first: str, second: str, tile: float) -> None:
    """Stripes over ``widget`` (inside a ``with canvas`` block); ``tile`` in pixels."""
    texture = hatch_texture(first, second)
    u, v = widget.width / tile, widget.height / tile
    Color(1, 1, 1, 1)
    Rectangle(
        pos=widget.pos, size=widget.size, texture=texture, tex_coords=(0, 0, u, 0, u, v, 0, v)
    )


class StatusPanel(Widget):
    """A background: ``colour`` solid, or striped with ``hatch`` when ``hatched``.
    Empty ``colour``: nothing is drawn."""

    colour = StringProperty("")
    hatch = StringProperty("")
    hatched = BooleanProperty(False)
    unit = NumericProperty(1.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        redraw = Clock.create_trigger(self._draw_background)
        self.bind(colour=redraw, hatch=redraw, hatched=redraw, pos=redraw, size=redraw)

    def _draw_background(self, *_: Any) -> None:
        self.canvas.before.clear()
        if not self.colour:
            return
        with self.canvas.before:
            if self.hatched and self.hatch:
                _hatch(self, self.colour, self.hatch, 28 * self.unit)
            else:
                Color(*rgba(self.colour))
                Rectangle(pos=self.pos, size=self.size)


class StatusBox(StatusPanel, BoxLayout):
    """A :class:`~kivy.uix.boxlayout.BoxLayout` on a :class:`StatusPanel` background."""


class StatusIcon(Widget):
    """A status symbol in a circle, one of :data:`ICONS`: ``check`` (free), ``clock``
    (starting soon), ``checkin`` (an arrow through a door: waiting for check-in),
    ``block`` (a solid no-entry sign: busy), ``hourglass`` (not confirmed yet),
    ``cloud-off`` (a slashed circle: not known), ``info`` and ``error`` (notices).
    ``background`` is the colour under it (the cut-out of the no-entry bar)."""

    kind = StringProperty("check")
    colour = ListProperty([1, 1, 1, 1])
    background = ListProperty([0, 0, 0, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        redraw = Clock.create_trigger(self._draw)  # once per frame, after layout
        self.bind(kind=redraw, pos=redraw, size=redraw, colour=redraw, background=redraw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        side = min(self.width, self.height)
        cx, cy = self.center
        r = side / 2 - 2
        w = max(1.5, side / 12)
        with self.canvas:
            Color(*self.colour)
            if self.kind == "block":
                Ellipse(pos=(cx - r - w / 2, cy - r - w / 2), size=(2 * r + w, 2 * r + w))
                Color(*self.background)
                Rectangle(pos=(cx - r * 0.62, cy - r * 0.17), size=(r * 1.24, r * 0.34))
                return
            Line(circle=(cx, cy, r), width=w)
            draw = _GLYPHS.get(self.kind, _slash)
            draw(cx, cy, r, w)


def _check(cx: float, cy: float, r: float, w: float) -> None:
    points = [cx - r * 0.45, cy, cx - r * 0.1, cy - r * 0.38, cx + r * 0.5, cy + r * 0.35]
    Line(points=points, width=w, joint="round", cap="round")


def _clock(cx: float, cy: float, r: float, w: float) -> None:
    Line(points=[cx, cy, cx, cy + r * 0.6], width=w, cap="round")
    Line(points=[cx, cy, cx + r * 0.45, cy], width=w, cap="round")


def _checkin(cx: float, cy: float, r: float, w: float) -> None:
    # a door frame on the right, an arrow going into it
    door = [cx + r * 0.05, cy + r * 0.5, cx + r * 0.45, cy + r * 0.5]
    door += [cx + r * 0.45, cy - r * 0.5, cx + r * 0.05, cy - r * 0.5]
    Line(points=door, width=w, joint="round", cap="round")
    Line(points=[cx - r * 0.6, cy, cx + r * 0.15, cy], width=w, cap="round")
    head = [cx - r * 0.12, cy + r * 0.27, cx + r * 0.15, cy, cx - r * 0.12, cy - r * 0.27]
    Line(points=head, width=w, joint="round", cap="round")


def _hourglass(cx: float, cy: float, r: float, w: float) -> None:
    x, y = r * 0.38, r * 0.5
    points = [cx - x, cy + y, cx + x, cy + y, cx - x, cy - y, cx + x, cy - y]
    Line(points=[*points, cx - x, cy + y], width=w, joint="round", cap="round")


def _slash(cx: float, cy: float, r: float, w: float) -> None:
    Line(points=[cx - r * 0.7, cy - r * 0.7, cx + r * 0.7, cy + r * 0.7], width=w)


def _mark(flip: bool) -> Any:
    def draw(cx: float, cy: float, r: float, w: float) -> None:
        dot = w * 1.3
        bar = (cy - r * 0.15, cy + r * 0.5) if not flip else (cy - r * 0.5, cy + r * 0.12)
        dot_y = cy - r * 0.45 if not flip else cy + r * 0.45
        Line(points=[cx, bar[0], cx, bar[1]], width=w, cap="round")
        Ellipse(pos=(cx - dot, dot_y - dot), size=(2 * dot, 2 * dot))

    return draw


_GLYPHS = {
    "check": _check,
    "clock": _clock,
    "checkin": _checkin,
    "hourglass": _hourglass,
    "cloud-off": _slash,
    "error": _mark(flip=False),
    "info": _mark(flip=True),
}


class Timeline(Widget):
    """The day as a bar: past time grey, free time green, meetings in the busy hue
    (past ones dimmed, unconfirmed ones hatched), a marker at the current time that is
    never cut at either edge, and hour labels at their ``ticks``. ``unknown``: the day
    is not known (no calendar): a hatched grey track with ``message`` on it."""

    blocks = ObjectProperty(())
    """Objects with ``start``/``end`` fractions and ``past``/``pending`` flags."""
    labels = ObjectProperty(())
    ticks = ObjectProperty(())
    """Where each label sits, as a fraction (0..1) of the bar; evenly spread if empty."""
    now_position = NumericProperty(0.0)
    font_size = NumericProperty(14)
    unit = NumericProperty(1.0)
    unknown = BooleanProperty(False)
    message = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._labels: list[Label] = []
        self._used = 0
        redraw = Clock.create_trigger(self._draw)  # once per frame, after layout
        self.bind(blocks=redraw, labels=redraw, ticks=redraw, now_position=redraw)
        self.bind(pos=redraw, size=redraw, unknown=redraw, message=redraw, unit=redraw)

    def marker_x(self) -> float:
        """Where the now marker is drawn: at its time, kept whole inside the widget."""
        knob = 8 * self.unit
        x = self.x + self.now_position * self.width
        return min(max(x, self.x + knob), self.right - knob)

    def _draw(self, *_: Any) -> None:
        self._used = 0  # labels are reused from one drawing to the next, never rebuilt
        self.canvas.before.clear()
        u = self.unit
        label_h = self.font_size * 1.6
        track_y = self.y + label_h + 4 * u
        track_h = max(8.0, self.height - label_h - 30 * u)
        now_x = self.x + self.now_position * self.width
        with self.canvas.before:
            Color(*rgba(PALETTE["panel_bg"]))
            Rectangle(pos=self.pos, size=self.size)
            if self.unknown:
                track = Widget(pos=(self.x, track_y), size=(self.width, track_h))
                _hatch(track, PALETTE["timeline_past"], PALETTE["timeline_track"], 24 * u)
            else:
                Color(*rgba(PALETTE["timeline_past"]))
                Rectangle(pos=(self.x, track_y), size=(max(0.0, now_x - self.x), track_h))
                Color(*rgba(PALETTE["timeline_free"]))
                Rectangle(pos=(now_x, track_y), size=(max(0.0, self.right - now_x), track_h))
            for block in self.blocks:
                x0 = self.x + block.start * self.width
                x1 = self.x + block.end * self.width
                box = Widget(pos=(x0 + 1, track_y), size=(max(3.0, x1 - x0 - 2), track_h))
                if getattr(block, "pending", False):
                    _hatch(box, PALETTE["timeline_busy"], PALETTE["timeline_past"], 16 * u)
                    continue
                past = getattr(block, "past", False)
                Color(*rgba(PALETTE["timeline_busy_past" if past else "timeline_busy"]))
                Rectangle(pos=box.pos, size=box.size)
            if not self.unknown:
                Color(*rgba(PALETTE["now_marker"]))
                nx, knob = self.marker_x(), 8 * u
                bar = max(3.0, 3 * u)
                Rectangle(pos=(nx - bar / 2, track_y - 5 * u), size=(bar, track_h + 10 * u))
                top = min(track_y + track_h + 5 * u, self.top - 2 * knob)
                Ellipse(pos=(nx - knob, top), size=(2 * knob, 2 * knob))
        if self.unknown and self.message:
            self._add_label(
                self.message,
                (self.x, track_y),
                (self.width, track_h),
                rgba(PALETTE["ink"]),
                bold=True,
            )
        count = len(self.labels)
        ticks = list(self.ticks) or [i / (count - 1) if count > 1 else 0 for i in range(count)]
        width = self.font_size * 5
        for text, fraction in zip(self.labels, ticks, strict=False):
            centre = min(
                max(self.x + fraction * self.width, self.x + width / 2), self.right - width / 2
            )
            self._add_label(
                text, (centre - width / 2, self.y), (width, label_h), rgba(PALETTE["muted"])
            )
        for label in self._labels[self._used :]:
            self.remove_widget(label)
        del self._labels[self._used :]

    def _add_label(
        self,
        text: str,
        pos: tuple[float, float],
        size: tuple[float, float],
        colour: tuple[float, ...],
        *,
        bold: bool = False,
    ) -> None:
        if self._used < len(self._labels):
            label = self._labels[self._used]
        else:
            label = Label(size_hint=(None, None), halign="center", valign="middle")
            self.add_widget(label)
            self._labels.append(label)
        self._used += 1
        label.text, label.bold, label.color = text, bold, colour
        label.font_size = self.font_size * (1.15 if bold else 1.0)
        label.size, label.pos = size, pos
        label.text_size = size

"""Small Kivy widgets drawn with canvas instructions, shared by the panel and the kiosk.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from tapin.ui.theme import PALETTE, rgba

__all__ = ["StatusIcon", "Timeline"]


class StatusIcon(Widget):
    """A status symbol in a circle: ``check``, ``clock``, ``block`` or ``cloud-off``."""

    kind = StringProperty("check")
    colour = ListProperty([1, 1, 1, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        redraw = Clock.create_trigger(self._draw)  # once per frame, after layout
        self.bind(kind=redraw, pos=redraw, size=redraw, colour=redraw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        side = min(self.width, self.height)
        cx, cy = self.center
        r = side / 2 - 2
        w = max(2.0, side / 12)
        with self.canvas:
            Color(*self.colour)
            Line(circle=(cx, cy, r), width=w)
            if self.kind == "check":
                Line(
                    points=[
                        cx - r * 0.45,
                        cy,
                        cx - r * 0.1,
                        cy - r * 0.38,
                        cx + r * 0.5,
                        cy + r * 0.35,
                    ],
                    width=w,
                    joint="round",
                    cap="round",
                )
            elif self.kind == "clock":
                Line(points=[cx, cy, cx, cy + r * 0.6], width=w, cap="round")
                Line(points=[cx, cy, cx + r * 0.45, cy], width=w, cap="round")
            elif self.kind == "block":
                Line(points=[cx - r * 0.55, cy, cx + r * 0.55, cy], width=w * 1.4, cap="round")
            else:  # cloud-off: a slashed circle
                Line(points=[cx - r * 0.7, cy - r * 0.7, cx + r * 0.7, cy + r * 0.7], width=w)


class Timeline(Widget):
    """Today as a bar: meetings as blocks, a marker at the current time, hour labels."""

    blocks = ObjectProperty(())
    """Sequence of objects with ``start``/``end`` fractions and a ``private`` flag."""
    labels = ObjectProperty(())
    now_position = NumericProperty(0.0)
    font_size = NumericProperty(14)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._labels: list[Label] = []
        redraw = Clock.create_trigger(self._draw)  # once per frame, after layout
        self.bind(blocks=redraw, labels=redraw, now_position=redraw, pos=redraw, size=redraw)

    def _draw(self, *_: Any) -> None:
        for label in self._labels:
            self.remove_widget(label)
        self._labels = []
        self.canvas.before.clear()
        track_h = self.height * 0.34
        track_y = self.y + self.height * 0.48
        with self.canvas.before:
            Color(*rgba(PALETTE["timeline_track"]))
            Rectangle(pos=(self.x, track_y), size=(self.width, track_h))
            for block in self.blocks:
                Color(*rgba(PALETTE["timeline_meeting"], 0.55 if block.private else 0.9))
                x0 = self.x + block.start * self.width
                x1 = self.x + block.end * self.width
                Rectangle(pos=(x0 + 1, track_y), size=(max(2.0, x1 - x0 - 2), track_h))
            Color(*rgba(PALETTE["now_marker"]))
            nx = self.x + self.now_position * self.width
            Rectangle(pos=(nx - 2, track_y - 6), size=(4, track_h + 12))
            Ellipse(pos=(nx - 7, track_y + track_h + 4), size=(14, 14))
        count = len(self.labels)
        for index, text in enumerate(self.labels):
            fraction = index / (count - 1) if count > 1 else 0
            label = Label(
                text=text,
                font_size=self.font_size,
                color=rgba(PALETTE["muted"]),
                size_hint=(None, None),
                size=(self.font_size * 4, self.height * 0.4),
                halign="center",
                valign="middle",
            )
            label.text_size = label.size
            label.center_x = min(
                max(self.x + fraction * self.width, self.x + label.width / 2),
                self.right - label.width / 2,
            )
            label.y = self.y
            self.add_widget(label)
            self._labels.append(label)

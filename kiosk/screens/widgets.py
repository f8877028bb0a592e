"""The kiosk's own widgets: the signature pad, a picture made from PNG/JPEG bytes, the
offline banner.

:class:`SignaturePad` records finger strokes as points from 0 to 1 across and up (what
:func:`kiosk.signature.signature_png` draws). :class:`BytesPicture` shows a photo or a
badge: the bytes are decoded on a worker thread (Pillow) and only the texture is made
on the UI loop; :meth:`BytesPicture.clear` forgets the picture.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

from kivy.graphics import Color, Line
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty
from kivy.uix.widget import Widget

from kiosk.flow import Stroke

__all__ = ["BytesPicture", "SignaturePad", "decode_rgba"]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_PREVIEW = 1024
"""A picture is scaled down to at most this many pixels a side for the screen."""


def decode_rgba(data: bytes) -> tuple[tuple[int, int], bytes]:
    """``(size, rgba rows bottom-up)`` of a PNG or JPEG, for a Kivy texture. Blocks:
    call on a worker thread. Raises ``ValueError`` when the bytes are not a picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            picture = image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a picture: {type(exc).__name__}") from None
    picture.thumbnail((MAX_PREVIEW, MAX_PREVIEW))
    flipped = picture.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return flipped.size, flipped.tobytes()


class BytesPicture(Widget):
    """A picture from bytes, kept inside the widget with its aspect ratio."""

    texture = ObjectProperty(None, allownone=True)
    framed = BooleanProperty(True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown = 0

    async def show(self, data: bytes) -> bool:
        """Decode ``data`` off the loop and show it; ``False`` (logged) when it is not a
        picture or another picture was asked for meanwhile."""
        self._shown += 1
        mine = self._shown
        try:
            size, pixels = await asyncio.to_thread(decode_rgba, data)
        except ValueError as exc:
            log.warning("a picture could not be shown: %s", exc)
            return False
        if mine != self._shown:
            return False
        texture = Texture.create(size=size, colorfmt="rgba")
        texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
        self.texture = texture
        return True

    def clear(self) -> None:
        self._shown += 1
        self.texture = None

    def fitted(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` of the picture inside the widget."""
        if self.texture is None or not self.width or not self.height:
            return (self.x, self.y, 0.0, 0.0)
        tw, th = self.texture.size
        scale = min(self.width / tw, self.height / th)
        w, h = tw * scale, th * scale
        return (self.center_x - w / 2, self.center_y - h / 2, w, h)


class SignaturePad(Widget):
    """Draw with a finger: ``strokes`` are the lines drawn (0..1 across and up);
    ``drawn`` says whether there is a signature (a stroke of two points or more)."""

    unit = NumericProperty(1.0)
    drawn = BooleanProperty(False)
    __events__ = ("on_stroke",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strokes: list[Stroke] = []
        self._lines: list[Line] = []
        self.bind(size=self._redraw, pos=self._redraw)

    @property
    def aspect(self) -> float:
        return float(self.width / self.height) if self.height else 3.0

    def _point(self, touch: Any) -> tuple[float, float]:
        x = (touch.x - self.x) / max(1.0, self.width)
        y = (touch.y - self.y) / max(1.0, self.height)
        return (min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return bool(super().on_touch_down(touch))
        touch.grab(self)
        self.strokes.append([self._point(touch)])
        with self.canvas:
            Color(0.08, 0.09, 0.12, 1)
            self._lines.append(Line(points=[touch.x, touch.y], width=max(1.5, self.unit * 2)))
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self or not self.strokes:
            return bool(super().on_touch_move(touch))
        self.strokes[-1].append(self._point(touch))
        self._lines[-1].points += [touch.x, touch.y]
        self.drawn = any(len(s) > 1 for s in self.strokes)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return bool(super().on_touch_up(touch))
        touch.ungrab(self)
        self.drawn = any(len(s) > 1 for s in self.strokes)
        self.dispatch("on_stroke")
        return True

    def on_stroke(self) -> None:
        """A stroke ended (or the pad was cleared)."""

    def load(self, strokes: list[Stroke]) -> None:
        """Show strokes drawn earlier (back on the terms step)."""
        self.strokes = [list(s) for s in strokes]
        self.drawn = any(len(s) > 1 for s in self.strokes)
        self._redraw()

    def clear(self) -> None:
        self.strokes = []
        self.drawn = False
        self._redraw()

    def _redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        self._lines = []
        with self.canvas:
            Color(0.08, 0.09, 0.12, 1)
            for stroke in self.strokes:
                points: list[float] = []
                for x, y in stroke:
                    points += [self.x + x * self.width, self.y + y * self.height]
                self._lines.append(Line(points=points, width=max(1.5, self.unit * 2)))

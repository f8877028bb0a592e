"""A signature drawn with a finger, as a PNG: strokes in, black on white out. No Kivy.

The pad (:class:`kiosk.screens.widgets.SignaturePad`) records strokes as points from 0
to 1 across and up; :func:`signature_png` draws them with Pillow on a worker thread
when the visitor signs in (the PNG goes into the sealed event, nowhere else), at most
:data:`sync.events.MAX_SIGNATURE_BYTES`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from sync.events import MAX_SIGNATURE_BYTES

__all__ = ["MAX_POINTS", "MAX_STROKES", "SignatureError", "signature_png"]

MAX_STROKES = 200
MAX_POINTS = 8000
"""A scribble past these is cut: a signature never needs more."""


class SignatureError(ValueError):
    """No PNG: the strokes draw nothing, or the PNG would be too large."""


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _point(point: object) -> tuple[float, float] | None:
    """A point clamped into the pad, or ``None`` for one that is not two numbers."""
    if not isinstance(point, Sequence) or isinstance(point, str | bytes):
        return None
    pair: tuple[object, ...] = tuple(point)
    if len(pair) != 2:
        return None
    fx, fy = _number(pair[0]), _number(pair[1])
    if fx is None or fy is None:
        return None
    return min(max(fx, 0.0), 1.0), min(max(fy, 0.0), 1.0)


def signature_png(
    strokes: Sequence[Sequence[tuple[float, float]]], aspect: float = 3.0, *, width: int = 600
) -> bytes:
    """The strokes as a greyscale PNG ``width`` pixels wide (height from ``aspect``,
    width over height of the pad). Points outside 0..1 are clamped, points that are not
    two finite numbers left out; past :data:`MAX_STROKES` strokes or :data:`MAX_POINTS`
    points the rest is cut.

    Raises :class:`SignatureError` when nothing is drawn or no PNG under the limit can
    be made."""
    from PIL import Image, ImageDraw

    ratio = _number(aspect)
    ratio = 3.0 if ratio is None else min(max(ratio, 0.5), 8.0)
    kept: list[list[tuple[float, float]]] = []
    budget = MAX_POINTS
    for stroke in list(strokes)[:MAX_STROKES]:
        points = []
        for point in list(stroke)[:budget]:
            clamped = _point(point)
            if clamped is not None:
                points.append(clamped)
        budget -= len(points)
        if points:
            kept.append(points)
        if budget <= 0:
            break
    if not kept:
        raise SignatureError("the signature is empty")
    while width >= 150:
        height = max(40, round(width / ratio))
        image = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(image)
        pen = max(2, width // 150)
        for points in kept:
            xy = [(x * (width - 1), (1.0 - y) * (height - 1)) for x, y in points]
            if len(xy) == 1:
                (x, y) = xy[0]
                draw.ellipse((x - pen, y - pen, x + pen, y + pen), fill=0)
            else:
                draw.line(xy, fill=0, width=pen, joint="curve")
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        png = out.getvalue()
        if len(png) <= MAX_SIGNATURE_BYTES:
            return png
        width //= 2
    raise SignatureError("the signature does not fit the size limit")

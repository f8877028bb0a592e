"""A finger-drawn signature as a PNG (kiosk/signature.py): black where the finger went,
white elsewhere, within the contract's size; nothing drawn or garbage is refused."""

from __future__ import annotations

import io
import math
import random

import pytest
from PIL import Image

from kiosk.signature import MAX_POINTS, SignatureError, signature_png
from sync.events import MAX_SIGNATURE_BYTES

DIAGONAL = [[(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)]]


def _image(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(png))


def test_a_stroke_is_drawn_black_on_white_where_the_finger_went() -> None:
    image = _image(signature_png(DIAGONAL, aspect=3.0))
    assert image.size == (600, 200) and image.mode == "L"
    w, h = image.size
    # y counts up the pad, so the stroke runs from bottom left to top right
    assert image.getpixel((w // 2, h // 2)) == 0
    assert image.getpixel((int(0.8 * (w - 1)), int(0.2 * (h - 1)))) == 0
    assert image.getpixel((int(0.1 * (w - 1)), int(0.1 * (h - 1)))) == 255  # top left: blank
    assert image.getpixel((w - 1, h - 1)) == 255


def test_a_tap_is_a_dot() -> None:
    image = _image(signature_png([[(0.5, 0.5)]]))
    assert image.getpixel((300, 100)) == 0


def test_the_pads_shape_sets_the_height() -> None:
    assert _image(signature_png(DIAGONAL, aspect=2.0)).size == (600, 300)
    assert _image(signature_png(DIAGONAL, aspect=1000)).size == (600, 75)  # at most 8:1
    assert _image(signature_png(DIAGONAL, aspect=float("nan"))).size == (600, 200)


@pytest.mark.parametrize(
    "strokes",
    [[], [[]], [[], []], [[("x", "y")]], [[(math.nan, 0.5)]], [[(1, 2, 3)]], [["ab"]]],
)
def test_nothing_drawn_is_refused(strokes: list[list[object]]) -> None:
    with pytest.raises(SignatureError):
        signature_png(strokes)  # type: ignore[arg-type]


def test_points_off_the_pad_are_clamped_and_bad_ones_left_out() -> None:
    strokes = [[(-5.0, -5.0), (math.inf, 2.0), (math.nan, 0.3), (0.5, 0.5)]]
    image = _image(signature_png(strokes))
    assert image.getpixel((0, 199)) == 0  # (-5, -5) clamped to the bottom left corner


def test_a_wild_scribble_still_fits_the_contracts_limit() -> None:
    rng = random.Random(7)
    strokes = [[(rng.random(), rng.random()) for _ in range(2000)] for _ in range(300)]
    png = signature_png(strokes)
    assert len(png) <= MAX_SIGNATURE_BYTES
    assert sum(len(s) for s in strokes) > MAX_POINTS  # more than kept: the rest was cut
    assert _image(png).size[0] >= 150

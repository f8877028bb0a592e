"""Decoding a floor plan's image for the map (no window): the duotone, the size limits,
the blank tiles left out, and bytes that are not a PNG refused in words."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from tapin.ui.kivyenv import prepare_kivy


@pytest.fixture(scope="module")
def image_module(tmp_path_factory: pytest.TempPathFactory) -> object:
    prepare_kivy(tmp_path_factory.mktemp("kivy"), (800, 480), offscreen=True)
    from kiosk.screens import floormap_image

    return floormap_image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_plan_becomes_the_maps_duotone_with_only_its_inked_tiles(image_module: object) -> None:
    m = image_module
    plan = Image.new("RGBA", (200, 100), (255, 255, 255, 0))  # transparent: background
    ImageDraw.Draw(plan).rectangle((70, 40, 75, 45), fill=(0, 0, 0, 255))
    decoded = m.decode(png(plan))  # type: ignore[attr-defined]
    assert (decoded.width, decoded.height) == (200, 100)
    pixel = decoded.rgba[(42 * 200 + 72) * 4 : (42 * 200 + 72) * 4 + 3]
    assert tuple(pixel) == (0x4E, 0x57, 0x66)  # INK
    assert tuple(decoded.rgba[0:3]) == (0x22, 0x28, 0x33)  # the floor's colour
    assert decoded.tiles == ((64, 32, 32, 32),)  # one tile of 32 holds the ink


def test_large_plans_are_made_smaller_and_huge_ones_refused(image_module: object) -> None:
    m = image_module
    wide = Image.new("L", (5120, 1000), 255)
    decoded = m.decode(png(wide))  # type: ignore[attr-defined]
    assert (decoded.width, decoded.height) == (2560, 500)
    assert decoded.tiles == ()  # blank: nothing to draw over the floor's colour
    huge = Image.new("1", (8000, 6000), 1)  # 48 million pixels in a few kB
    with pytest.raises(ValueError, match="too large"):
        m.decode(png(huge))  # type: ignore[attr-defined]


def test_bytes_that_are_not_a_png_are_refused_in_words(image_module: object) -> None:
    m = image_module
    for data in (b"", b"\x89PNG\r\n\x1a\n" + b"x" * 40, png(Image.new("L", (4, 4)))[:30]):
        with pytest.raises(ValueError, match="not a readable PNG"):
            m.decode(data)  # type: ignore[attr-defined]
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ValueError, match="not a readable PNG"):
        m.decode(jpeg.getvalue())  # type: ignore[attr-defined]

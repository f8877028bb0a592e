"""A floor plan's background image for the floor map: decoded off the UI loop, drawn in
the map's own colours, kept in memory only.

Central's ``floors`` snapshot carries a floor's image as a PNG (at most 2 MiB, checked
by :mod:`tapin.device.staff_snapshots`). Here it becomes one texture:

* decoded by Pillow on a worker thread (a 2 MiB PNG takes tens of milliseconds: never on
  the UI loop); an image of more than :data:`MAX_PIXELS` pixels is refused before it
  is decoded (a small PNG can unpack to gigabytes);
* made smaller to at most :data:`MAX_SIDE` pixels a side and :data:`MAX_TEXELS` in all
  (a texture any GLES 2 GPU takes, at most 16 MB, and never much larger than it is drawn:
  there are no mipmaps, which would need a power-of-two texture);
* drawn as a duotone: the plan's light background in the floor's colour, its dark lines
  in :data:`INK` (transparent parts count as background). Whatever the plan's own
  colours, the desks and rooms drawn over it keep their contrast;
* drawn only where it has lines: the image is cut into :data:`TILE` pixel squares and
  the blank ones (nothing darker than :data:`BLANK`) are left out, as the map's clear
  already paints them in the floor's colour. Software GL pays for every pixel sampled
  from a texture; a plan's lines cover a small part of it.

The texture is made on the UI loop (GL), kept in a small cache by the PNG's SHA-256
(:data:`CACHED` images: switching floors does not decode again) and nowhere else: no
file is written. A PNG that cannot be decoded is logged once (one WARNING, no data) and
the map is drawn without it.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kivy.clock import Clock

from kiosk import floormap_model as fm
from tapin.ui.theme import rgba

__all__ = [
    "CACHED",
    "INK",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MAX_TEXELS",
    "Decoded",
    "FloorImage",
    "decode",
    "forget",
    "load",
]

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000
"""A PNG larger than this (width x height) is refused unread."""
MAX_SIDE = 2560
MAX_TEXELS = 4 * 1024 * 1024
CACHED = 4
TILE = 32
BLANK = 248
"""A grey level (0-255) at or above which a pixel is the plan's background."""
INK = "#4E5766"
"""The colour of the plan's lines: between the floor's fill and its walls, so desks,
rooms and the outline stay the strongest marks."""

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor-image")
_textures: OrderedDict[str, FloorImage | None] = OrderedDict()
"""SHA-256 -> the image, or ``None`` for a PNG that could not be decoded."""
_waiting: dict[str, list[Callable[[FloorImage | None], None]]] = {}


@dataclass(frozen=True, slots=True)
class Decoded:
    width: int
    height: int
    rgba: bytes
    """Rows top to bottom, four bytes a pixel."""
    tiles: tuple[tuple[int, int, int, int], ...]
    """The parts with lines, ``(x, y, w, h)`` in pixels from the top left: runs of
    :data:`TILE` squares along each row."""


@dataclass(frozen=True, slots=True)
class FloorImage:
    """A decoded floor image on the GPU: the texture and where it has lines."""

    texture: Any
    size: tuple[int, int]
    tiles: tuple[tuple[int, int, int, int], ...]


def _inked(grey: Any) -> tuple[tuple[int, int, int, int], ...]:
    """Runs of tiles holding a pixel darker than :data:`BLANK`."""
    ink = grey.point(lambda v: 255 if v < BLANK else 0)
    width, height = grey.size
    runs = []
    for y in range(0, height, TILE):
        h = min(TILE, height - y)
        start = None
        for x in range(0, width, TILE):
            if ink.crop((x, y, min(width, x + TILE), y + h)).getbbox() is not None:
                start = x if start is None else start
            elif start is not None:
                runs.append((start, y, x - start, h))
                start = None
        if start is not None:
            runs.append((start, y, width - start, h))
    return tuple(runs)


def _hex(colour: str) -> tuple[int, int, int]:
    r, g, b, _a = rgba(colour)
    return (round(r * 255), round(g * 255), round(b * 255))


def decode(png: bytes) -> Decoded:
    """The PNG as the map draws it (duotone, at most :data:`MAX_SIDE` a side and
    :data:`MAX_TEXELS` pixels). Raises ``ValueError`` with a short reason for bytes
    that are not a readable PNG or one larger than :data:`MAX_PIXELS`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                raise ValueError(f"a {width}x{height} image is too large to draw")
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba_image = image.convert("RGBA")
                flat = Image.new("RGBA", rgba_image.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba_image)
                grey = flat.convert("L")
            else:
                grey = image.convert("L")
    except (OSError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable PNG ({type(exc).__name__})") from None
    factor = max(width / MAX_SIDE, height / MAX_SIDE, (width * height / MAX_TEXELS) ** 0.5)
    if factor > 1:
        size = (max(1, int(width / factor)), max(1, int(height / factor)))
        grey = grey.resize(size, Image.Resampling.BOX)
    toned = ImageOps.colorize(grey, black=_hex(INK), white=_hex(fm.FLOOR_FILL)).convert("RGBA")
    return Decoded(toned.width, toned.height, toned.tobytes(), _inked(grey))


def _texture(decoded: Decoded) -> FloorImage:
    """The GPU's copy: row 0 (the image's top) at v = 0."""
    from kivy.graphics.texture import Texture

    texture = Texture.create(size=(decoded.width, decoded.height), colorfmt="rgba")
    texture.blit_buffer(decoded.rgba, colorfmt="rgba", bufferfmt="ubyte")
    texture.mag_filter = texture.min_filter = "linear"
    return FloorImage(texture, (decoded.width, decoded.height), decoded.tiles)


def _remember(digest: str, texture: FloorImage | None) -> None:
    _textures[digest] = texture
    _textures.move_to_end(digest)
    while len(_textures) > CACHED:
        _textures.popitem(last=False)


def _done(digest: str, floor: int, future: Future[Decoded]) -> None:
    """On the UI loop: the texture from a decoded image, handed to whoever waits."""
    try:
        texture: FloorImage | None = _texture(future.result())
    except ValueError as exc:
        log.warning("the image of floor %d is not drawn: %s", floor, exc)
        texture = None
    except Exception as exc:  # an unforeseen Pillow or GL failure: the map goes on
        log.warning("the image of floor %d is not drawn: %s", floor, type(exc).__name__)
        texture = None
    _remember(digest, texture)
    for callback in _waiting.pop(digest, []):
        callback(texture)


def load(png: bytes, floor: int, callback: Callable[[FloorImage | None], None]) -> str:
    """Ask for the :class:`FloorImage` of ``png`` (floor ``floor``, for the log):
    ``callback(image)`` runs on the UI loop, at once when the image is cached, else once
    it is decoded (``image`` is ``None`` when it could not be). Returns the PNG's
    SHA-256, the image's key. Call on the UI loop."""
    digest = hashlib.sha256(png).hexdigest()
    if digest in _textures:
        _textures.move_to_end(digest)
        callback(_textures[digest])
        return digest
    waiting = _waiting.setdefault(digest, [])
    waiting.append(callback)
    if len(waiting) == 1:
        future = _pool.submit(decode, png)

        def finished(done: Future[Decoded]) -> None:
            Clock.schedule_once(lambda _dt: _done(digest, floor, done), -1)

        future.add_done_callback(finished)
    return digest


def forget() -> None:
    """Drop every cached texture (tests)."""
    _textures.clear()

"""Screenshots of the Kivy window as PNG, written with the standard library.

Kivy's own ``Window.screenshot`` numbers its files; tours and tests need exact paths and
pixel access, so we read the framebuffer ourselves.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Frame",
    "exit_after",
    "grab",
    "png_bytes",
    "run_walk",
    "tour_report",
    "tour_shot",
    "write_png",
]


@dataclass(frozen=True, slots=True)
class Frame:
    width: int
    height: int
    rgba: bytes
    """Rows top to bottom, 4 bytes a pixel."""

    def pixel(self, x: int, y_from_top: int) -> tuple[int, int, int, int]:
        offset = (y_from_top * self.width + x) * 4
        r, g, b, a = self.rgba[offset : offset + 4]
        return (r, g, b, a)


def grab() -> Frame:
    """The window's current framebuffer. Call after a frame has been drawn."""
    from kivy.core.window import Window
    from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels

    width, height = (int(v) for v in Window.size)
    data = glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE)
    stride = width * 4
    rows = [data[i * stride : (i + 1) * stride] for i in range(height)]
    return Frame(width, height, b"".join(reversed(rows)))


def png_bytes(width: int, height: int, rgba: bytes) -> bytes:
    """An 8-bit RGB PNG (opaque) of ``rgba``: rows top to bottom, 4 bytes a pixel.

    Pure: no Kivy, no files. Raises ``ValueError`` when the sizes do not match.
    """
    stride = width * 4
    if width <= 0 or height <= 0 or len(rgba) != stride * height:
        raise ValueError(f"{len(rgba)} bytes are not {width}x{height} RGBA pixels")
    raw = bytearray()
    for y in range(height):
        row = rgba[y * stride : (y + 1) * stride]
        raw.append(0)  # filter: none
        rgb = bytearray(width * 3)
        rgb[0::3] = row[0::4]
        rgb[1::3] = row[1::4]
        rgb[2::3] = row[2::4]
        raw += rgb

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    return png + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b"")


def write_png(path: Path, frame: Frame) -> Path:
    """Write ``frame`` as an 8-bit RGB PNG (opaque) and return the path."""
    png = png_bytes(frame.width, frame.height, frame.rgba)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def tour_shot(path: Path, step: str, failed: list[str]) -> Path:
    """One state of a tour: the window as ``path``; ``step`` joins ``failed`` when any
    button label on screen is cut short (:func:`tapin.ui.kit.cut_labels`, logged)."""
    import logging

    from kivy.core.window import Window

    from tapin.ui.kit import cut_labels

    write_png(path, grab())
    for cut in cut_labels(Window.children):  # a label cut short is a defect
        logging.getLogger("tapin.tour").error(
            "tour step %s: a button label does not fit: %s", step, cut
        )
        failed.append(step)
    return path


async def run_walk(app: Any, walk: Callable[[], Awaitable[None]], queue: Any) -> None:
    """A tour: run ``app`` in this asyncio loop with ``walk`` (the steps, which stop the
    app at the end) started on its first frame; ``queue`` is closed afterwards."""
    import asyncio

    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: asyncio.ensure_future(walk()), 0)
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        await queue.close()


def tour_report(written: list[Path], failed: list[str]) -> int:
    """Print the PNGs a tour wrote; log the steps that failed. The exit status: 1 when
    any step failed (a cut label included), else 0."""
    import logging

    for path in written:
        print(path)
    if failed:
        logging.getLogger("tapin.tour").error(
            "tour steps failed: %s", ", ".join(sorted(set(failed)))
        )
    return 1 if failed else 0


def exit_after(app: object, seconds: float | None, screenshot: Path | None) -> None:
    """``--exit-after``: stop ``app`` (a Kivy App) ``seconds`` from now, writing the window
    to ``screenshot`` first when given. Nothing when ``seconds`` is ``None``."""
    if seconds is None:
        return
    from kivy.clock import Clock

    def finish(_dt: float) -> None:
        if screenshot is not None:
            import logging

            write_png(screenshot, grab())
            logging.getLogger("tapin.ui").info("screenshot written to %s", screenshot)
        app.stop()  # type: ignore[attr-defined]

    Clock.schedule_once(finish, seconds)

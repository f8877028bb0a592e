"""The visitor badge: a PNG for a label printer, drawn with Pillow in Tapin's font.

The label is Brother's DK-11202 stock, 62 mm x 100 mm die-cut (portrait, 732 x 1181
pixels at 300 dpi), the common visitor-badge label of the QL-700/800/810W/820NWB
printers (:data:`LABEL`); other stock is a :class:`LabelSize` away. From the top: the
visitor type (white on black, "Visitor" when none), the visitor's name (large), their
company, "Visiting <host>" (left out when they did not name one), the day in the site's
language, and the sign-out QR code (``TAPIN-OUT:<visitor_id>:<badge_token>``) with "Scan when you
leave". Only black and white (thermal printers have no grey).

Long texts shrink, then wrap at spaces, and break inside a word only at the smallest
size (or when one word is wider than the label at any size); no ink is ever drawn past
the margins (overhanging accents included). Only text that does not fit even at the
smallest sizes, or is longer than the event contract allows (:data:`sync.events.MAX_NAME`,
…), ends in "…"; up to those limits the name is never cut. Hostile text is cleaned first:
control and format characters (bidi overrides, zero-width joiners), unassigned and
private-use code points are removed, line breaks become spaces, stacked combining marks
are limited, and characters the font cannot draw (emoji, scripts beyond Latin, Greek and
Cyrillic) are left out rather than drawn as boxes.

A badge is personal data: :func:`render_badge` returns bytes in memory and writes
nothing. It takes about a tenth of a second: call it off the UI loop
(``await asyncio.to_thread(render_badge, badge)``). Texts and the date follow the
process's language (:func:`tapin.i18n.use`).
"""

from __future__ import annotations

import functools
import io
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date

import segno
from PIL import Image, ImageDraw, ImageFont

import assets
from sync.events import BADGE_QR_PREFIX, MAX_COMPANY, MAX_NAME
from tapin.hardware.qr import parse_badge
from tapin.i18n import _, format_day

__all__ = [
    "LABEL",
    "Badge",
    "BadgeDrawing",
    "LabelSize",
    "TextBlock",
    "badge_qr_text",
    "clean_text",
    "draw_badge",
    "new_badge_token",
    "render_badge",
]

BOLD = assets.path("fonts", "Inter-Bold.otf")
REGULAR = assets.path("fonts", "Inter-Regular.otf")
BLACK, WHITE = 0, 255
MAX_TYPE_NAME = 40
MAX_SITE_NAME = 100
_MAX_MARKS = 2
"""Combining marks kept on one letter (enough for Vietnamese; stops "Zalgo" text)."""
_DROP = {"Cc", "Cf", "Cs", "Co", "Cn"}


@dataclass(frozen=True, slots=True)
class LabelSize:
    """A label stock: its CUPS media name, size and the printer's resolution."""

    media: str
    width_mm: float
    height_mm: float
    dpi: int = 300

    @property
    def pixels(self) -> tuple[int, int]:
        return (round(self.width_mm / 25.4 * self.dpi), round(self.height_mm / 25.4 * self.dpi))


LABEL = LabelSize("62x100mm", 62, 100)
"""Brother DK-11202: 62 mm x 100 mm die-cut labels, 300 dpi (732 x 1181 pixels)."""


@dataclass(frozen=True, slots=True)
class Badge:
    """What a badge shows. ``host_name`` ``None``: the visitor did not name a host.
    ``visitor_type``: the type's name in the site's language (``"Guest"``, ``"Gäst"``).
    ``site_name``: printed small under the QR code's caption (may be empty)."""

    visitor_id: str
    badge_token: str
    name: str
    day: date
    company: str = ""
    host_name: str | None = None
    visitor_type: str = ""
    site_name: str = ""


def new_badge_token() -> str:
    """A fresh random badge token: 18 random bytes, URL-safe base64 (24 characters)."""
    return secrets.token_urlsafe(18)


def badge_qr_text(visitor_id: str, badge_token: str) -> str:
    """``TAPIN-OUT:<visitor_id>:<badge_token>``. Raises :class:`ValueError` when the
    kiosk's scanner would not accept it back (:func:`tapin.hardware.qr.parse_badge`)."""
    text = f"{BADGE_QR_PREFIX}{visitor_id}:{badge_token}"
    if parse_badge(text) is None:
        raise ValueError("the visitor id or badge token cannot go into a sign-out code")
    return text


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@functools.cache
def _missing_glyph(path: str) -> bytes:
    return bytes(_font(path, 24).getmask("\U0010fffd"))


@functools.lru_cache(maxsize=4096)
def _drawable(path: str, char: str) -> bool:
    """Whether the font has a glyph for ``char`` (not its "missing" box)."""
    return char.isspace() or bytes(_font(path, 24).getmask(char)) != _missing_glyph(path)


def clean_text(text: object, limit: int, *, font: str = str(REGULAR)) -> str:
    """``text`` made safe to draw: one line, no control or format characters (bidi
    overrides included), at most two combining marks per letter, only characters
    ``font`` can draw, spaces collapsed, at most ``limit`` characters (else it ends in
    "…"). Never raises."""
    raw = unicodedata.normalize("NFC", str(text)[: limit * 4 + 16])
    kept: list[str] = []
    marks = 0
    for char in raw:
        category = unicodedata.category(char)
        if char.isspace() or category.startswith("Z"):
            char, category = " ", "Zs"
        elif category in _DROP:
            continue
        if category in ("Mn", "Me"):
            marks += 1
            if marks > _MAX_MARKS or not kept or kept[-1] == " ":
                continue
        else:
            marks = 0
        if _drawable(font, char):
            kept.append(char)
    cleaned = " ".join("".join(kept).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    """The pixels ``text`` takes on a line: its advance, widened by any ink that
    overhangs either end (an accent left of an "I", a swash past the last letter)."""
    if not text:
        return 0.0
    left, _top, right, _bottom = font.getbbox(text, anchor="ls")
    return max(font.getlength(text), right) - min(0, left)


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent + round(font.size * 0.08)


def _break_word(word: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    pieces, piece = [], ""
    for char in word:
        if piece and _width(font, piece + char) > width:
            pieces.append(piece)
            piece = char
        else:
            piece += char
    return [*pieces, piece] if piece else pieces


def _wrap(
    text: str, font: ImageFont.FreeTypeFont, width: int, *, break_words: bool
) -> list[str] | None:
    """Lines of at most ``width`` pixels; ``None`` when a word is wider and
    ``break_words`` is false."""
    lines = _wrapped(text, font, width, break_words)
    return None if lines is None else list(lines)


@functools.lru_cache(maxsize=512)
def _wrapped(
    text: str, font: ImageFont.FreeTypeFont, width: int, break_words: bool
) -> tuple[str, ...] | None:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if _width(font, word) > width:
            if not break_words:
                return None
            pieces = _break_word(word, font, width)
            if line:
                lines.append(line)
            lines.extend(pieces[:-1])
            line = pieces[-1]
            continue
        candidate = f"{line} {word}" if line else word
        if _width(font, candidate) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return tuple(lines)


def _fit(
    text: str, path: str, width: int, height: int, sizes: tuple[int, int], max_lines: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font size (``sizes``: largest, smallest) at which ``text`` fits in
    the box; at the smallest, words break and the last line that fits ends in "…"."""
    largest, smallest = sizes
    for size in range(largest, smallest - 1, -2):
        font = _font(path, size)
        lines = _wrap(text, font, width, break_words=False)
        if lines is not None and len(lines) <= min(max_lines, height // _line_height(font)):
            return font, lines
    font = _font(path, smallest)
    lines = _wrap(text, font, width, break_words=True) or []
    room = max(1, min(max_lines, height // _line_height(font)))
    if len(lines) > room:
        last = lines[room - 1]
        while last and _width(font, last + "…") > width:
            last = last[:-1]
        lines = [*lines[: room - 1], last.rstrip() + "…"]
    return font, lines


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    x: int,
    y: int,
    *,
    fill: int = BLACK,
) -> int:
    """Draw ``lines`` from ``y`` down; returns the y below the last line."""
    step = _line_height(font)
    ascent = font.getmetrics()[0] + round(font.size * 0.06)
    for line in lines:
        overhang = min(0, font.getbbox(line, anchor="ls")[0]) if line else 0
        draw.text((x - overhang, y + ascent), line, font=font, fill=fill, anchor="ls")
        y += step
    return y


def _qr_image(text: str, side: int) -> tuple[Image.Image, int]:
    """The QR code (error correction M) in whole pixels a module, at most ``side``
    pixels, and the pixels a module."""
    code = segno.make(text, error="m", micro=False)
    matrix = list(code.matrix)
    modules = len(matrix)
    scale = max(1, side // modules)
    image = Image.new("L", (modules, modules), WHITE)
    image.putdata([BLACK if dark else WHITE for row in matrix for dark in row])
    return image.resize((modules * scale, modules * scale), Image.Resampling.NEAREST), scale


@dataclass(frozen=True, slots=True)
class _Block:
    role: str
    text: str
    path: str
    largest: int
    smallest: int
    gap: int
    main: bool = False
    """The name: it shrinks after the others did, and takes the "…" if need be."""


_SCHEDULE = (
    *((1.0, round(1 - step * 0.05, 2)) for step in range(7)),
    *((round(1 - step * 0.05, 2), round(0.7 * (1 - step * 0.05), 3)) for step in range(1, 17)),
)
"""Scale factors (the name's, the others') tried in turn: the others shrink first, to
70 %, then all shrink together, so the name stays the largest text."""


def _widest(block: _Block, width: int) -> tuple[int, bool]:
    """The largest size at which each of the block's words fits on a line, and whether
    a word is too wide even at the smallest size (it then breaks at any size)."""
    words = block.text.split(" ")
    for size in range(block.largest, block.smallest - 1, -2):
        font = _font(block.path, size)
        if all(_width(font, word) <= width for word in words):
            return size, False
    return block.largest, True


_Laid = tuple[ImageFont.FreeTypeFont, list[str], int]


def _height(laid: list[_Laid]) -> int:
    return sum(_line_height(font) * len(lines) + gap for font, lines, gap in laid)


def _stack(blocks: list[_Block], width: int, room: int) -> list[_Laid]:
    """Font sizes and lines for ``blocks`` stacked in ``room`` pixels: the largest sizes
    that fit, the name kept larger than the rest; words break only at the smallest
    sizes (or when one is too wide for a line at any size), and only text beyond what
    fits there ends in "…"."""
    widest = [_widest(block, width) for block in blocks]
    tried: set[tuple[int, ...]] = set()
    for main_step, other_step in _SCHEDULE:
        sizes = tuple(
            max(b.smallest, round(cap * (main_step if b.main else other_step)))
            for b, (cap, _breaks) in zip(blocks, widest, strict=True)
        )
        if sizes in tried:
            continue
        tried.add(sizes)
        laid: list[_Laid] = []
        for block, size, (_cap, breaks) in zip(blocks, sizes, widest, strict=True):
            font = _font(block.path, size)
            lines = _wrap(block.text, font, width, break_words=breaks or size == block.smallest)
            if lines is None:
                break
            laid.append((font, lines, block.gap))
        else:
            if _height(laid) <= room:
                return laid
    return _cut(blocks, width, room)


def _cut(blocks: list[_Block], width: int, room: int) -> list[_Laid]:
    """Everything at its smallest size, words broken, and, while that is too tall, the
    last line of the block with the most lines dropped (the name's last of all, one line
    each kept); a block that lost lines ends in "…"."""
    laid = [
        (font, _wrap(b.text, font, width, break_words=True) or [""], b.gap)
        for b in blocks
        for font in (_font(b.path, b.smallest),)
    ]
    cut = [False] * len(laid)
    while _height(laid) > room:
        candidates = [i for i, (_, lines, _) in enumerate(laid) if len(lines) > 1]
        if not candidates:
            break
        others = [i for i in candidates if not blocks[i].main] or candidates
        index = max(others, key=lambda i: _line_height(laid[i][0]) * len(laid[i][1]))
        font, lines, gap = laid[index]
        laid[index] = (font, lines[:-1], gap)
        cut[index] = True
    for index, was_cut in enumerate(cut):
        if was_cut:
            font, lines, gap = laid[index]
            last = lines[-1]
            while last and _width(font, last + "…") > width:
                last = last[:-1]
            laid[index] = (font, [*lines[:-1], last.rstrip() + "…"], gap)
    return laid


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One text on the badge: its lines, font size and box (left, top, right, bottom)."""

    lines: tuple[str, ...]
    size: int
    box: tuple[int, int, int, int]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass(frozen=True, slots=True)
class BadgeDrawing:
    """A drawn badge: the image, and each text by role (``type``, ``name``, ``company``,
    ``visiting``, ``day``, ``caption``, ``site``; empty ones left out), and the QR
    code's box."""

    image: Image.Image
    texts: dict[str, TextBlock]
    qr_box: tuple[int, int, int, int]


def draw_badge(badge: Badge, *, label: LabelSize = LABEL) -> BadgeDrawing:
    """The badge drawn (see :func:`render_badge`), with where each text went: for tests
    and on-screen previews. Raises :class:`ValueError` like :func:`render_badge`."""
    qr_text = badge_qr_text(badge.visitor_id, badge.badge_token)
    width, height = label.pixels
    if height < width * 1.4:
        raise ValueError(f"the badge layout needs a portrait label, not {label.media}")
    unit = width / 732  # the layout is drawn for 62 mm at 300 dpi, and scales
    margin = round(40 * unit)
    inner = width - 2 * margin
    image = Image.new("L", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    texts: dict[str, TextBlock] = {}

    def px(value: float) -> int:
        return max(1, round(value * unit))

    def put(
        role: str, font: ImageFont.FreeTypeFont, lines: list[str], x: int, y: int, **kw: int
    ) -> int:
        bottom = _draw_lines(draw, lines, font, x, y, **kw)
        texts[role] = TextBlock(tuple(lines), round(font.size), (x, y, width - margin, bottom))
        return bottom

    # the visitor type, white on a black band
    kind = clean_text(badge.visitor_type, MAX_TYPE_NAME, font=str(BOLD)) or _("Visitor")
    band = px(150)
    draw.rectangle((0, 0, width, band), fill=BLACK)
    font, lines = _fit(kind.upper(), str(BOLD), inner, band - px(30), (px(84), px(40)), 1)
    put("type", font, lines, margin, (band - _line_height(font) * len(lines)) // 2, fill=WHITE)

    # the QR code and its caption at the bottom
    qr, module = _qr_image(qr_text, px(330))
    qr_left, qr_top = px(28), height - margin - qr.height
    image.paste(qr, (qr_left, qr_top))  # the label's edge is the code's quiet zone there
    text_x = qr_left + qr.width + max(px(16), 3 * module)  # text keeps 3 modules away
    text_width = width - margin - text_x
    caption = _("Scan when you leave")
    font, lines = _fit(caption, str(BOLD), text_width, px(150), (px(40), px(24)), 3)
    y = put("caption", font, lines, text_x, qr_top + px(40))
    site = clean_text(badge.site_name, MAX_SITE_NAME)
    if site:
        font, lines = _fit(site, str(REGULAR), text_width, px(110), (px(30), px(20)), 3)
        put("site", font, lines, text_x, y + px(14))

    # name, company, host and day, top down between the band and the code
    company = clean_text(badge.company, MAX_COMPANY)
    host = clean_text(badge.host_name, MAX_NAME) if badge.host_name is not None else ""
    visiting = _("Visiting {host}").format(host=host) if host else ""  # the band says "Visitor"
    name = clean_text(badge.name, MAX_NAME, font=str(BOLD)) or "–"
    blocks = [
        _Block("name", name, str(BOLD), px(120), px(30), px(12), main=True),
        _Block("company", company, str(REGULAR), px(56), px(24), px(16)),
        _Block("visiting", visiting, str(REGULAR), px(44), px(24), px(4)),
        _Block("day", format_day(badge.day), str(BOLD), px(44), px(24), 0),
    ]
    y = band + px(30)
    shown = [b for b in blocks if b.text]
    laid = _stack(shown, inner, qr_top - max(px(20), 3 * module) - y)
    for block, (font, lines, gap) in zip(shown, laid, strict=True):
        y = put(block.role, font, lines, margin, y) + gap
    _wrapped.cache_clear()  # the lines hold names: keep none once the badge is drawn

    crisp = image.point(lambda level: WHITE if level >= 128 else BLACK)
    return BadgeDrawing(crisp, texts, (qr_left, qr_top, qr_left + qr.width, qr_top + qr.height))


def render_badge(badge: Badge, *, label: LabelSize = LABEL) -> bytes:
    """The badge as PNG bytes (8-bit grey, only black and white, ``label.dpi`` recorded).

    Raises :class:`ValueError` when the visitor id or badge token cannot go into a
    sign-out code (see :func:`badge_qr_text`), or the label is not portrait; any text
    renders."""
    out = io.BytesIO()
    image = draw_badge(badge, label=label).image
    image.save(out, format="PNG", dpi=(label.dpi, label.dpi), optimize=True)
    return out.getvalue()

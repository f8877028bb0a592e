"""The kiosk's floor map without Kivy: a floor's geometry, the view transform, hit
testing and how each state looks.

Floor units are the contract's (``floors`` snapshot): origin top left, x right, y down.
The view maps a floor point to widget pixels measured from the widget's top left:
``px = x + fx * scale``, ``py = y + fy * scale``. :func:`clamp` keeps the floor in view:
never smaller than "the whole floor fits", never more than :data:`MAX_ZOOM` times that,
centred when it is smaller than the widget, and otherwise with its edges at or beyond
the widget's edges.

Colour-blind safety: every desk state differs by more than hue (:data:`DESK_STYLES`):
free is plain, booked carries a dot, yours a thick outline, unavailable a cross; the
fills also differ in luminance. A busy room is hatched, a free one is not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tapin.ui.theme import PALETTE, STATE_CARDS

__all__ = [
    "DESK_STATES",
    "DESK_STYLES",
    "MAX_ZOOM",
    "ROOM_STATES",
    "ROOM_STYLES",
    "Desk",
    "DeskStyle",
    "Floor",
    "Room",
    "RoomStyle",
    "Shapes",
    "View",
    "centre_on",
    "clamp",
    "corners",
    "desk_style",
    "fit",
    "fit_label",
    "floor_from_dict",
    "hatch_lines",
    "hit",
    "pan",
    "room_style",
    "zoom_about",
]

MAX_ZOOM = 6.0
"""How far in one may zoom, relative to the whole floor fitting the view."""
MARGIN = 12.0
"""Pixels around the floor when it is all in view: its walls are never at the edge."""
DESK_STATES = ("free", "booked", "yours", "unavailable")
ROOM_STATES = ("free", "busy", "unknown")


@dataclass(frozen=True, slots=True)
class Desk:
    id: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    """Degrees, clockwise on screen, about the desk's centre."""

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


@dataclass(frozen=True, slots=True)
class Floor:
    floor: int
    name: str
    width: float
    height: float
    outline: tuple[tuple[float, float], ...]
    desks: tuple[Desk, ...]
    rooms: tuple[Room, ...]

    def find(self, item_id: str) -> Desk | Room | None:
        for desk in self.desks:
            if desk.id == item_id:
                return desk
        for room in self.rooms:
            if room.id == item_id:
                return room
        return None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a number")
    return float(value)


def _box(raw: Any, what: str) -> tuple[str, float, float, float, float]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise ValueError(f"a {what} has no id")
    x, y = _number(raw.get("x"), f"{what} x"), _number(raw.get("y"), f"{what} y")
    w, h = _number(raw.get("w"), f"{what} w"), _number(raw.get("h"), f"{what} h")
    if w <= 0 or h <= 0:
        raise ValueError(f"a {what} has no size")
    return (raw["id"], x, y, w, h)


def floor_from_dict(raw: Mapping[str, Any]) -> Floor:
    """One element of the ``floors`` snapshot's ``floors`` list as a :class:`Floor`.

    Raises ``ValueError`` when a field is missing or of the wrong type, or a size is not
    positive. ``image`` is not read here. A missing ``outline`` is the floor's rectangle.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("a floor is not an object")
    width = _number(raw.get("width"), "width")
    height = _number(raw.get("height"), "height")
    if width <= 0 or height <= 0:
        raise ValueError("a floor has no size")
    number = raw.get("floor", 0)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError("floor is not a whole number")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ValueError("name is not text")
    outline_raw = raw.get("outline") or [[0, 0], [width, 0], [width, height], [0, height]]
    if not isinstance(outline_raw, list) or len(outline_raw) < 3:
        raise ValueError("outline is not a polygon")
    outline = []
    for point in outline_raw:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError("an outline point is not [x, y]")
        outline.append((_number(point[0], "outline x"), _number(point[1], "outline y")))
    desks = []
    for item in _items(raw.get("desks", []), "desks"):
        rotation = _number(item.get("rotation", 0) or 0, "desk rotation")
        desks.append(Desk(*_box(item, "desk"), rotation=rotation))
    rooms = [Room(*_box(item, "room")) for item in _items(raw.get("rooms", []), "rooms")]
    return Floor(number, name, width, height, tuple(outline), tuple(desks), tuple(rooms))


def _items(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def corners(item: Desk | Room) -> tuple[tuple[float, float], ...]:
    """The four corners (floor units) of a desk, rotated about its centre, or a room:
    top left, top right, bottom right, bottom left before rotation."""
    x, y, w, h = item.x, item.y, item.w, item.h
    points = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    angle = item.rotation if isinstance(item, Desk) else 0.0
    if not angle:
        return points
    cx, cy = item.centre
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return tuple(
        (cx + (px - cx) * c - (py - cy) * s, cy + (px - cx) * s + (py - cy) * c)
        for px, py in points
    )


def _distance(item: Desk | Room, fx: float, fy: float) -> float:
    """How far (floor units) a point is outside the item's rectangle; 0 inside."""
    cx, cy = item.centre
    dx, dy = fx - cx, fy - cy
    angle = item.rotation if isinstance(item, Desk) else 0.0
    if angle:
        c, s = math.cos(math.radians(-angle)), math.sin(math.radians(-angle))
        dx, dy = dx * c - dy * s, dx * s + dy * c
    ox = max(0.0, abs(dx) - item.w / 2)
    oy = max(0.0, abs(dy) - item.h / 2)
    return math.hypot(ox, oy)


def hit(floor: Floor, fx: float, fy: float, slop: float = 0.0) -> tuple[str, str] | None:
    """``("desk", id)`` or ``("room", id)`` at a floor point, or ``None``.

    A desk within ``slop`` floor units (a finger is wide) wins over any room; the
    nearest desk wins among several. A room must contain the point."""
    best: tuple[float, str] | None = None
    for desk in floor.desks:
        gap = _distance(desk, fx, fy)
        if gap <= slop and (best is None or gap < best[0]):
            best = (gap, desk.id)
    if best is not None:
        return ("desk", best[1])
    for room in floor.rooms:
        if _distance(room, fx, fy) == 0.0:
            return ("room", room.id)
    return None


@dataclass(frozen=True, slots=True)
class View:
    scale: float
    x: float
    y: float
    """Widget pixels (from the widget's top left) of the floor's origin."""

    def to_view(self, fx: float, fy: float) -> tuple[float, float]:
        return (self.x + fx * self.scale, self.y + fy * self.scale)

    def to_floor(self, px: float, py: float) -> tuple[float, float]:
        return ((px - self.x) / self.scale, (py - self.y) / self.scale)


def fit(floor: Floor, width: float, height: float) -> View:
    """The view showing the whole floor, centred, :data:`MARGIN` pixels (at least)
    from the edges. Raises ``ValueError`` for an empty widget."""
    if width <= 0 or height <= 0:
        raise ValueError("the view has no size")
    m = 2 * MARGIN
    scale = max(1e-6, min((width - m) / floor.width, (height - m) / floor.height))
    return View(scale, (width - floor.width * scale) / 2, (height - floor.height * scale) / 2)


def clamp(view: View, floor: Floor, width: float, height: float) -> View:
    """``view`` kept within bounds: zoom between :func:`fit` and :data:`MAX_ZOOM` times
    it; along each axis the floor is centred when it fits the widget (with a
    :data:`MARGIN` each side), else the floor's edges are at most :data:`MARGIN` pixels
    inside the widget's (the floor never leaves the view). Raises ``ValueError`` for an
    empty widget."""
    least = fit(floor, width, height).scale
    scale = min(max(view.scale, least), least * MAX_ZOOM)

    def axis(offset: float, size: float, span: float) -> float:
        drawn = span * scale
        if drawn + 2 * MARGIN <= size:
            return (size - drawn) / 2
        return min(MARGIN, max(size - drawn - MARGIN, offset))

    return View(scale, axis(view.x, width, floor.width), axis(view.y, height, floor.height))


def pan(view: View, dx: float, dy: float) -> View:
    """The view moved by ``(dx, dy)`` pixels (right, down); not clamped."""
    return View(view.scale, view.x + dx, view.y + dy)


def zoom_about(view: View, factor: float, px: float, py: float) -> View:
    """The view zoomed by ``factor`` keeping the floor point under ``(px, py)`` there;
    not clamped. Raises ``ValueError`` for a factor that is not positive."""
    if not factor > 0:
        raise ValueError("a zoom factor must be positive")
    scale = view.scale * factor
    return View(scale, px - (px - view.x) * factor, py - (py - view.y) * factor)


def centre_on(view: View, fx: float, fy: float, width: float, height: float) -> View:
    """The view at its scale with the floor point ``(fx, fy)`` in the widget's centre;
    not clamped."""
    return View(view.scale, width / 2 - fx * view.scale, height / 2 - fy * view.scale)


def hatch_lines(
    x: float, y: float, w: float, h: float, spacing: float
) -> list[tuple[float, float, float, float]]:
    """Diagonal lines (``x1, y1, x2, y2``, at 45 degrees, up to the right when y is
    down) filling the rectangle, ``spacing`` apart along x. Raises ``ValueError`` for a
    spacing that is not positive."""
    if not spacing > 0:
        raise ValueError("spacing must be positive")
    lines = []
    k = spacing
    # the line x' + y' = k (local coordinates), clipped to 0..w, 0..h
    while k < w + h:
        x1, y1 = (k, 0.0) if k <= w else (w, k - w)
        x2, y2 = (0.0, k) if k <= h else (k - h, h)
        lines.append((x + x1, y + y1, x + x2, y + y2))
        k += spacing
    return lines


@dataclass(frozen=True, slots=True)
class DeskStyle:
    fill: str
    ink: str
    """The label's and the mark's colour on the fill."""
    mark: str
    """``""`` (none), ``"dot"``, ``"outline"`` or ``"cross"``."""


@dataclass(frozen=True, slots=True)
class RoomStyle:
    fill: str
    border: str
    ink: str
    hatched: bool


DESK_STYLES: dict[str, DeskStyle] = {
    "free": DeskStyle(PALETTE["free"], PALETTE["ink"], ""),
    "booked": DeskStyle(PALETTE["busy"], PALETTE["ink"], "dot"),
    "yours": DeskStyle(PALETTE["starting_soon"], PALETTE["ink_dark"], "outline"),
    "unavailable": DeskStyle(PALETTE["panel_bg"], PALETTE["muted"], "cross"),
}
ROOM_STYLES: dict[str, RoomStyle] = {
    "free": RoomStyle(STATE_CARDS["free"], PALETTE["free"], PALETTE["ink"], False),
    "busy": RoomStyle(STATE_CARDS["busy"], PALETTE["timeline_busy"], PALETTE["ink"], True),
    "unknown": RoomStyle(PALETTE["timeline_past"], PALETTE["muted"], PALETTE["ink_dim"], False),
}
HIGHLIGHT = PALETTE["now_marker"]
OUTLINE = PALETTE["ink"]
WALLS = PALETTE["muted"]
FLOOR_FILL = PALETTE["card_bg"]
BACKGROUND = PALETTE["panel_bg"]


def desk_style(state: str | None) -> DeskStyle:
    """How a desk in ``state`` looks; anything not in :data:`DESK_STATES` (``None``
    included: a desk nothing is known about) looks unavailable, never free."""
    return DESK_STYLES.get(state or "", DESK_STYLES["unavailable"])


def room_style(state: str | None) -> RoomStyle:
    """How a room in ``state`` looks; anything but free/busy looks unknown."""
    return ROOM_STYLES.get(state or "", ROOM_STYLES["unknown"])


def states_of(ids: Iterable[str], states: Mapping[str, str]) -> dict[str, str]:
    """Each id's state as given, ``"unavailable"`` when missing or not a desk state."""
    return {i: s if (s := states.get(i, "")) in DESK_STATES else "unavailable" for i in ids}


def fit_label(
    text_w: float, text_h: float, box: tuple[float, float, float, float], height: float
) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of a label of ``text_w`` x ``text_h`` (any unit: only the
    aspect counts) centred in ``box`` (``x, y, w, h``), at most ``height`` high and 90%
    of the box wide or high. Raises ``ValueError`` for an empty text size."""
    if text_w <= 0 or text_h <= 0:
        raise ValueError("a label has no size")
    x, y, w, h = box
    lh = min(height, h * 0.9)
    lw = lh * text_w / text_h
    if lw > w * 0.9:
        lw, lh = w * 0.9, w * 0.9 * text_h / text_w
    return (x + (w - lw) / 2, y + (h - lh) / 2, lw, lh)


MAX_VERTICES = 65000
"""Kivy's meshes index vertices with 16 bits: a layer is split into meshes below this."""


class Shapes:
    """Triangles grouped by (layer, colour) to draw a whole floor with a few meshes.

    Points are floor units (y down); vertices come out with y flipped to
    ``flip - y`` (Kivy's y up) as ``x, y, u, v`` (u, v unused, 0). :meth:`meshes` gives
    ``(colour, vertices, indices)`` in layer order, each below :data:`MAX_VERTICES`.
    """

    def __init__(self, flip: float) -> None:
        self.flip = flip
        self._layers: dict[tuple[int, str], list[tuple[list[float], list[int]]]] = {}

    def _room(self, layer: int, colour: str, count: int) -> tuple[list[float], list[int], int]:
        meshes = self._layers.setdefault((layer, colour), [([], [])])
        vertices, indices = meshes[-1]
        if len(vertices) // 4 + count > MAX_VERTICES:
            meshes.append(([], []))
            vertices, indices = meshes[-1]
        return vertices, indices, len(vertices) // 4

    def polygon(self, layer: int, colour: str, points: Iterable[tuple[float, float]]) -> None:
        """A convex polygon, filled."""
        corners = list(points)
        vertices, indices, base = self._room(layer, colour, len(corners))
        for x, y in corners:
            vertices += [x, self.flip - y, 0.0, 0.0]
        for i in range(1, len(corners) - 1):
            indices += [base, base + i, base + i + 1]

    def segment(
        self,
        layer: int,
        colour: str,
        a: tuple[float, float],
        b: tuple[float, float],
        width: float,
    ) -> None:
        """A straight line ``width`` wide with square ends (half the width past each
        point, so the corners of an outline are filled)."""
        (x1, y1), (x2, y2) = a, b
        length = math.hypot(x2 - x1, y2 - y1)
        if length == 0:
            return
        ux, uy = (x2 - x1) / length * width / 2, (y2 - y1) / length * width / 2
        nx, ny = -uy, ux
        self.polygon(
            layer,
            colour,
            (
                (x1 - ux + nx, y1 - uy + ny),
                (x2 + ux + nx, y2 + uy + ny),
                (x2 + ux - nx, y2 + uy - ny),
                (x1 - ux - nx, y1 - uy - ny),
            ),
        )

    def outline(
        self, layer: int, colour: str, points: Iterable[tuple[float, float]], width: float
    ) -> None:
        """A closed polygon's edges."""
        corners = list(points)
        for i, point in enumerate(corners):
            self.segment(layer, colour, point, corners[(i + 1) % len(corners)], width)

    def dot(self, layer: int, colour: str, centre: tuple[float, float], radius: float) -> None:
        """A filled circle (12 sides: round at a desk's size, 10 triangles)."""
        cx, cy = centre
        self.polygon(
            layer,
            colour,
            (
                (cx + radius * math.cos(a), cy + radius * math.sin(a))
                for a in (i * math.pi / 6 for i in range(12))
            ),
        )

    def meshes(self) -> list[tuple[str, list[float], list[int]]]:
        return [
            (colour, vertices, indices)
            for (_layer, colour), meshes in sorted(self._layers.items())
            for vertices, indices in meshes
            if indices
        ]

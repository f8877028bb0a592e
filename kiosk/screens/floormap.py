"""The kiosk's floor map: one floor plan, every desk free / booked / yours / unavailable
and every room free / busy; pans and zooms by touch; a tap on a desk or room dispatches
``on_pick(kind, item_id)``. The public API is described in the class docstring.

Drawing: the floor, rooms and desks are a few Kivy meshes (one per colour and layer,
:class:`kiosk.floormap_model.Shapes`) in floor units (y flipped once, at build time)
under one ``Translate`` + ``Scale``; panning and zooming change only those two (and four
background strips around the floor). Rooms are rebuilt when ``room_states`` change,
desks when ``desk_states``/``highlight`` change, the label texture when names change:
every name is rendered once into one texture (an ``Fbo``), drawn by one mesh per ink
colour. Labels are shown only when zoomed in far enough to read them (their group is
put in or taken out of its slot in the canvas).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import (
    Callback,
    ClearBuffers,
    ClearColor,
    Color,
    Fbo,
    InstructionGroup,
    Mesh,
    PopMatrix,
    PushMatrix,
    Rectangle,
    Scale,
    Translate,
)
from kivy.graphics.opengl import GL_BLEND, glDisable, glEnable
from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush
from kivy.graphics.tesselator import TYPE_POLYGONS, WINDING_ODD, Tesselator
from kivy.lang import Builder
from kivy.properties import DictProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

from kiosk import floormap_model as fm
from tapin.ui.theme import rgba

__all__ = ["DeskSwatch", "FloorMap", "draw_desk"]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

TAP_SLOP = 12.0
"""Pixels (times ``unit``) a finger may move and still tap."""
DOUBLE_TAP_SECONDS = 0.3
LABEL_PIXELS = 7.0
"""A desk's label shows once it would be this many pixels (times ``unit``: 11.2 px on
a 1280x800 kiosk) high."""
LABEL_RENDER = 28
"""Font size (pixels) label textures are rendered at (sharp when zoomed in)."""
ATLAS_WIDTH = 2048
OPEN_CROSS = 0.42
"""How far (a share of corner to centre) an unavailable desk's cross runs in."""
ROOM_LABEL = (14.0, 40.0)
"""A room name's height, floor units: a fifth of the room's height within these."""
ROOM_LABEL_PIXELS = 7.0
"""Room names show once they would be this many pixels (times ``unit``) high."""
DOUBLE_TAP_ZOOM = 2.0


def _blend_off(_instruction: Any) -> None:
    glDisable(GL_BLEND)


def _blend_on(_instruction: Any) -> None:
    glEnable(GL_BLEND)


def _room_label(room: fm.Room) -> float:
    """How high (floor units) a room's name is drawn."""
    low, high = ROOM_LABEL
    return min(high, max(low, room.h / 5))


def _grown(item: fm.Desk | fm.Room, by: float) -> list[tuple[float, float]]:
    """The item's corners pushed out by ``by`` floor units from its centre."""
    cx, cy = item.centre
    grown = []
    for x, y in fm.corners(item):
        d = math.hypot(x - cx, y - cy) or 1.0
        grown.append((x + (x - cx) / d * by, y + (y - cy) / d * by))
    return grown


def draw_desk(shapes: fm.Shapes, desk: fm.Desk, style: fm.DeskStyle, line: float = 1.0) -> None:
    """A desk's fill and its state's mark (``line`` scales the marks' line widths)."""
    corners = fm.corners(desk)
    shapes.polygon(0, style.fill, corners)
    short, long = min(desk.w, desk.h), max(desk.w, desk.h)
    if style.mark == "dot":
        # towards one end of the desk (along its long side), clear of the label
        angle = math.radians(desk.rotation + (0 if desk.w >= desk.h else 90))
        cx, cy = desk.centre
        centre = (cx + math.cos(angle) * long * 0.36, cy + math.sin(angle) * long * 0.36)
        shapes.dot(1, style.ink, centre, short * 0.16)
    elif style.mark == "cross":
        # corner to corner, open in the middle where the label goes
        shapes.outline(1, style.ink, corners, 1.5 * line)
        cx, cy = desk.centre
        for x, y in corners:
            inner = (x + (cx - x) * OPEN_CROSS, y + (cy - y) * OPEN_CROSS)
            shapes.segment(1, style.ink, (x, y), inner, 1.5 * line)
    elif style.mark == "outline":  # mostly outside the desk
        shapes.outline(1, fm.OUTLINE, _grown(desk, 1.5 * line), 4.0 * line)


class DeskSwatch(Widget):
    """A desk drawn as on the map, for a legend: ``state`` is a desk state; the desk is
    5:3, as large as fits the widget (less room for the outline of "yours")."""

    state = StringProperty("free")
    unit = NumericProperty(1.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        redraw = Clock.create_trigger(self._draw)  # once the layout has settled
        self.bind(pos=redraw, size=redraw, state=redraw, unit=redraw)
        redraw()

    def _draw(self, *_args: Any) -> None:
        self.canvas.clear()
        line = max(0.5, self.unit * 0.75)
        inset = 3.5 * line
        w = max(1.0, min(self.width - 2 * inset, (self.height - 2 * inset) * 5 / 3))
        h = w * 3 / 5
        x = self.center_x - w / 2
        top = self.center_y + h / 2
        shapes = fm.Shapes(flip=self.top)
        desk = fm.Desk("swatch", x, self.top - top, w, h)
        draw_desk(shapes, desk, fm.desk_style(self.state), line)
        for colour, vertices, indices in shapes.meshes():
            self.canvas.add(Color(*rgba(colour)))
            self.canvas.add(Mesh(vertices=vertices, indices=indices, mode="triangles"))


class FloorMap(Widget):
    """One floor plan that pans and zooms by touch: one finger pans, two pinch, a double
    tap zooms in x2; zoom runs from the whole floor to ``MAX_ZOOM`` times that and the
    floor never leaves the view. A tap (not a drag, not part of a pinch, not the second
    of a double tap) on a desk or room dispatches ``on_pick``; desks win over rooms and a
    finger's width (8 px) of slop is allowed around desks.

    Properties: ``floor`` (one element of the ``floors`` snapshot's list, a plain dict,
    or ``None``), ``desk_states`` (desk id -> free/booked/yours/unavailable; missing ->
    unavailable), ``room_states`` (room id -> free/busy; missing -> unknown),
    ``desk_names`` / ``room_names`` (id -> label; default the id), ``highlight`` (an id to
    ring, ``""`` for none), ``unit``. Event: ``on_pick(kind, item_id)`` with kind
    ``"desk"`` or ``"room"``. Methods: :meth:`focus_on`, :meth:`reset_view`,
    :meth:`item_at`; ``view`` is the current :class:`kiosk.floormap_model.View`.
    """

    floor = ObjectProperty(None, allownone=True)
    desk_states = DictProperty({})
    room_states = DictProperty({})
    desk_names = DictProperty({})
    room_names = DictProperty({})
    highlight = StringProperty("")
    unit = NumericProperty(1.0)
    __events__ = ("on_pick",)

    def __init__(self, **kwargs: Any) -> None:
        self._model: fm.Floor | None = None
        self._view = fm.View(1.0, 0.0, 0.0)
        self._fitted = True
        self._touches: list[Any] = []
        self._last_tap: tuple[float, float, float] | None = None
        self._uv: dict[str, tuple[float, float, float, float, float, float]] = {}
        self._atlas_texts: set[str] | None = None
        self._atlas: Any = None
        self._fbo: Any = None
        self._built = False
        super().__init__(**kwargs)
        # Drawing outside the widget is cut off (a scissor, not a stencil: cheaper, and
        # it needs no stencil buffer of the window's size). Software GL (Mesa here) is
        # bound by filling pixels: the widget is cleared to the floor's colour (a clear
        # is far cheaper than drawing), only what is outside the floor is drawn in the
        # background colour, nothing else is full-size, and the opaque shapes are drawn
        # without blending (labels, which need it, come last).
        self._scissor = ScissorPush(x=0, y=0, width=1, height=1)
        self._clear = ClearColor(*rgba(fm.BACKGROUND))
        # the scissor is in window pixels: placed again at each frame, as the widget can
        # move in the window without its own pos changing (inside a Screen, say)
        before = (Callback(self._place_scissor), self._scissor, self._clear, ClearBuffers())
        for n, instruction in enumerate(before):
            self.canvas.before.insert(n, instruction)
        self.canvas.after.add(ScissorPop())
        with self.canvas:
            Callback(_blend_off)
            Color(*rgba(fm.BACKGROUND))
            self._frame = [Rectangle(pos=self.pos, size=(0, 0)) for _ in range(4)]
            PushMatrix()
            self._translate = Translate(0, 0)
            self._scale = Scale(1, 1, 1)
        self._static = InstructionGroup()
        self._rooms = InstructionGroup()
        self._desks = InstructionGroup()
        self._labels = InstructionGroup()
        self._room_labels = InstructionGroup()
        for group in (self._static, self._rooms, self._desks):
            self.canvas.add(group)
        self.canvas.add(Callback(_blend_on))
        # labels are shown (put in their slot) only when big enough to read
        self._slots = {"rooms": InstructionGroup(), "desks": InstructionGroup()}
        self._shown = {"rooms": False, "desks": False}
        for slot in self._slots.values():
            self.canvas.add(slot)
        self.canvas.add(PopMatrix())
        # changes are drawn once, before the next frame, however many properties a screen
        # sets one after the other
        self._dirty: set[str] = set()
        self._redraw = Clock.create_trigger(self._flush, -1)
        self.bind(size=self._resized, pos=self._resized)
        self.bind(desk_states=self._desks_changed, highlight=self._desks_changed)
        self.bind(desk_names=self._names_changed, room_names=self._names_changed)
        self.bind(room_states=self._rooms_changed)
        self._built = True
        self.on_floor(self, self.floor)
        self._resized()

    # -- public ----------------------------------------------------------------------

    @property
    def view(self) -> fm.View:
        return self._view

    @property
    def model(self) -> fm.Floor | None:
        """The floor as parsed (``None`` when there is none or it was malformed)."""
        return self._model

    def on_pick(self, kind: str, item_id: str) -> None:
        """A desk or room was tapped."""

    def reset_view(self) -> None:
        """Fit the whole floor in the widget."""
        self._fitted = True
        if self._model is not None and self.width > 0 and self.height > 0:
            self._set_view(fm.fit(self._model, self.width, self.height), fitted=True)

    def focus_on(self, item_id: str, zoom: float | None = None) -> bool:
        """Centre the desk or room ``item_id``; ``zoom`` is the scale in multiples of
        the whole-floor fit (default: at least far enough in for desk labels). ``False``
        (view unchanged) when the id is not on this floor."""
        if self._model is None or self.width <= 0 or self.height <= 0:
            return False
        item = self._model.find(item_id)
        if item is None:
            return False
        least = fm.fit(self._model, self.width, self.height).scale
        scale = least * zoom if zoom else max(self._view.scale, self._label_scale() * 1.25)
        view = fm.centre_on(fm.View(scale, 0, 0), *item.centre, self.width, self.height)
        self._set_view(view)
        return True

    def item_at(self, x: float, y: float) -> tuple[str, str] | None:
        """``(kind, id)`` of the desk or room at window coordinates, or ``None``."""
        lx, ly = self.to_widget(x, y)
        return self._hit(lx, ly)

    # -- building --------------------------------------------------------------------

    def on_floor(self, _widget: Any, raw: Any) -> None:
        if not self._built:
            return
        self._model = None
        if raw is not None:
            try:
                self._model = fm.floor_from_dict(raw)
            except ValueError as exc:
                log.warning("a floor plan could not be drawn: %s", exc)
        self._atlas_texts = None
        self._want("static", "atlas", "rooms", "desks")
        self._fitted = True
        self._resized()

    def _want(self, *parts: str) -> None:
        self._dirty.update(parts)
        self._redraw()

    def _flush(self, *_args: Any) -> None:
        """Redraw what changed (the parts asked for since the last frame)."""
        parts, self._dirty = self._dirty, set()
        if "static" in parts:
            self._build_static()
        if "atlas" in parts and self._build_atlas():
            parts |= {"rooms", "desks"}
        if "rooms" in parts:
            self._redraw_rooms()
        if "desks" in parts:
            self._redraw_desks()

    def _desks_changed(self, *_args: Any) -> None:
        self._want("desks")

    def _rooms_changed(self, *_args: Any) -> None:
        self._want("rooms")

    def _up(self, fx: float, fy: float) -> tuple[float, float]:
        """Floor units (y down) to the canvas's floor units (y up)."""
        assert self._model is not None
        return (fx, self._model.height - fy)

    def _flat(self, points: Any) -> list[float]:
        flat: list[float] = []
        for fx, fy in points:
            flat += self._up(fx, fy)
        return flat

    def _names_changed(self, *_args: Any) -> None:
        self._want("atlas")

    def _add_meshes(self, group: InstructionGroup, shapes: fm.Shapes) -> None:
        for colour, vertices, indices in shapes.meshes():
            group.add(Color(*rgba(colour)))
            group.add(Mesh(vertices=vertices, indices=indices, mode="triangles"))

    def _build_static(self) -> None:
        group = self._static
        group.clear()
        if self._model is None:
            return
        outline = self._flat(self._model.outline)
        width, height = self._model.width, self._model.height
        # the floor's colour is the widget's clear colour: here the background is laid
        # over what lies outside the walls but inside the floor's rectangle
        group.add(Color(*rgba(fm.BACKGROUND)))
        tesselator = Tesselator()
        tesselator.add_contour([0, 0, width, 0, width, height, 0, height])
        tesselator.add_contour(outline)
        if tesselator.tesselate(WINDING_ODD, TYPE_POLYGONS):
            for vertices, indices in tesselator.meshes:
                group.add(Mesh(vertices=vertices, indices=indices, mode="triangle_fan"))
        walls = fm.Shapes(self._model.height)
        walls.outline(0, fm.WALLS, self._model.outline, 4.0)
        self._add_meshes(group, walls)

    def _build_atlas(self) -> bool:
        """Every label's text rendered once into one texture (one mesh draws them all);
        ``False`` when the texts are those already rendered (nothing done)."""
        texts: set[str] = set()
        if self._model is not None:
            texts = {self.desk_names.get(d.id) or d.id for d in self._model.desks}
            texts |= {self.room_names.get(r.id) or r.id for r in self._model.rooms}
        if texts == self._atlas_texts:
            return False
        self._atlas_texts = texts
        self._uv = {}
        self._atlas = None
        if not texts:
            return True
        rendered = []
        for text in sorted(texts):
            label = CoreLabel(text=text, font_size=LABEL_RENDER, color=(1, 1, 1, 1))
            label.refresh()
            if label.texture is not None:
                rendered.append((text, label.texture))
        spots: list[tuple[str, Any, int, int]] = []
        x = y = row = 0
        for text, texture in rendered:
            tw, th = texture.size
            if x + tw > ATLAS_WIDTH and x:
                x, y, row = 0, y + row + 2, 0
            spots.append((text, texture, x, y))
            x, row = x + tw + 2, max(row, th)
        height = max(1, y + row)
        fbo = Fbo(size=(ATLAS_WIDTH, height))
        with fbo:
            ClearColor(1, 1, 1, 0)
            ClearBuffers()
            Color(1, 1, 1, 1)
            for _text, texture, tx, ty in spots:
                Rectangle(texture=texture, pos=(tx, ty), size=texture.size)
        fbo.draw()
        self._fbo = fbo
        self._atlas = fbo.texture
        for text, texture, tx, ty in spots:
            tw, th = texture.size
            self._uv[text] = (
                tx / ATLAS_WIDTH,
                ty / height,
                (tx + tw) / ATLAS_WIDTH,
                (ty + th) / height,
                float(tw),
                float(th),
            )
        return True

    def _labels_mesh(
        self,
        group: InstructionGroup,
        labels: list[tuple[str, str, tuple[float, float, float, float], float]],
    ) -> None:
        """Labels ``(text, ink, box, height)`` (floor units, y down) as one mesh per ink."""
        if self._model is None or self._atlas is None:
            return
        flip = self._model.height
        by_ink: dict[str, tuple[list[float], list[int]]] = {}
        for text, ink, box, height in labels:
            uv = self._uv.get(text)
            if uv is None:
                continue
            u0, v0, u1, v1, tw, th = uv
            x, y, w, h = fm.fit_label(tw, th, box, height)
            vertices, indices = by_ink.setdefault(ink, ([], []))
            base = len(vertices) // 4
            vertices += [x, flip - y - h, u0, v0, x + w, flip - y - h, u1, v0]
            vertices += [x + w, flip - y, u1, v1, x, flip - y, u0, v1]
            indices += [base, base + 1, base + 2, base, base + 2, base + 3]
        for ink, (vertices, indices) in by_ink.items():
            group.add(Color(*rgba(ink)))
            group.add(
                Mesh(vertices=vertices, indices=indices, mode="triangles", texture=self._atlas)
            )

    def _redraw_rooms(self, *_args: Any) -> None:
        group = self._rooms
        group.clear()
        self._room_labels.clear()
        if self._model is None:
            return
        shapes = fm.Shapes(self._model.height)
        labels: list[tuple[str, str, tuple[float, float, float, float], float]] = []
        for room in self._model.rooms:
            style = fm.room_style(self.room_states.get(room.id))
            shapes.polygon(0, style.fill, fm.corners(room))
            if style.hatched:
                for x1, y1, x2, y2 in fm.hatch_lines(room.x, room.y, room.w, room.h, 18.0):
                    shapes.segment(1, style.border, (x1, y1), (x2, y2), 2.0)
            shapes.outline(2, style.border, fm.corners(room), 3.0)
            name = self.room_names.get(room.id) or room.id
            pad = min(8.0, room.w * 0.05)
            height = _room_label(room)
            box = (room.x + pad, room.y + pad, room.w - 2 * pad, height)
            labels.append((name, style.ink, box, height))
        self._add_meshes(group, shapes)
        # the room's name on a band of its fill so hatching never runs through it (with
        # the name: shown only when the names are)
        band = fm.Shapes(self._model.height)
        for (_name, _ink, box, _h), room in zip(labels, self._model.rooms, strict=True):
            style = fm.room_style(self.room_states.get(room.id))
            x, y, w, h = box
            band.polygon(0, style.fill, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))
        self._add_meshes(self._room_labels, band)
        self._labels_mesh(self._room_labels, labels)

    def _redraw_desks(self, *_args: Any) -> None:
        desks, labels_group = self._desks, self._labels
        desks.clear()
        labels_group.clear()
        if self._model is None:
            return
        shapes = fm.Shapes(self._model.height)
        labels: list[tuple[str, str, tuple[float, float, float, float], float]] = []
        for desk in self._model.desks:
            style = fm.desk_style(self.desk_states.get(desk.id))
            draw_desk(shapes, desk, style)
            corners = fm.corners(desk)
            short, long = min(desk.w, desk.h), max(desk.w, desk.h)
            if desk.id == self.highlight:
                shapes.outline(2, fm.HIGHLIGHT, _grown(desk, 7.0), 3.5)
            name = self.desk_names.get(desk.id) or desk.id
            xs, ys = [p[0] for p in corners], [p[1] for p in corners]
            bw, bh = max(xs) - min(xs), max(ys) - min(ys)
            # the label in the middle; on a booked desk beside the dot
            share, shift = (0.68, -0.12) if style.mark == "dot" else (0.7, 0.0)
            across = bw >= bh
            narrow = (long * share, short) if across else (short, long * share)
            box = (
                min(xs) + (bw - narrow[0]) / 2 + (long * shift if across else 0.0),
                min(ys) + (bh - narrow[1]) / 2 + (0.0 if across else long * shift),
                *narrow,
            )
            labels.append((name, style.ink, box, short * 0.5))
        room = self._model.find(self.highlight) if self.highlight else None
        if isinstance(room, fm.Room):
            shapes.outline(2, fm.HIGHLIGHT, _grown(room, 7.0), 4.0)
        self._add_meshes(desks, shapes)
        self._labels_mesh(labels_group, labels)

    # -- the view --------------------------------------------------------------------

    def _label_scale(self) -> float:
        """The scale from which desk labels are shown."""
        if self._model is None or not self._model.desks:
            return math.inf
        shorts = sorted(min(d.w, d.h) for d in self._model.desks)
        return LABEL_PIXELS * self.unit / (shorts[len(shorts) // 2] * 0.5)

    def _place_scissor(self, *_args: Any) -> None:
        x, y = self.to_window(self.x, self.y)
        box = (round(x), round(y), round(self.width), round(self.height))
        scissor = self._scissor
        if (scissor.x, scissor.y, scissor.width, scissor.height) != box:
            scissor.x, scissor.y, scissor.width, scissor.height = box

    def _resized(self, *_args: Any) -> None:
        self._place_scissor()
        self._clear.rgba = rgba(fm.FLOOR_FILL if self._model is not None else fm.BACKGROUND)
        if self._model is None or self.width <= 0 or self.height <= 0:
            return
        if self._fitted:
            self.reset_view()
        else:
            self._set_view(self._view)

    def _set_view(self, view: fm.View, fitted: bool = False) -> None:
        if self._model is None or self.width <= 0 or self.height <= 0:
            return
        view = fm.clamp(view, self._model, self.width, self.height)
        self._view = view
        self._fitted = fitted
        s = view.scale
        self._translate.x = self.x + view.x
        self._translate.y = self.top - view.y - s * self._model.height
        self._scale.x = self._scale.y = s
        # the background around the floor: left, right, above, below
        left, top = self.x + view.x, self.top - view.y
        right, bottom = left + s * self._model.width, top - s * self._model.height
        left, right = max(self.x, left), min(self.right, right)
        top, bottom = min(self.top, top), max(self.y, bottom)
        strips = (
            (self.x, self.y, left - self.x, self.height),
            (right, self.y, self.right - right, self.height),
            (left, top, right - left, self.top - top),
            (left, self.y, right - left, bottom - self.y),
        )
        for rectangle, (x, y, w, h) in zip(self._frame, strips, strict=True):
            rectangle.pos, rectangle.size = (x, y), (max(0.0, w), max(0.0, h))
        self._show("desks", self._labels, s >= self._label_scale())
        rooms = sorted(_room_label(r) for r in self._model.rooms) or [0.0]
        readable = s * rooms[len(rooms) // 2] >= ROOM_LABEL_PIXELS * self.unit
        self._show("rooms", self._room_labels, readable)

    def _show(self, slot: str, group: InstructionGroup, show: bool) -> None:
        if show != self._shown[slot]:
            self._shown[slot] = show
            self._slots[slot].clear()
            if show:
                self._slots[slot].add(group)

    def _local(self, touch: Any) -> tuple[float, float]:
        """A touch in view pixels: from the widget's left and top."""
        return (touch.x - self.x, self.top - touch.y)

    def _hit(self, x: float, y: float) -> tuple[str, str] | None:
        """What is at ``(x, y)`` in the parent's coordinates (as touches come)."""
        if self._model is None:
            return None
        px, py = x - self.x, self.top - y
        fx, fy = self._view.to_floor(px, py)
        return fm.hit(self._model, fx, fy, slop=8.0 * self.unit / self._view.scale)

    # -- touches ---------------------------------------------------------------------

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos) or self._model is None:
            return bool(super().on_touch_down(touch))
        touch.grab(self)
        self._touches.append(touch)
        touch.ud["floormap_tap"] = len(self._touches) == 1
        if len(self._touches) > 1:
            for other in self._touches:
                other.ud["floormap_tap"] = False
        now = time.monotonic()
        last = self._last_tap
        slop = TAP_SLOP * self.unit * 2
        if (
            len(self._touches) == 1
            and last is not None
            and now - last[0] <= DOUBLE_TAP_SECONDS
            and math.hypot(touch.x - last[1], touch.y - last[2]) <= slop
        ):
            self._last_tap = None
            touch.ud["floormap_tap"] = False
            px, py = self._local(touch)
            self._set_view(fm.zoom_about(self._view, DOUBLE_TAP_ZOOM, px, py))
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return bool(super().on_touch_move(touch))
        if touch not in self._touches:
            return True
        if math.hypot(touch.x - touch.ox, touch.y - touch.oy) > TAP_SLOP * self.unit:
            touch.ud["floormap_tap"] = False
        dx, dy = touch.x - touch.px, touch.y - touch.py
        if len(self._touches) == 1:
            self._set_view(fm.pan(self._view, dx, -dy))
            return True
        other = next(t for t in self._touches if t is not touch)
        before = math.hypot(touch.px - other.x, touch.py - other.y)
        after = math.hypot(touch.x - other.x, touch.y - other.y)
        view = self._view
        if before > 1.0 and after > 1.0:
            # the floor point under the fingers' midpoint stays under it
            mx, my = (touch.px + other.x) / 2, (touch.py + other.y) / 2
            view = fm.zoom_about(view, after / before, mx - self.x, self.top - my)
        view = fm.pan(view, dx / 2, -dy / 2)
        self._set_view(view)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return bool(super().on_touch_up(touch))
        touch.ungrab(self)
        if touch in self._touches:
            self._touches.remove(touch)
        if touch.ud.get("floormap_tap"):
            self._last_tap = (time.monotonic(), touch.x, touch.y)
            picked = self._hit(touch.x, touch.y)
            if picked is not None:
                self.dispatch("on_pick", *picked)
        return True

"""What the floor map draws, in floor units: the floor's image, walls, rooms,
desks and their labels, as a few Kivy meshes; and :class:`DeskSwatch`, a desk as on the
map for legends. :class:`kiosk.screens.floormap.FloorMap` renders a :class:`Scene`
into its cache texture; nothing here knows about the view or touches.

The floor, rooms and desks are meshes of one colour each per layer
(:class:`kiosk.floormap_model.Shapes`), in floor units with y flipped once (Kivy's y
is up). Every label's text is rendered once into one texture (an ``Fbo``), drawn by one
mesh per ink colour. Opaque shapes are drawn without blending (labels, which need it,
come last); shapes of one colour are drawn by a shader that samples no texture
(:func:`solid_context`).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    Rectangle,
    RenderContext,
)
from kivy.graphics.opengl import GL_BLEND, glDisable, glEnable
from kivy.graphics.tesselator import TYPE_POLYGONS, WINDING_ODD, Tesselator
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.widget import Widget

from kiosk import floormap_model as fm
from kiosk.screens.floormap_image import FloorImage
from tapin.ui.theme import rgba

__all__ = ["DeskSwatch", "Scene", "blend_off", "blend_on", "draw_desk", "solid_context"]

LABEL_RENDER = 28
"""Font size (pixels) label textures are rendered at (sharp when zoomed in)."""
ATLAS_WIDTH = 2048
OPEN_CROSS = 0.42
"""How far (a share of corner to centre) an unavailable desk's cross runs in."""
ROOM_LABEL = (40.0, 52.0)
"""A room name's height, floor units: a fifth of the room's height within these (a small
room's name as readable as a large one's; a name too wide for its room is made smaller)."""

Label = tuple[str, str, tuple[float, float, float, float], float]
"""``(text, ink, box, height)``: a label's text, colour, box and height (floor units)."""


SOLID_FS = """$HEADER$
void main(void) {
    gl_FragColor = frag_color;
}
"""
"""A fragment shader for shapes of one colour: Kivy's own multiplies every pixel by a
texture (a white one when there is none); Mesa's software rasteriser pays for that
sample at every pixel, about half of what a desk's pixels cost here."""


def solid_context() -> Any:
    """A render context for untextured shapes (:data:`SOLID_FS`) under the parent's
    projection and transform; a plain group when the shader does not compile."""
    context = RenderContext(
        use_parent_projection=True, use_parent_modelview=True, use_parent_frag_modelview=True
    )
    context.shader.fs = SOLID_FS
    return context if context.shader.success else InstructionGroup()


def blend_off(_instruction: Any) -> None:
    glDisable(GL_BLEND)


def blend_on(_instruction: Any) -> None:
    glEnable(GL_BLEND)


def room_label(room: fm.Room) -> float:
    """How high (floor units) a room's name is drawn."""
    low, high = ROOM_LABEL
    return min(high, max(low, room.h / 5))


def grown(item: fm.Desk | fm.Room, by: float) -> list[tuple[float, float]]:
    """The item's corners pushed out by ``by`` floor units from its centre."""
    cx, cy = item.centre
    out = []
    for x, y in fm.corners(item):
        d = math.hypot(x - cx, y - cy) or 1.0
        out.append((x + (x - cx) / d * by, y + (y - cy) / d * by))
    return out


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
        shapes.outline(1, fm.OUTLINE, grown(desk, 1.5 * line), 4.0 * line)


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


def _add_meshes(group: InstructionGroup, shapes: fm.Shapes) -> None:
    for colour, vertices, indices in shapes.meshes():
        group.add(Color(*rgba(colour)))
        group.add(Mesh(vertices=vertices, indices=indices, mode="triangles"))


class Scene:
    """One floor's drawing, in floor units (y up, the floor's rectangle from 0,0 to
    width,height): :attr:`root` holds, in order, the floor's image (where it has lines), the
    area outside the walls and the walls, rooms, desks, then (when shown) room and desk
    labels. Each part is rebuilt on its own: :meth:`build_static` (floor and walls),
    :meth:`set_image`, :meth:`build_atlas` (label texts), :meth:`redraw_rooms`,
    :meth:`redraw_desks`; :meth:`show_labels` puts the labels in or takes them out."""

    def __init__(self) -> None:
        self.model: fm.Floor | None = None
        self._image: FloorImage | None = None
        self._uv: dict[str, tuple[float, float, float, float, float, float]] = {}
        self._atlas_texts: set[str] | None = None
        self._atlas: Any = None
        self._fbo: Any = None
        self.root = InstructionGroup()
        self._floor = InstructionGroup()
        self._static = InstructionGroup()
        self.rooms = InstructionGroup()
        self.desks = InstructionGroup()
        self._desk_labels = InstructionGroup()
        self._room_labels = InstructionGroup()
        self.root.add(Callback(blend_off))
        self.root.add(self._floor)
        solid = solid_context()  # the opaque shapes, one colour each: no texture sampled
        for group in (self._static, self.rooms, self.desks):
            solid.add(group)
        self.root.add(solid)
        self.root.add(Callback(blend_on))
        self._slots = {"rooms": InstructionGroup(), "desks": InstructionGroup()}
        self.shown = {"rooms": False, "desks": False}
        for slot in self._slots.values():
            self.root.add(slot)

    def set_model(self, model: fm.Floor | None) -> None:
        self.model = model
        self._image = None
        self._atlas_texts = None

    def set_image(self, image: FloorImage | None) -> None:
        """The floor's image (``None``: none; the floor is the clear's colour)."""
        self._image = image
        self._build_floor()

    def _build_floor(self) -> None:
        """The image's tiles with lines, stretched over the floor, as one mesh."""
        group = self._floor
        group.clear()
        if self.model is None or self._image is None or not self._image.tiles:
            return
        (tw, th), height = self._image.size, self.model.height
        sx, sy = self.model.width / tw, height / th
        # the image's part of the texture (a GPU may have given it a larger one)
        (pu, pv), (su, sv) = self._image.texture.uvpos, self._image.texture.uvsize
        vertices: list[float] = []
        indices: list[int] = []
        for x, y, w, h in self._image.tiles:
            base = len(vertices) // 4
            left, right, top, bottom = x * sx, (x + w) * sx, height - y * sy, height - (y + h) * sy
            u0, u1 = pu + x / tw * su, pu + (x + w) / tw * su
            v0, v1 = pv + y / th * sv, pv + (y + h) / th * sv
            vertices += [left, bottom, u0, v1, right, bottom, u1, v1]
            vertices += [right, top, u1, v0, left, top, u0, v0]
            indices += [base, base + 1, base + 2, base, base + 2, base + 3]
            if len(vertices) // 4 > fm.MAX_VERTICES - 4:
                self._image_mesh(vertices, indices)
                vertices, indices = [], []
        self._image_mesh(vertices, indices)

    def _image_mesh(self, vertices: list[float], indices: list[int]) -> None:
        if indices and self._image is not None:
            self._floor.add(Color(1, 1, 1, 1))
            self._floor.add(
                Mesh(
                    vertices=vertices,
                    indices=indices,
                    mode="triangles",
                    texture=self._image.texture,
                )
            )

    def build_static(self) -> None:
        """The floor, what lies outside its walls (inside its rectangle) and the walls."""
        self._build_floor()
        group = self._static
        group.clear()
        if self.model is None:
            return
        height = self.model.height
        outline: list[float] = []
        for fx, fy in self.model.outline:
            outline += (fx, height - fy)
        group.add(Color(*rgba(fm.BACKGROUND)))
        tesselator = Tesselator()
        tesselator.add_contour([0, 0, self.model.width, 0, self.model.width, height, 0, height])
        tesselator.add_contour(outline)
        if tesselator.tesselate(WINDING_ODD, TYPE_POLYGONS):
            for vertices, indices in tesselator.meshes:
                group.add(Mesh(vertices=vertices, indices=indices, mode="triangle_fan"))
        walls = fm.Shapes(height)
        walls.outline(0, fm.WALLS, self.model.outline, 4.0)
        _add_meshes(group, walls)

    def build_atlas(self, desk_names: Mapping[str, str], room_names: Mapping[str, str]) -> bool:
        """Every label's text rendered once into one texture (one mesh draws them all);
        ``False`` when the texts are those already rendered (nothing done)."""
        texts: set[str] = set()
        if self.model is not None:
            texts = {desk_names.get(d.id) or d.id for d in self.model.desks}
            texts |= {room_names.get(r.id) or r.id for r in self.model.rooms}
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

    def _labels_mesh(self, group: InstructionGroup, labels: list[Label]) -> None:
        """Labels (floor units, y down) as one mesh per ink."""
        if self.model is None or self._atlas is None:
            return
        flip = self.model.height
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

    def redraw_rooms(self, states: Mapping[str, str], names: Mapping[str, str]) -> None:
        group = self.rooms
        group.clear()
        self._room_labels.clear()
        if self.model is None:
            return
        shapes = fm.Shapes(self.model.height)
        labels: list[Label] = []
        for room in self.model.rooms:
            style = fm.room_style(states.get(room.id))
            shapes.polygon(0, style.fill, fm.corners(room))
            if style.hatched:
                for x1, y1, x2, y2 in fm.hatch_lines(room.x, room.y, room.w, room.h, 18.0):
                    shapes.segment(1, style.border, (x1, y1), (x2, y2), 2.0)
            shapes.outline(2, style.border, fm.corners(room), 3.0)
            name = names.get(room.id) or room.id
            pad = min(8.0, room.w * 0.05)
            height = room_label(room)
            box = (room.x + pad, room.y + pad, room.w - 2 * pad, height)
            labels.append((name, style.ink, box, height))
        _add_meshes(group, shapes)
        # the room's name on a band of its fill so hatching never runs through it (with
        # the name: shown only when the names are)
        band = fm.Shapes(self.model.height)
        for (_name, _ink, box, _h), room in zip(labels, self.model.rooms, strict=True):
            style = fm.room_style(states.get(room.id))
            x, y, w, h = box
            band.polygon(0, style.fill, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))
        _add_meshes(self._room_labels, band)
        self._labels_mesh(self._room_labels, labels)

    def redraw_desks(
        self, states: Mapping[str, str], names: Mapping[str, str], highlight: str
    ) -> None:
        desks, labels_group = self.desks, self._desk_labels
        desks.clear()
        labels_group.clear()
        if self.model is None:
            return
        shapes = fm.Shapes(self.model.height)
        labels: list[Label] = []
        for desk in self.model.desks:
            style = fm.desk_style(states.get(desk.id))
            draw_desk(shapes, desk, style)
            corners = fm.corners(desk)
            short, long = min(desk.w, desk.h), max(desk.w, desk.h)
            if desk.id == highlight:
                shapes.outline(2, fm.HIGHLIGHT, grown(desk, 7.0), 3.5)
            name = names.get(desk.id) or desk.id
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
        room = self.model.find(highlight) if highlight else None
        if isinstance(room, fm.Room):
            shapes.outline(2, fm.HIGHLIGHT, grown(room, 7.0), 4.0)
        _add_meshes(desks, shapes)
        self._labels_mesh(labels_group, labels)

    def show_labels(self, slot: str, show: bool) -> bool:
        """Put the ``"rooms"`` or ``"desks"`` labels in (or take them out); ``True``
        when that changed anything."""
        if show == self.shown[slot]:
            return False
        self.shown[slot] = show
        self._slots[slot].clear()
        if show:
            self._slots[slot].add(self._room_labels if slot == "rooms" else self._desk_labels)
        return True

"""The kiosk's floor map: one floor plan, every desk free / booked / yours / unavailable
and every room free / busy, over the floor's image when central has one; pans and zooms
by touch; a tap on a desk or room dispatches ``on_pick(kind, item_id)``. The public API
is described in the class docstring.

Drawing: the floor (:class:`kiosk.screens.floormap_scene.Scene`: the floor's image,
walls, rooms, desks and labels as a few meshes in floor units) under one ``Translate``
+ ``Scale``; panning and zooming change only those two (and four background strips
around the floor). Rooms are rebuilt when ``room_states`` change, desks when
``desk_states``/``highlight`` change, the label texture when names change. Labels are
shown only when zoomed in far enough to read them.

On this machine's software GL (Mesa llvmpipe) a frame's cost is filling pixels, not
drawing triangles (moving every desk out of view makes a frame as cheap as having no
desks): the widget is cleared to the floor's colour (a clear is far cheaper than
drawing), only what lies outside the floor is drawn in the background colour, nothing
else is full-size, opaque shapes are drawn without blending and by a shader that samples
no texture (:func:`kiosk.screens.floormap_scene.solid_context`: Kivy's own samples a
white texture at every pixel), and the floor's image is drawn only where it has lines
(:mod:`kiosk.screens.floormap_image`: its blank tiles are left to the clear). Rendering
the whole floor into one texture and drawing only that was tried and measured slower
here: sampling a texture the size of the window costs more than the clear and the
scene's few thousand small triangles.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.graphics import (
    Callback,
    ClearBuffers,
    ClearColor,
    Color,
    PopMatrix,
    PushMatrix,
    Rectangle,
    Scale,
    Translate,
)
from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush
from kivy.lang import Builder
from kivy.properties import DictProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

from kiosk import floormap_model as fm
from kiosk.screens import floormap_image
from kiosk.screens.floormap_scene import DeskSwatch, Scene, blend_off, draw_desk, solid_context
from kiosk.screens.floormap_scene import room_label as _room_label
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
ROOM_LABEL_PIXELS = 7.0
"""Room names show once they would be this many pixels (times ``unit``) high."""
DOUBLE_TAP_ZOOM = 2.0


def _png(image: Any) -> bytes | None:
    """A floor's ``image``: PNG bytes (as :func:`kiosk.staff.floor_dict` gives them) or
    the contract's ``{"png_b64": ...}``; ``None`` for none or base64 that is not."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, dict) and isinstance(image.get("png_b64"), str):
        try:
            return base64.b64decode(image["png_b64"], validate=True)
        except (binascii.Error, ValueError):
            log.warning("a floor image is not drawn: its png_b64 is not base64")
    return None


class FloorMap(Widget):
    """One floor plan that pans and zooms by touch: one finger pans, two pinch, a double
    tap zooms in x2; zoom runs from the whole floor to ``MAX_ZOOM`` times that and the
    floor never leaves the view. A tap (not a drag, not part of a pinch, not the second
    of a double tap) on a desk or room dispatches ``on_pick``; desks win over rooms and a
    finger's width (8 px) of slop is allowed around desks.

    Properties: ``floor`` (one element of the ``floors`` snapshot's list, a plain dict,
    or ``None``; its ``image`` PNG bytes, the contract's ``{"png_b64"}`` or ``None``:
    drawn under everything, stretched to the floor's width and height),
    ``desk_states`` (desk id -> free/booked/yours/unavailable; missing -> unavailable),
    ``room_states`` (room id -> free/busy; missing -> unknown), ``desk_names`` /
    ``room_names`` (id -> label; default the id), ``highlight`` (an id to ring, ``""``
    for none), ``unit``. Event: ``on_pick(kind, item_id)`` with kind ``"desk"`` or
    ``"room"``. Methods: :meth:`focus_on`, :meth:`reset_view`, :meth:`item_at`; ``view``
    is the current :class:`kiosk.floormap_model.View`; ``image_drawn`` says whether the
    floor's image is drawn (it is decoded off the UI loop, so it comes a moment after the
    floor).
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
        self._scene = Scene()
        self._image_key = ""
        self.image_drawn = False
        self._built = False
        self._desk_label_h = self._room_label_h = math.inf
        super().__init__(**kwargs)
        # Drawing outside the widget is cut off (a scissor, not a stencil: cheaper, and
        # it needs no stencil buffer of the window's size). The widget is cleared to the
        # floor's colour and only what is outside the floor is drawn in the background
        # colour (see the module's docstring).
        self._scissor = ScissorPush(x=0, y=0, width=1, height=1)
        self._clear = ClearColor(*rgba(fm.BACKGROUND))
        # the scissor is in window pixels: placed again at each frame, as the widget can
        # move in the window without its own pos changing (inside a Screen, say)
        before = (Callback(self._place_scissor), self._scissor, self._clear, ClearBuffers())
        for n, instruction in enumerate(before):
            self.canvas.before.insert(n, instruction)
        self.canvas.after.add(ScissorPop())
        self.canvas.add(Callback(blend_off))
        strips = solid_context()
        strips.add(Color(*rgba(fm.BACKGROUND)))
        self._frame = [Rectangle(pos=self.pos, size=(0, 0)) for _ in range(4)]
        for rectangle in self._frame:
            strips.add(rectangle)
        self.canvas.add(strips)
        with self.canvas:
            PushMatrix()
            self._translate = Translate(0, 0)
            self._scale = Scale(1, 1, 1)
        self.canvas.add(self._scene.root)
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

    # -- what is drawn ----------------------------------------------------------------

    def on_floor(self, _widget: Any, raw: Any) -> None:
        if not self._built:
            return
        self._model = None
        if raw is not None:
            try:
                self._model = fm.floor_from_dict(raw)
            except ValueError as exc:
                log.warning("a floor plan could not be drawn: %s", exc)
        self._scene.set_model(self._model)
        self._thresholds()
        self._image_key = ""
        self.image_drawn = False
        png = _png(raw.get("image")) if self._model is not None else None
        if png is not None and self._model is not None:
            key = self._image_key = hashlib.sha256(png).hexdigest()
            number = self._model.floor
            floormap_image.load(png, number, lambda texture: self._image_ready(key, texture))
        self._want("static", "atlas", "rooms", "desks")
        self._fitted = True
        self._resized()

    def _image_ready(self, key: str, texture: floormap_image.FloorImage | None) -> None:
        if key != self._image_key or self._model is None:
            return  # another floor is shown by now
        self._scene.set_image(texture)
        self.image_drawn = texture is not None

    def _want(self, *parts: str) -> None:
        self._dirty.update(parts)
        self._redraw()

    def _flush(self, *_args: Any) -> None:
        """Redraw what changed (the parts asked for since the last frame)."""
        parts, self._dirty = self._dirty, set()
        scene = self._scene
        if "static" in parts:
            scene.build_static()
        if "atlas" in parts and scene.build_atlas(self.desk_names, self.room_names):
            parts |= {"rooms", "desks"}
        if "rooms" in parts:
            scene.redraw_rooms(self.room_states, self.room_names)
        if "desks" in parts:
            scene.redraw_desks(self.desk_states, self.desk_names, self.highlight)

    def _desks_changed(self, *_args: Any) -> None:
        self._want("desks")

    def _rooms_changed(self, *_args: Any) -> None:
        self._want("rooms")

    def _names_changed(self, *_args: Any) -> None:
        self._want("atlas")

    # -- the view --------------------------------------------------------------------

    def _label_scale(self) -> float:
        """The scale from which desk labels are shown."""
        return LABEL_PIXELS * self.unit / self._desk_label_h

    def _thresholds(self) -> None:
        """The median desk label's and room name's heights (floor units), once a floor:
        not sorted again at each pan frame."""
        self._desk_label_h = self._room_label_h = math.inf
        if self._model is not None and self._model.desks:
            shorts = sorted(min(d.w, d.h) for d in self._model.desks)
            self._desk_label_h = shorts[len(shorts) // 2] * 0.5
        if self._model is not None and self._model.rooms:
            rooms = sorted(_room_label(r) for r in self._model.rooms)
            self._room_label_h = rooms[len(rooms) // 2]

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
        self._scene.show_labels("desks", s >= self._label_scale())
        self._scene.show_labels("rooms", s * self._room_label_h >= ROOM_LABEL_PIXELS * self.unit)

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

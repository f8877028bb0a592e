"""The kiosk's floor map by real touches on the offscreen window: a drag
pans within bounds, a pinch zooms within bounds, a double tap zooms in, a tap on a desk
or room picks it, and desks read back from the framebuffer in their state's colours
and marks; labels show only when zoomed in.

The map fills the harness's window at its own size (800x480): the offscreen window of
the test session draws only within the size it was created at (a 1280x800 window
reads back black above and right of 800x480), and the colours must be read back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk import floormap_model as fm
from tapin.ui.theme import PALETTE, rgba
from tests.kivy_window import SIZE

pytestmark = pytest.mark.ui

STATES = {"d-free": "free", "d-booked": "booked", "d-yours": "yours", "d-off": "unavailable"}


def plan(width: float = 600, height: float = 360) -> dict[str, Any]:
    desks = [
        {"id": desk, "x": 100 + 120 * n, "y": 220, "w": 50, "h": 30, "rotation": 0}
        for n, desk in enumerate(STATES)
    ]
    rooms = [
        {"id": "aurora", "x": 80, "y": 40, "w": 180, "h": 140},
        {"id": "borealis", "x": 300, "y": 40, "w": 180, "h": 140},
    ]
    return {
        "floor": 2,
        "name": "Floor 2",
        "width": width,
        "height": height,
        "image": None,
        "outline": None,
        "desks": desks,
        "rooms": rooms,
    }


@pytest.fixture
def floormap(screen: Any) -> Iterator[Any]:
    from kiosk.screens.floormap import FloorMap

    widget = FloorMap(
        floor=plan(),
        desk_states=dict(STATES),
        room_states={"aurora": "free", "borealis": "busy"},
        size_hint=(None, None),
        size=SIZE,
        pos=(0, 0),
    )
    picks: list[tuple[str, str]] = []
    widget.bind(on_pick=lambda _w, kind, item_id: picks.append((kind, item_id)))
    widget.picks = picks
    screen.window.add_widget(widget)
    screen.frames(3)
    yield widget
    screen.window.remove_widget(widget)
    screen.frames(2)


def on_screen(widget: Any, fx: float, fy: float) -> tuple[float, float]:
    """A floor point in window pixels from the top left."""
    px, py = widget.view.to_view(fx, fy)
    return (widget.x + px, SIZE[1] - widget.top + py)


def colour_at(screen: Any, widget: Any, fx: float, fy: float) -> tuple[int, int, int]:
    x, y = on_screen(widget, fx, fy)
    r, g, b, _ = screen.grab().pixel(int(x), int(y))
    return (r, g, b)


def near(pixel: tuple[int, int, int], hex_colour: str) -> bool:
    want = [round(c * 255) for c in rgba(hex_colour)[:3]]
    return all(abs(a - b) <= 3 for a, b in zip(pixel, want, strict=True))


def drag(screen: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """One finger from ``start`` to ``end`` (window pixels, from the top left)."""
    from kivy.tests.common import UnitTestTouch

    height = screen.window.height
    touch = UnitTestTouch(start[0], height - start[1])
    touch.touch_down()
    screen.frames(1)
    for n in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * n / steps
        y = start[1] + (end[1] - start[1]) * n / steps
        touch.touch_move(x, height - y)
        screen.frames(1)
    touch.touch_up()
    screen.frames(2)


def pinch(screen: Any, centre: tuple[float, float], before: float, after: float) -> None:
    """Two fingers ``before`` pixels apart around ``centre`` move to ``after`` apart."""
    from kivy.tests.common import UnitTestTouch

    height = screen.window.height
    cx, cy = centre
    a = UnitTestTouch(cx - before / 2, height - cy)
    b = UnitTestTouch(cx + before / 2, height - cy)
    a.touch_down()
    b.touch_down()
    screen.frames(1)
    for n in range(1, 11):
        gap = before + (after - before) * n / 10
        a.touch_move(cx - gap / 2, height - cy)
        b.touch_move(cx + gap / 2, height - cy)
        screen.frames(1)
    a.touch_up()
    b.touch_up()
    screen.frames(2)


def test_desks_show_their_state_by_colour_and_mark(screen: Any, floormap: Any) -> None:
    for n, (_desk, state) in enumerate(STATES.items()):
        x = 100 + 120 * n
        style = fm.desk_style(state)
        assert near(colour_at(screen, floormap, x + 25, 224), style.fill), state
    # booked: a dot towards the right end; free has none there
    assert near(colour_at(screen, floormap, 220 + 25 + 18, 235), PALETTE["ink"])
    assert near(colour_at(screen, floormap, 100 + 25 + 18, 235), PALETTE["free"])
    # yours: a white outline on its edge
    assert near(colour_at(screen, floormap, 340 + 25, 220.4), PALETTE["ink"])
    assert near(colour_at(screen, floormap, 100 + 25, 220.4), PALETTE["free"])
    # unavailable: a cross from its corners
    assert near(colour_at(screen, floormap, 460 + 5, 223), PALETTE["muted"])
    assert near(colour_at(screen, floormap, 100 + 5, 223), PALETTE["free"])
    # rooms: free is plain, busy is hatched
    row = [colour_at(screen, floormap, x, 120) for x in range(302, 478, 2)]
    assert sum(near(p, fm.room_style("busy").border) for p in row) >= 10
    row = [colour_at(screen, floormap, x, 120) for x in range(82, 258, 2)]
    assert all(near(p, fm.room_style("free").fill) for p in row)


def test_a_state_change_redraws_the_desk(screen: Any, floormap: Any) -> None:
    floormap.desk_states = {**STATES, "d-free": "booked"}
    screen.frames(2)
    assert near(colour_at(screen, floormap, 125, 224), PALETTE["busy"])
    floormap.desk_states = {}
    screen.frames(2)
    assert near(colour_at(screen, floormap, 125, 224), fm.desk_style("unavailable").fill)


def test_a_highlighted_desk_is_ringed(screen: Any, floormap: Any) -> None:
    assert not near(colour_at(screen, floormap, 125, 216.4), PALETTE["now_marker"])
    floormap.highlight = "d-free"
    screen.frames(2)
    assert near(colour_at(screen, floormap, 125, 216.4), PALETTE["now_marker"])


def test_a_tap_picks_the_desk_or_room_under_the_finger(screen: Any, floormap: Any) -> None:
    screen.tap(*on_screen(floormap, 245, 235))
    screen.tap(*on_screen(floormap, 150, 100))
    screen.tap(*on_screen(floormap, 550, 320))  # empty floor
    screen.tap(*on_screen(floormap, 100 + 50 + 4, 235))  # just off the desk: a finger
    assert floormap.picks == [("desk", "d-booked"), ("room", "aurora"), ("desk", "d-free")]
    assert floormap.item_at(*on_screen_up(floormap, 365, 235)) == ("desk", "d-yours")


def on_screen_up(widget: Any, fx: float, fy: float) -> tuple[float, float]:
    """A floor point in window coordinates (y up)."""
    x, y = on_screen(widget, fx, fy)
    return (x, SIZE[1] - y)


def test_a_drag_pans_within_bounds_and_picks_nothing(screen: Any, floormap: Any) -> None:
    fitted = floormap.view
    drag(screen, (400, 240), (600, 340))  # all in view: nothing to pan to
    assert floormap.view == fitted
    assert floormap.focus_on("d-booked", zoom=3)
    screen.frames(2)
    before = on_screen(floormap, 245, 235)
    drag(screen, (400, 240), (300, 200))
    after = on_screen(floormap, 245, 235)
    assert after == pytest.approx((before[0] - 100, before[1] - 40), abs=1)
    assert near(colour_at(screen, floormap, 245, 224), PALETTE["busy"])  # drawn there
    for _ in range(4):  # far past the floor's top left corner
        drag(screen, (100, 40), (790, 470), steps=4)
    left, top = on_screen(floormap, 0, 0)
    assert left == pytest.approx(fm.MARGIN) and top == pytest.approx(fm.MARGIN)
    assert floormap.picks == []


def test_a_pinch_zooms_within_bounds(screen: Any, floormap: Any) -> None:
    least = floormap.view.scale
    point = floormap.view.to_floor(400, 240)
    pinch(screen, (400, 240), 100, 250)
    assert floormap.view.scale == pytest.approx(least * 2.5, rel=0.02)
    assert floormap.view.to_view(*point) == pytest.approx((400, 240), abs=2)
    pinch(screen, (400, 240), 60, 700)
    assert floormap.view.scale == pytest.approx(least * fm.MAX_ZOOM)
    pinch(screen, (400, 240), 700, 40)
    assert floormap.view == fm.fit(floormap.model, *SIZE)
    assert floormap.picks == []


def test_a_double_tap_zooms_in_about_the_finger(screen: Any, floormap: Any) -> None:
    least = floormap.view.scale
    at = on_screen(floormap, 500, 300)
    screen.tap(*at)
    screen.tap(*at)
    assert floormap.view.scale == pytest.approx(least * 2)
    assert on_screen(floormap, 500, 300) == pytest.approx(at, abs=1)
    assert floormap.picks == []  # empty floor: the taps picked nothing


def test_labels_show_only_when_zoomed_in(screen: Any, floormap: Any) -> None:
    floormap.floor = plan(width=4000, height=2400)  # far out: desks are small
    floormap.desk_names = {"d-free": "2.01"}
    screen.frames(2)

    def inked() -> int:
        pixels = [
            colour_at(screen, floormap, 100 + x, 220 + y)
            for x in range(12, 40, 1)
            for y in range(10, 22, 1)
        ]
        return sum(not near(p, PALETTE["free"]) for p in pixels)

    assert inked() == 0
    assert floormap.focus_on("d-free")
    screen.frames(2)
    assert inked() > 5
    assert not floormap.focus_on("nowhere")


def test_panning_moves_the_drawing_without_rebuilding_it(screen: Any, floormap: Any) -> None:
    floormap.focus_on("d-booked", zoom=3)
    screen.frames(1)
    desks = list(floormap._scene.desks.children)
    drag(screen, (400, 240), (300, 160))
    assert list(floormap._scene.desks.children) == desks


def test_the_map_draws_only_inside_itself_wherever_it_moves(screen: Any) -> None:
    from kivy.uix.relativelayout import RelativeLayout

    from kiosk.screens.floormap import FloorMap

    holder = RelativeLayout(size_hint=(None, None), size=(300, 200), pos=(0, 0))
    widget = FloorMap(floor=plan(), desk_states=dict(STATES))
    holder.add_widget(widget)
    screen.window.add_widget(holder)
    try:
        screen.frames(2)
        widget.focus_on("d-booked", zoom=4)  # the floor is far larger than the map
        screen.frames(2)

        def drawn(x: int, y_from_top: int) -> bool:
            return screen.grab().pixel(x, y_from_top)[:3] != (0, 0, 0)

        assert drawn(150, 380) and not drawn(310, 380) and not drawn(150, 270)
        holder.pos = (400, 150)  # as a screen under a banner moves: the map's pos stays
        screen.frames(2)
        assert widget.pos == [0, 0]
        assert not drawn(150, 380)
        assert drawn(550, 230) and not drawn(710, 230) and not drawn(550, 120)
    finally:
        screen.window.remove_widget(holder)
        screen.frames(2)


def test_legend_swatches_look_like_the_desks_on_the_map(screen: Any) -> None:
    from kivy.uix.boxlayout import BoxLayout

    from kiosk.screens.floormap import DeskSwatch

    row = BoxLayout(size_hint=(None, None), size=(400, 60), pos=(0, 0))
    for state in STATES.values():
        row.add_widget(DeskSwatch(state=state))
    screen.window.add_widget(row)
    try:
        screen.frames(2)
        frame = screen.grab()
        for n, state in enumerate(STATES.values()):
            style = fm.desk_style(state)
            centre_x, centre_y = 50 + 100 * n, SIZE[1] - 30
            top = frame.pixel(centre_x, centre_y - 10)[:3]
            assert near(top, style.fill), state
        # booked: the dot towards its right end (none on free); yours: the outline
        assert near(frame.pixel(50 + 100 + 29, SIZE[1] - 30)[:3], PALETTE["ink"])
        assert near(frame.pixel(50 + 29, SIZE[1] - 30)[:3], PALETTE["free"])
        assert near(frame.pixel(50 + 200 + 47, SIZE[1] - 30)[:3], PALETTE["ink"])  # outline
    finally:
        screen.window.remove_widget(row)
        screen.frames(2)


def png_with_bar(
    width: int = 600, height: int = 360, bar: tuple[int, int, int, int] = (540, 20, 560, 340)
) -> bytes:
    """A white plan, one floor unit a pixel, with one black bar (a wall) where no desk or
    room is."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).rectangle(bar, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def wait_for_image(screen: Any, widget: Any) -> None:
    import time

    deadline = time.monotonic() + 10
    while not widget.image_drawn and time.monotonic() < deadline:
        screen.frames(1)
    screen.frames(2)


def test_the_floor_image_is_drawn_under_the_desks_in_the_maps_colours(
    screen: Any, floormap: Any
) -> None:
    from kiosk.screens import floormap_image

    floormap_image.forget()
    assert near(colour_at(screen, floormap, 550, 180), PALETTE["card_bg"])  # no image yet
    floormap.floor = {**plan(), "image": png_with_bar()}
    wait_for_image(screen, floormap)
    assert floormap.image_drawn
    # the plan's black wall in the map's ink, its white in the floor's colour
    assert near(colour_at(screen, floormap, 550, 180), floormap_image.INK)
    assert near(colour_at(screen, floormap, 520, 180), PALETTE["card_bg"])
    # desks and rooms are drawn over it, as before
    assert near(colour_at(screen, floormap, 125, 224), PALETTE["free"])
    # it pans and zooms with the floor
    floormap.focus_on("d-off", zoom=3)
    screen.frames(2)
    assert near(colour_at(screen, floormap, 550, 180), floormap_image.INK)
    assert near(colour_at(screen, floormap, 535, 180), PALETTE["card_bg"])
    # the contract's own shape ({"png_b64"}) draws the same; a floor without one, none
    import base64

    encoded = {"png_b64": base64.b64encode(png_with_bar(bar=(500, 20, 520, 340))).decode()}
    floormap.floor = {**plan(), "image": encoded}
    wait_for_image(screen, floormap)
    assert near(colour_at(screen, floormap, 510, 180), floormap_image.INK)
    floormap.floor = plan()
    screen.frames(2)
    assert not floormap.image_drawn
    assert near(colour_at(screen, floormap, 510, 180), PALETTE["card_bg"])


def test_a_broken_floor_image_leaves_the_map_working_and_logs_one_warning(
    screen: Any, floormap: Any, caplog: Any
) -> None:
    import logging
    import time

    from kiosk.screens import floormap_image

    floormap_image.forget()
    broken = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 50
    with caplog.at_level(logging.WARNING):
        floormap.floor = {**plan(), "image": broken}
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not caplog.records:
            screen.frames(1)
        floormap.floor = plan()
        floormap.floor = {**plan(), "image": broken}  # shown again: not decoded again
        screen.frames(3)
    assert not floormap.image_drawn
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "image of floor 2 is not drawn" in warnings[0].getMessage()
    assert near(colour_at(screen, floormap, 125, 224), PALETTE["free"])
    assert near(colour_at(screen, floormap, 550, 180), PALETTE["card_bg"])
    screen.tap(*on_screen(floormap, 245, 235))
    assert floormap.picks == [("desk", "d-booked")]


def test_the_map_has_a_frame_where_it_ends_even_zoomed_in(screen: Any, floormap: Any) -> None:
    floormap.focus_on("d-booked", zoom=4)  # the floor runs past every edge
    screen.frames(2)
    frame = screen.grab()
    edge = PALETTE["timeline_track"]
    for x, y in ((400, SIZE[1] - 1), (400, 0), (0, 240), (SIZE[0] - 1, 240)):
        assert near(frame.pixel(x, y)[:3], edge), (x, y)
    assert not near(frame.pixel(400, 240)[:3], edge)


def test_room_names_are_readable_on_the_whole_floor_of_a_kiosk_map(screen: Any) -> None:
    import json

    import assets
    from kiosk.screens.floormap import FloorMap
    from kiosk.screens.floormap_scene import room_label

    floors = json.loads(assets.path("demo", "floors.json").read_text("utf-8"))["floors"]
    widget = FloorMap(size_hint=(None, None), size=(700, 400), pos=(0, 0), unit=1.6)
    screen.window.add_widget(widget)
    try:
        for plan_ in floors:  # the desk booking map's size on a 1280x800 kiosk
            widget.floor = {**plan_, "image": None}
            screen.frames(2)
            assert widget.model is not None
            assert widget.view == fm.fit(widget.model, 700, 400)
            assert widget._scene.shown["rooms"], plan_["floor"]
            smallest = min(room_label(r) for r in widget.model.rooms) * widget.view.scale
            assert smallest >= 20, (plan_["floor"], smallest)  # pixels of a room's name
    finally:
        screen.window.remove_widget(widget)
        screen.frames(2)

"""The floor map without Kivy: reading a floor, the view's bounds, hit testing, looks."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from kiosk import floormap_model as fm
from tapin.ui.theme import PALETTE, contrast


def plan(**changes: Any) -> dict[str, Any]:
    """The contract's example floor."""
    raw: dict[str, Any] = {
        "floor": 2,
        "name": "Floor 2",
        "width": 1200,
        "height": 700,
        "image": None,
        "outline": [[0, 0], [1200, 0], [1200, 700], [0, 700]],
        "desks": [
            {"id": "d-201", "x": 100, "y": 80, "w": 40, "h": 24, "rotation": 0},
            {"id": "d-202", "x": 640, "y": 100, "w": 40, "h": 24},
            {"id": "d-203", "x": 300, "y": 400, "w": 60, "h": 20, "rotation": 90},
        ],
        "rooms": [{"id": "aurora", "x": 600, "y": 40, "w": 220, "h": 160}],
    }
    raw.update(changes)
    return raw


FLOOR = fm.floor_from_dict(plan())


def test_a_floor_is_read_in_the_contract_shape() -> None:
    assert (FLOOR.floor, FLOOR.name, FLOOR.width, FLOOR.height) == (2, "Floor 2", 1200, 700)
    assert [d.id for d in FLOOR.desks] == ["d-201", "d-202", "d-203"]
    assert FLOOR.desks[2].rotation == 90 and FLOOR.desks[1].rotation == 0
    assert FLOOR.rooms[0] == fm.Room("aurora", 600, 40, 220, 160)
    assert FLOOR.find("aurora") is FLOOR.rooms[0] and FLOOR.find("nope") is None
    no_outline = fm.floor_from_dict(plan(outline=None))
    assert no_outline.outline == ((0, 0), (1200, 0), (1200, 700), (0, 700))


@pytest.mark.parametrize(
    "changes",
    [
        {"width": None},
        {"height": 0},
        {"width": True},
        {"floor": "2"},
        {"desks": {"id": "d"}},
        {"desks": [{"id": "", "x": 1, "y": 1, "w": 1, "h": 1}]},
        {"desks": [{"id": "d", "x": 1, "y": 1, "w": -1, "h": 1}]},
        {"rooms": [{"id": "r", "x": "1", "y": 1, "w": 1, "h": 1}]},
        {"rooms": [{"id": "r", "x": float("nan"), "y": 1, "w": 1, "h": 1}]},
        {"outline": [[0, 0], [1, 1]]},
        {"outline": [[0, 0], [1, 1], [2]]},
    ],
)
def test_a_malformed_floor_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        fm.floor_from_dict(plan(**changes))


def test_a_turned_desk_has_turned_corners() -> None:
    turned = FLOOR.desks[2]  # 60 x 20, turned a quarter: 20 wide and 60 high
    xs = [x for x, _ in fm.corners(turned)]
    ys = [y for _, y in fm.corners(turned)]
    assert max(xs) - min(xs) == pytest.approx(20)
    assert max(ys) - min(ys) == pytest.approx(60)
    assert fm.hit(FLOOR, 330, 380) == ("desk", "d-203")  # above the unturned rectangle
    assert fm.hit(FLOOR, 305, 410) is None  # inside the unturned one, outside the desk


def test_hits_desks_first_then_rooms_then_nothing() -> None:
    assert fm.hit(FLOOR, 120, 92) == ("desk", "d-201")
    assert fm.hit(FLOOR, 660, 112) == ("desk", "d-202")  # a desk inside the room
    assert fm.hit(FLOOR, 700, 60) == ("room", "aurora")
    assert fm.hit(FLOOR, 50, 600) is None
    assert fm.hit(FLOOR, 145, 92) is None  # 5 units right of d-201
    assert fm.hit(FLOOR, 145, 92, slop=6) == ("desk", "d-201")  # a finger's width


def test_the_nearest_desk_within_reach_wins() -> None:
    floor = fm.floor_from_dict(
        plan(
            desks=[
                {"id": "left", "x": 0, "y": 0, "w": 10, "h": 10},
                {"id": "right", "x": 14, "y": 0, "w": 10, "h": 10},
            ],
            rooms=[],
        )
    )
    assert fm.hit(floor, 11, 5, slop=5) == ("desk", "left")
    assert fm.hit(floor, 13, 5, slop=5) == ("desk", "right")


def test_fit_shows_the_whole_floor_centred() -> None:
    view = fm.fit(FLOOR, 1280, 800)
    left, top = view.to_view(0, 0)
    right, bottom = view.to_view(FLOOR.width, FLOOR.height)
    assert left > 0 and right < 1280 and top > 0 and bottom < 800
    assert left == pytest.approx(1280 - right) and top == pytest.approx(800 - bottom)
    assert min(left, top) == pytest.approx(fm.MARGIN)  # fills the view but for a margin
    with pytest.raises(ValueError):
        fm.fit(FLOOR, 0, 800)


def test_zoom_is_bounded_between_fit_and_max() -> None:
    least = fm.fit(FLOOR, 800, 480)
    assert fm.clamp(fm.View(least.scale / 3, 0, 0), FLOOR, 800, 480).scale == least.scale
    most = fm.clamp(fm.View(least.scale * 100, 0, 0), FLOOR, 800, 480)
    assert most.scale == pytest.approx(least.scale * fm.MAX_ZOOM)


def test_the_floor_never_leaves_the_view() -> None:
    rng = random.Random(11)
    least = fm.fit(FLOOR, 800, 480).scale
    for _ in range(500):
        wild = fm.View(
            least * rng.uniform(0.2, 9), rng.uniform(-9000, 9000), rng.uniform(-9000, 9000)
        )
        view = fm.clamp(wild, FLOOR, 800, 480)
        left, top = view.to_view(0, 0)
        right, bottom = view.to_view(FLOOR.width, FLOOR.height)
        margin = fm.MARGIN
        for low, high, size in ((left, right, 800), (top, bottom, 480)):
            if high - low + 2 * margin <= size:  # smaller than the view: centred
                assert low == pytest.approx(size - high)
            else:  # larger: covers the view but for the margin at most
                assert margin - low >= -1e-6 and high + margin - size >= -1e-6
        assert fm.clamp(view, FLOOR, 800, 480) == view


def test_zooming_keeps_the_point_under_the_fingers() -> None:
    view = fm.View(1.5, -100, -40)
    point = view.to_floor(300, 200)
    zoomed = fm.zoom_about(view, 1.7, 300, 200)
    assert zoomed.scale == pytest.approx(2.55)
    assert zoomed.to_view(*point) == pytest.approx((300, 200))
    with pytest.raises(ValueError):
        fm.zoom_about(view, 0, 1, 1)


def test_pan_and_centre() -> None:
    view = fm.View(2, 10, 20)
    assert fm.pan(view, 5, -7) == fm.View(2, 15, 13)
    centred = fm.centre_on(view, 100, 50, 800, 480)
    assert centred.to_view(100, 50) == pytest.approx((400, 240))


def test_hatching_stays_inside_the_room() -> None:
    lines = fm.hatch_lines(600, 40, 220, 160, 20)
    assert len(lines) == (220 + 160) // 20 - (1 if (220 + 160) % 20 == 0 else 0)
    for x1, y1, x2, y2 in lines:
        for x, y in ((x1, y1), (x2, y2)):
            assert 600 <= x <= 820 and 40 <= y <= 200
        assert (x1 - x2) == pytest.approx(y2 - y1)  # 45 degrees
    with pytest.raises(ValueError):
        fm.hatch_lines(0, 0, 1, 1, 0)


def test_desk_states_differ_by_more_than_hue() -> None:
    styles = [fm.desk_style(state) for state in fm.DESK_STATES]
    assert len({s.mark for s in styles}) == 4  # plain, dot, outline, cross
    for a, b in itertools.combinations(styles, 2):
        assert contrast(a.fill, b.fill) >= 1.4  # apart in greyscale too
    assert fm.desk_style("free").fill == PALETTE["free"]
    assert fm.desk_style("booked").fill == PALETTE["busy"]
    for style in styles:
        assert contrast(style.ink, style.fill) >= 4.5  # labels readable
    assert fm.desk_style(None) == fm.desk_style("weird") == fm.desk_style("unavailable")
    assert fm.room_style("busy").hatched and not fm.room_style("free").hatched
    assert fm.room_style(None) == fm.room_style("unknown")
    assert fm.states_of(["a", "b", "c"], {"a": "yours", "b": "odd"}) == {
        "a": "yours",
        "b": "unavailable",
        "c": "unavailable",
    }


def test_labels_fit_their_box() -> None:
    x, y, w, h = fm.fit_label(60, 20, (10, 10, 40, 30), 12)
    assert h <= 12 and w <= 36 and w / h == pytest.approx(3)
    assert x >= 10 and x + w <= 50 and y >= 10 and y + h <= 40
    assert x - 10 == pytest.approx(50 - x - w)
    with pytest.raises(ValueError):
        fm.fit_label(0, 10, (0, 0, 1, 1), 1)


def test_shapes_flip_y_and_split_large_layers() -> None:
    shapes = fm.Shapes(flip=100)
    shapes.polygon(0, "#FFFFFF", ((0, 0), (10, 0), (10, 10), (0, 10)))
    ((colour, vertices, indices),) = shapes.meshes()
    assert colour == "#FFFFFF" and indices == [0, 1, 2, 0, 2, 3]
    assert vertices[0:2] == [0, 100] and vertices[8:10] == [10, 90]
    segment = fm.Shapes(flip=0)
    segment.segment(0, "#000000", (0, 0), (10, 0), 2)
    xs = segment.meshes()[0][1][0::4]
    assert min(xs) == -1 and max(xs) == 11  # square ends fill an outline's corners
    many = fm.Shapes(flip=0)
    for n in range(fm.MAX_VERTICES // 12 + 10):
        many.dot(1, "#000000", (n, 0), 1)
        many.polygon(0, "#111111", ((0, 0), (1, 0), (1, 1)))
    meshes = many.meshes()
    assert [m[0] for m in meshes] == ["#111111", "#000000", "#000000"]  # layer order
    assert all(len(v) // 4 <= fm.MAX_VERTICES for _, v, _ in meshes)
    assert all(max(i) < len(v) // 4 for _, v, i in meshes)
    dots = fm.MAX_VERTICES // 12 + 10
    assert sum(len(i) for _, _, i in meshes[1:]) == dots * 10 * 3  # 12 sides: 10 triangles

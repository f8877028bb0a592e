"""Frame time while panning the kiosk's floor map: 300 desks, real Kivy offscreen.

:class:`kiosk.screens.floormap.FloorMap` fills a 1280x800 offscreen window (Mesa) with
a floor of 300 desks in pods of six (every state: free, booked, yours, unavailable),
twelve rooms (free and busy) and the floor's image (walls, doors, a core: drawn by
:func:`tapin.demo.staff.demo_floor_image`, as the demo's floors are), zoomed in so desk
labels are drawn and there is room to pan. One finger
(``kivy.tests.common.UnitTestTouch``, through the window's event dispatch) goes down and
drags left and right; after a warm-up, each frame is timed: one touch move, then
``EventLoop.idle()`` (input, clock, layout, drawing) and
``glFinish()``: Mesa renders in software and asynchronously, so a frame is done when the
rasteriser is, not when ``idle()`` returns (that part is reported too, as "cpu side").
For scale, the same window with nothing in it (clear and swap only) is timed as well.
Each frame's CPU time (the process's, Mesa's rasteriser threads included) is reported
too: on a shared machine the wall-clock figures move with the other work running, the
work a frame takes far less.

Kivy's clock caps frames at 60 per second by sleeping in ``idle()``; that sleep would
be measured as frame time, so the cap is switched off here (``Clock._max_fps = 0``).
On this shared 2-core machine the figures move with the other work running.

Run as ``python -m benchmarks.kiosk_map [--frames N]``; the last line is
``kiosk map: pan frame p95 X ms over N frames, 300 desks (target <= 16)``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TARGET_MS", "PanFigures", "measure_pan", "sample_floor", "sample_states"]

SIZE = (1280, 800)
TARGET_MS = 16.0
DESKS = 300
WARM_UP = 30


def sample_floor(desks: int = DESKS, floor: int = 2) -> dict[str, Any]:
    """A floor in the ``floors`` snapshot's element shape: ``desks`` desks in pods of
    six (two rows of three) under a row of rooms, some pods turned 90 degrees."""
    columns = 10
    pods = -(-desks // 6)
    rows = -(-pods // columns)
    pod_w, pod_h, gap = 150, 70, 60
    top = 260
    width = columns * (pod_w + gap) + gap
    height = top + rows * (pod_h + gap) + gap
    placed: list[dict[str, Any]] = []
    for n in range(desks):
        pod, seat = divmod(n, 6)
        row, column = divmod(pod, columns)
        px, py = gap + column * (pod_w + gap), top + row * (pod_h + gap)
        placed.append(
            {
                "id": f"d-{floor}{n + 1:03d}",
                "x": px + (seat % 3) * 50 + 3,
                "y": py + (seat // 3) * 35 + 3,
                "w": 44,
                "h": 29,
                "rotation": 0,
            }
        )
    rooms = [
        {"id": f"room-{floor}-{i + 1}", "x": gap + i * 176, "y": 40, "w": 160, "h": 170}
        for i in range((width - gap) // 176)
    ]
    return {
        "floor": floor,
        "name": f"Floor {floor}",
        "width": width,
        "height": height,
        "image": None,
        "outline": [[0, 0], [width, 0], [width, height], [0, height]],
        "desks": placed,
        "rooms": rooms,
    }


def sample_states(floor: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Desk and room states covering every state: mostly free, a third booked, one
    yours, every seventeenth unavailable; every other room busy."""
    desks: dict[str, str] = {}
    for n, desk in enumerate(floor["desks"]):
        state = "booked" if n % 3 == 1 else "free"
        if n % 17 == 5:
            state = "unavailable"
        desks[desk["id"]] = state
    if floor["desks"]:
        desks[floor["desks"][len(floor["desks"]) // 2]["id"]] = "yours"
    rooms = {room["id"]: ("busy" if n % 2 else "free") for n, room in enumerate(floor["rooms"])}
    return desks, rooms


@dataclass
class PanFigures:
    frames: list[float] = field(default_factory=list)
    """Seconds per frame: touch move to rendered."""
    work: list[float] = field(default_factory=list)
    """CPU seconds of the process per frame (every thread)."""
    cpu: list[float] = field(default_factory=list)
    """Seconds of each frame until ``idle()`` returned (before the rasteriser is done)."""
    empty: list[float] = field(default_factory=list)
    """Seconds per frame of the same window with nothing drawn in it."""
    empty_work: list[float] = field(default_factory=list)
    """CPU seconds per frame of that empty window."""


def measure_pan(frames: int, folder: Path) -> PanFigures:
    """Frame times while one finger pans the map, ``frames`` frames after the warm-up,
    and as many of an empty window. Raises ``RuntimeError`` when the map did not move
    under the finger."""
    from tapin.ui.kivyenv import prepare_kivy

    prepare_kivy(folder / "kivy", SIZE, offscreen=True)
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.graphics.opengl import glFinish
    from kivy.tests.common import UnitTestTouch

    from kiosk.screens.floormap import FloorMap

    EventLoop.ensure_window()
    window = EventLoop.window
    window.size = SIZE
    Clock._max_fps = 0.0  # the 60 fps cap sleeps inside idle(): not frame work
    from tapin.demo.staff import demo_floor_image

    floor = sample_floor()
    floor["image"] = demo_floor_image(floor, per_unit=1.0)
    desk_states, room_states = sample_states(floor)
    names = {d["id"]: d["id"].removeprefix("d-") for d in floor["desks"]}
    widget = FloorMap(
        floor=floor,
        desk_states=desk_states,
        room_states=room_states,
        desk_names=names,
        size_hint=(None, None),
        size=SIZE,
        pos=(0, 0),
    )
    window.add_widget(widget)
    try:
        deadline = time.monotonic() + 20
        while not widget.image_drawn and time.monotonic() < deadline:  # decoded off the loop
            EventLoop.idle()
            time.sleep(0.01)
        if not widget.image_drawn:
            raise RuntimeError("the floor's image was not drawn")
        widget.focus_on(floor["desks"][len(floor["desks"]) // 2]["id"], zoom=3.0)
        EventLoop.idle()
        start_view = widget.view
        x, y = SIZE[0] / 2, SIZE[1] / 2
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        EventLoop.idle()
        figures = PanFigures()
        step = 9.0
        for n in range(WARM_UP + frames):
            if abs(x + step - SIZE[0] / 2) > 300:
                step = -step
            x += step
            begin, work = time.perf_counter(), time.process_time()
            touch.touch_move(x, y)
            EventLoop.idle()
            drawn = time.perf_counter()
            glFinish()  # Mesa draws asynchronously: the frame is done when the GPU is
            if n >= WARM_UP:
                figures.frames.append(time.perf_counter() - begin)
                figures.cpu.append(drawn - begin)
                figures.work.append(time.process_time() - work)
            if n == WARM_UP and widget.view == start_view:
                raise RuntimeError("the map did not pan under the finger")
        touch.touch_up()
        EventLoop.idle()
    finally:
        window.remove_widget(widget)
        EventLoop.idle()
    figures.empty, figures.empty_work = _empty_frames(frames)
    return figures


def _empty_frames(frames: int) -> tuple[list[float], list[float]]:
    """Seconds per frame of the window with one invisible widget moving (the clear,
    the swap and the event loop: what any frame costs here)."""
    from kivy.base import EventLoop
    from kivy.graphics import Translate
    from kivy.graphics.opengl import glFinish
    from kivy.uix.widget import Widget

    widget = Widget()
    with widget.canvas:
        move = Translate(0, 0)
    EventLoop.window.add_widget(widget)
    times, work = [], []
    try:
        for n in range(WARM_UP + frames):
            begin, used = time.perf_counter(), time.process_time()
            move.x = n % 2
            EventLoop.idle()
            glFinish()
            if n >= WARM_UP:
                times.append(time.perf_counter() - begin)
                work.append(time.process_time() - used)
    finally:
        EventLoop.window.remove_widget(widget)
    return times, work


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tapin-map-bench-") as folder:
        figures = measure_pan(max(1, args.frames), Path(folder))
    ms = [t * 1000 for t in figures.frames]
    cpu = [t * 1000 for t in figures.cpu]
    empty = [t * 1000 for t in figures.empty]
    work = [t * 1000 for t in figures.work]
    empty_work = [t * 1000 for t in figures.empty_work]
    print(
        f"pan frame: median {statistics.median(ms):.2f} ms, max {max(ms):.2f} ms "
        f"({len(ms)} frames after {WARM_UP} warm-up); cpu side (input, view, GL "
        f"commands) median {statistics.median(cpu):.2f} ms, p95 {p95(cpu):.2f} ms"
    )
    print(
        f"empty window frame here (clear, swap): median {statistics.median(empty):.2f} ms, "
        f"p95 {p95(empty):.2f} ms"
    )
    print(
        f"CPU per frame (all threads): pan median {statistics.median(work):.2f} ms, p95 "
        f"{p95(work):.2f} ms; empty window median {statistics.median(empty_work):.2f} ms, "
        f"p95 {p95(empty_work):.2f} ms"
    )
    print(
        f"kiosk map: pan frame p95 {p95(ms):.2f} ms over {len(ms)} frames, "
        f"{DESKS} desks (target <= {TARGET_MS:g}); an empty window's frame p95 "
        f"{p95(empty):.2f} ms in the same run, ratio {p95(ms) / max(p95(empty), 1e-6):.2f}"
    )


if __name__ == "__main__":
    main()

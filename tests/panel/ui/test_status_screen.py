"""The status screen, rendered for real with Kivy offscreen and looked at by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.domain import Meeting
from tapin.ui.theme import STATE_COLOURS, rgba

pytestmark = pytest.mark.ui


def texts(widget) -> list[str]:
    found = [widget.text] if hasattr(widget, "text") and isinstance(widget.text, str) else []
    for child in widget.children:
        found += texts(child)
    return found


def close(pixel, hex_colour: str, tolerance: int = 6) -> bool:
    expected = [round(c * 255) for c in rgba(hex_colour)[:3]]
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


@pytest.fixture
def demo(tmp_path: Path):
    # 09:20 in Stockholm on a Monday
    clock = ManualClock(datetime(2026, 11, 30, 8, 20, tzinfo=UTC))
    runtime = demo_runtime(demo_config(tmp_path / "state"), clock=clock)
    return runtime, clock


def test_busy_room_shows_red_block_words_and_meeting(screen, run_panel, demo, tmp_path) -> None:
    runtime, _ = demo
    app = run_panel(runtime, "aurora")
    shown = texts(app.root)
    assert "Aurora" in shown and "Busy" in shown
    assert any(t.startswith("Busy until ") for t in shown)
    assert "09:20" in shown
    frame = screen.grab()
    assert (frame.width, frame.height) == (800, 480)
    assert close(frame.pixel(8, 200), STATE_COLOURS["busy"])
    png = screen.save(tmp_path / "busy.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_free_room_turns_green_when_the_meeting_ends(screen, run_panel, demo) -> None:
    runtime, clock = demo
    app = run_panel(runtime, "aurora")
    status = runtime.calendar.status("aurora", clock())
    assert status.until is not None
    clock.now = status.until + timedelta(minutes=1)
    app.refresh()
    screen.frames(3)
    shown = texts(app.root)
    assert "Free" in shown or "Starting soon" in shown
    state = app.status_screen.view.state
    assert close(screen.grab().pixel(8, 200), STATE_COLOURS[state])


def test_screen_follows_a_new_calendar_from_memory(screen, run_panel, demo) -> None:
    runtime, clock = demo
    app = run_panel(runtime, "aurora")
    start = clock() + timedelta(minutes=5)
    runtime.calendar.replace_room(
        "aurora",
        [
            Meeting(
                id="x",
                room_id="aurora",
                start=start,
                end=start + timedelta(hours=1),
                subject="Vendor pitch",
                organiser_id="p-anna",
            )
        ],
    )
    screen.frames(3)  # the store's change triggers a refresh on the next frame
    shown = texts(app.root)
    assert "Starting soon" in shown and "Vendor pitch" in shown and "Anna Lindqvist" in shown


def test_private_and_invisible_never_drawn(screen, run_panel, demo) -> None:
    runtime, clock = demo
    now = clock()
    runtime.calendar.replace_room(
        "aurora",
        [
            Meeting(
                id="a",
                room_id="aurora",
                start=now - timedelta(minutes=10),
                end=now + timedelta(minutes=20),
                subject="Secret merger",
                organiser_id="p-anna",
                private=True,
            ),
            Meeting(
                id="b",
                room_id="aurora",
                start=now + timedelta(minutes=30),
                end=now + timedelta(minutes=60),
                subject="Hiring sync",
                organiser_id="p-farid",
            ),  # Farid is invisible in the demo
        ],
    )
    app = run_panel(runtime, "aurora")
    shown = " | ".join(texts(app.root))
    assert "Private meeting" in shown and "Hiring sync" in shown
    for secret in ("Secret merger", "Anna", "Farid", "Haddad"):
        assert secret not in shown


def test_unknown_calendar_says_so_in_grey(screen, run_panel, tmp_path) -> None:
    from tapin.device.runtime import empty_runtime

    runtime = empty_runtime(demo_config(tmp_path / "state"))
    app = run_panel(runtime, "aurora")
    shown = texts(app.root)
    assert "Calendar unavailable" in shown and "Free" not in shown
    assert close(screen.grab().pixel(8, 200), STATE_COLOURS["unavailable"])


def test_a_touch_reaches_the_status_block(screen, run_panel, demo) -> None:
    runtime, _ = demo
    app = run_panel(runtime, "aurora")
    block = app.status_screen.ids.status_block
    touched: list[tuple[float, float]] = []
    block.bind(on_touch_down=lambda _w, touch: touched.append(touch.pos))
    screen.tap_widget(block)
    assert touched and block.collide_point(*touched[0])


def test_offline_banner_is_drawn_above_the_status(screen, run_panel, demo, tmp_path) -> None:
    from types import SimpleNamespace

    from tapin.ui.theme import PALETTE

    runtime, _ = demo
    runtime.sync_status = SimpleNamespace(
        reachable=False, pending=4, inflight=0, last_contact=None, problem=None
    )
    app = run_panel(runtime, "aurora")
    assert "Offline — 4 changes waiting" in texts(app.root)
    assert close(screen.grab().pixel(400, 10), PALETTE["offline"])
    screen.save(tmp_path / "offline.png")
    runtime.sync_status.reachable = True
    app.refresh()
    screen.frames(3)
    assert "Offline — 4 changes waiting" not in texts(app.root)
    assert not close(screen.grab().pixel(400, 10), PALETTE["offline"])

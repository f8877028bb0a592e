"""The status screen, rendered for real with Kivy offscreen and looked at by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.domain import Meeting
from tapin.ui.theme import PALETTE, STATE_COLOURS, STATE_INK, rgba

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
    assert "Meetings not known yet" in shown and "No meetings today" not in shown


def test_a_touch_reaches_the_status_block(screen, run_panel, demo) -> None:
    runtime, _ = demo
    app = run_panel(runtime, "aurora")
    block = app.status_screen.ids.status_block
    touched: list[tuple[float, float]] = []
    block.bind(on_touch_down=lambda _w, touch: touched.append(touch.pos))
    screen.tap_widget(block)
    assert touched and block.collide_point(*touched[0])


def test_offline_is_a_notice_and_the_status_card_keeps_its_size(
    screen, run_panel, demo, tmp_path
) -> None:
    # changed on purpose: the offline banner was a strip on top that pushed the card down
    from types import SimpleNamespace

    runtime, _ = demo
    app = run_panel(runtime, "aurora")
    block = app.status_screen.ids.status_block
    size, pos = tuple(block.size), tuple(block.pos)
    runtime.sync_status = SimpleNamespace(
        reachable=False, pending=4, inflight=0, last_contact=None, problem=None
    )
    app.controller.notify("Booking confirmed")
    app.refresh()
    screen.frames(4)
    assert "Offline — 4 changes waiting" in texts(app.root)
    card = app.status_screen.notice_card("offline")
    assert card is not None and app.status_screen.notice_card("info") is not None
    x, y = card.to_window(card.x + 6, card.center_y)
    assert close(screen.grab().pixel(int(x), int(screen.window.height - y)), PALETTE["offline"])
    assert (tuple(block.size), tuple(block.pos)) == (size, pos)  # never squeezed
    assert close(screen.grab().pixel(8, 200), STATE_COLOURS["busy"])
    screen.save(tmp_path / "offline.png")
    runtime.sync_status.reachable = True
    app.refresh()
    screen.frames(3)
    assert "Offline — 4 changes waiting" not in texts(app.root)
    assert app.status_screen.notice_card("offline") is None


def test_awaiting_check_in_is_blue_and_says_reserved(screen, run_panel, demo) -> None:
    runtime, clock = demo
    start = clock() - timedelta(minutes=2)
    runtime.calendar.replace_room(
        "aurora",
        [Meeting(id="m", room_id="aurora", start=start, end=start + timedelta(minutes=30))],
    )
    app = run_panel(runtime, "aurora")
    shown = texts(app.root)
    assert "Reserved" in shown and "Check in" in shown  # the word, and the button
    assert app.status_screen.action_button("checkin") is not None
    assert close(screen.grab().pixel(8, 200), STATE_COLOURS["awaiting_checkin"])
    assert (
        app.status_screen.ids.state_word.color[:3] == list(rgba(STATE_INK["awaiting_checkin"]))[:3]
    )


def test_full_colour_mode_paints_the_whole_screen(screen, run_panel, demo, tmp_path) -> None:
    from panel.screens.status import AgendaRow

    runtime, clock = demo
    app = run_panel(runtime, "aurora")
    assert close(screen.grab().pixel(792, 240), PALETTE["panel_bg"])
    app.status_screen.full_colour = True
    screen.frames(4)
    frame = screen.grab()
    assert close(frame.pixel(792, 240), STATE_COLOURS["busy"])  # the side column too
    assert close(frame.pixel(8, 200), STATE_COLOURS["busy"])
    screen.save(tmp_path / "full.png")
    upcoming = runtime.calendar.status("aurora", clock()).next
    assert upcoming is not None
    clock.now = upcoming.start - timedelta(minutes=5)  # starting soon: light, dark ink
    app.refresh()
    screen.frames(4)
    assert app.status_screen.look == "starting_soon"
    assert close(screen.grab().pixel(792, 240), STATE_COLOURS["starting_soon"])
    rows = [r for r in app.status_screen.ids.agenda.children if isinstance(r, AgendaRow)]
    dark = list(rgba(STATE_INK["starting_soon"]))
    assert rows and all(list(r.ink) == dark for r in rows)


def test_many_meetings_end_in_plus_n_more(screen, run_panel, demo) -> None:
    runtime, clock = demo
    now = clock()
    runtime.calendar.replace_room(
        "aurora",
        [
            Meeting(
                id=f"m{n}",
                room_id="aurora",
                start=now + timedelta(minutes=30 + 45 * n),
                end=now + timedelta(minutes=60 + 45 * n),
                subject=f"Sprint {n}",
            )
            for n in range(9)
        ],
    )
    app = run_panel(runtime, "aurora")
    screen.frames(3)
    agenda = app.status_screen.ids.agenda
    shown = texts(agenda)
    listed = [t for t in shown if t.startswith("Sprint ")]
    more = [t for t in shown if t.endswith(" more")]
    assert listed and more and int(more[0].split()[0].lstrip("+")) == 9 - len(listed)
    assert all(row.y >= agenda.y - 1 for row in agenda.children)  # nothing hangs below
    assert len(app.status_screen.ids.timeline.blocks) == 9  # the timeline shows them all


def test_no_calendar_is_not_a_dead_end(screen, run_panel, tmp_path) -> None:
    from tapin.device.runtime import empty_runtime

    runtime = empty_runtime(demo_config(tmp_path / "state"))
    app = run_panel(runtime, "aurora")
    gone: list[str] = []
    app.ctx.go = gone.append
    assert app.status_screen.action_button("find") is not None
    assert app.status_screen.action_button("report") is not None
    assert app.status_screen.action_button("book") is None
    timeline = app.status_screen.ids.timeline
    assert timeline.unknown and "Today's meetings are not known" in texts(timeline)
    screen.tap_widget(app.status_screen.action_button("find"))
    assert gone == ["find_room"]


def test_timeline_dims_past_meetings_and_keeps_the_evening(screen, run_panel, demo) -> None:
    runtime, clock = demo
    clock.now = datetime(2026, 11, 30, 19, 30, tzinfo=UTC)  # 20:30 in Stockholm
    day = datetime(2026, 11, 30, tzinfo=UTC)
    runtime.calendar.replace_room(
        "aurora",
        [
            Meeting(id="a", room_id="aurora", start=day.replace(hour=9), end=day.replace(hour=10)),
            Meeting(id="b", room_id="aurora", start=day.replace(hour=20), end=day.replace(hour=21)),
        ],
    )
    app = run_panel(runtime, "aurora")
    screen.frames(3)
    timeline = app.status_screen.ids.timeline
    frame = screen.grab()

    def block_pixel(block) -> tuple[int, int, int]:
        x = timeline.x + (block.start + block.end) / 2 * timeline.width
        y = timeline.y + timeline.height * 0.55
        return frame.pixel(int(x), int(screen.window.height - y))

    past, evening = timeline.blocks
    assert close(block_pixel(past), PALETTE["timeline_busy_past"])
    assert close(block_pixel(evening), PALETTE["timeline_busy"])
    assert evening.end == 1.0 and texts(timeline)[0] == "22:00"  # 21:00–22:00 is on it
    knob = 8 * timeline.unit
    assert timeline.x + knob <= timeline.marker_x() <= timeline.right - knob

"""Every panel action by real touches on the offscreen window: what the screen shows,
and the sealed event that reaches the queue (opened here with central's key)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import AsyncSealedQueue
from sync.wire import open_epoch_key, open_payload
from tapin.demo.central import DemoCentral
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.domain import Meeting
from tests.panel.ui.test_status_screen import texts

pytestmark = pytest.mark.ui
KEY = X25519PrivateKey.generate()
NOW = datetime(2026, 11, 30, 8, 20, tzinfo=UTC)  # 09:20 in Stockholm


@pytest.fixture
async def panel(screen, run_panel, tmp_path: Path):
    clock = ManualClock(NOW)
    runtime = demo_runtime(demo_config(tmp_path / "state"), clock=clock)
    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()

    def start(*meetings: Meeting):
        runtime.calendar.replace_room("aurora", meetings)
        app = run_panel(runtime, "aurora", sink=queue)
        central = DemoCentral(queue, KEY, runtime.calendar, app.controller.on_results)
        return app, central

    yield start, queue, clock, runtime
    await queue.close()


async def settle(app, screen) -> None:
    for _ in range(20):
        if not app.tasks:
            break
        await asyncio.gather(*list(app.tasks))
    app.refresh()
    screen.frames(3)


async def sealed(queue: AsyncSealedQueue) -> list[tuple[str, dict, object]]:
    batch = await queue.take_batch(100)
    await queue.release_inflight()
    return [
        (e.type, open_payload(e, open_epoch_key(e.epoch, batch.epochs[e.epoch], KEY)), e)
        for e in batch.events
    ]


def meeting(mid: str, start: datetime, minutes: int, **kw) -> Meeting:
    return Meeting(
        id=mid,
        room_id="aurora",
        start=start,
        end=start + timedelta(minutes=minutes),
        subject=kw.pop("subject", "Planning"),
        organiser_id="p-anna",
        **kw,
    )


def tap_choice(screen, app, label: str) -> None:
    dialog = app.status_screen.dialog
    assert dialog is not None, "no dialog opened"
    screen.frames(2)
    screen.tap_widget(dialog.buttons[label])


async def test_book_now_pending_then_confirmed(screen, panel, tmp_path) -> None:
    start, queue, _clock, _ = panel
    app, central = start(meeting("later", NOW + timedelta(minutes=50), 30))
    assert "Free" in texts(app.root)
    screen.tap_widget(app.status_screen.action_button("book"))
    assert set(app.status_screen.dialog.buttons) == {"15 min", "30 min", "45 min"}
    tap_choice(screen, app, "30 min")
    await settle(app, screen)
    shown = texts(app.root)
    assert "Busy" in shown and "Booked at the panel" in shown
    assert any(t.startswith("NOW · PENDING") for t in shown)
    screen.save(tmp_path / "book-pending.png")
    ((kind, _payload, event),) = await sealed(queue)
    assert kind == "booking.create" and event.resource == "room:aurora"
    assert event.ends_at is not None
    assert datetime.fromisoformat(event.ends_at) - datetime.fromisoformat(event.starts_at) == (
        timedelta(minutes=30)
    )
    assert await central.drain_once() == 1
    await settle(app, screen)
    shown = texts(app.root)
    assert "Booking confirmed" in shown
    assert not any("PENDING" in t for t in shown)


async def test_rejected_booking_is_undone_on_screen(screen, panel, tmp_path) -> None:
    start, _queue, _clock, runtime = panel
    app, central = start()
    screen.tap_widget(app.status_screen.action_button("book"))
    tap_choice(screen, app, "15 min")
    await settle(app, screen)
    assert "Busy" in texts(app.root)
    # meanwhile someone booked the room in their calendar (the next snapshot says so)
    runtime.calendar.replace_room("aurora", [meeting("cal", NOW, 60, subject="Board call")])
    await central.drain_once()
    await settle(app, screen)
    shown = texts(app.root)
    assert any("Not done" in t and "calendar" in t for t in shown)
    assert "Booked at the panel" not in shown and "Board call" in shown
    screen.save(tmp_path / "book-rejected.png")


async def test_check_in_extend_and_end_by_touch(screen, panel, tmp_path) -> None:
    start, queue, _clock, _ = panel
    app, _central = start(meeting("m", NOW - timedelta(minutes=2), 30))
    assert "Check in" in texts(app.root)  # awaiting check-in
    screen.save(tmp_path / "awaiting-checkin.png")
    screen.tap_widget(app.status_screen.action_button("checkin"))
    await settle(app, screen)
    assert "Busy" in texts(app.root)

    screen.tap_widget(app.status_screen.action_button("extend"))
    tap_choice(screen, app, "+15 min")
    await settle(app, screen)
    assert app.controller.current().end == NOW + timedelta(minutes=43)

    screen.tap_widget(app.status_screen.action_button("end"))
    tap_choice(screen, app, "End now")
    await settle(app, screen)
    assert "Free" in texts(app.root)
    kinds = [(k, p.get("meeting_id") or p.get("booking_id")) for k, p, _ in await sealed(queue)]
    assert kinds == [("meeting.checkin", "m"), ("booking.extend", "m"), ("booking.end", "m")]


async def test_no_show_release_shows_the_room_free(screen, panel) -> None:
    start, queue, _clock, _ = panel
    app, _central = start(meeting("ghost", NOW - timedelta(minutes=11), 60))
    assert app.status_screen.view.state == "busy"
    app._release_check()
    await settle(app, screen)
    shown = texts(app.root)
    assert "Free" in shown and "Nobody checked in: the room was released" in shown
    ((kind, payload, _),) = await sealed(queue)
    assert (kind, payload["meeting_id"], payload["reason"]) == (
        "meeting.release",
        "ghost",
        "no_show",
    )


async def test_actions_refused_without_a_queue_say_so(screen, run_panel, tmp_path) -> None:
    runtime = demo_runtime(demo_config(tmp_path / "s"), clock=ManualClock(NOW))
    runtime.calendar.replace_room("aurora", [])
    app = run_panel(runtime, "aurora")
    screen.tap_widget(app.status_screen.action_button("book"))
    tap_choice(screen, app, "15 min")
    await settle(app, screen)
    shown = texts(app.root)
    assert any("not connected" in t for t in shown) and "Free" in shown


async def test_holding_the_room_name_opens_the_admin_prompt(screen, panel) -> None:
    from kivy.tests.common import UnitTestTouch

    start, *_ = panel
    app, _ = start()
    gone: list[str] = []
    app.ctx.go = gone.append
    name = app.status_screen.ids.room_name
    x, y = name.to_window(*name.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    time.sleep(0.5)
    screen.frames(2)
    touch.touch_up()
    assert gone == []  # a short tap does nothing
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    time.sleep(3.1)
    screen.frames(2)
    touch.touch_up()
    assert gone == ["admin_pin"]


@pytest.fixture
async def boardroom(screen, run_panel, tmp_path: Path):
    """Måne, the demo boardroom, asks who is booking."""
    runtime = demo_runtime(demo_config(tmp_path / "state"), clock=ManualClock(NOW))
    runtime.calendar.replace_room("mane", [])
    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()
    app = run_panel(runtime, "mane", sink=queue)
    yield app, queue
    await queue.close()


def ask_who(screen, app):
    screen.tap_widget(app.status_screen.action_button("book"))
    tap_choice(screen, app, "30 min")
    screen.frames(2)
    who = app.status_screen.who
    assert who is not None, "the boardroom must ask who is booking"
    return who


async def test_who_is_booking_by_name_search(screen, boardroom, tmp_path) -> None:
    app, queue = boardroom
    who = ask_who(screen, app)
    who.ids.query.text = "björ"
    screen.frames(2)
    assert list(who.buttons) == ["Björn Ek"]
    screen.save(tmp_path / "who.png")
    screen.tap_widget(who.buttons["Björn Ek"])
    await settle(app, screen)
    ((kind, payload, _),) = await sealed(queue)
    assert kind == "booking.create" and payload["booked_by"] == "p-bjorn"
    assert "Busy" in texts(app.root)


async def test_who_is_booking_by_badge_and_never_an_invisible_person(screen, boardroom) -> None:
    app, queue = boardroom
    who = ask_who(screen, app)
    who.ids.query.text = "04A057F3C"  # Farid's badge: he is invisible
    who.ids.query.dispatch("on_text_validate")
    screen.frames(2)
    assert "not recognised" in who.message and await queue.rows() == []
    who.ids.query.text = "Farid"
    screen.frames(2)
    assert who.buttons == {}
    who.ids.query.text = "04a00 7f3c"  # Anna's badge as a reader might type it
    who.ids.query.dispatch("on_text_validate")
    await settle(app, screen)
    ((_, payload, _),) = await sealed(queue)
    assert payload["booked_by"] == "p-anna"


async def test_cancelling_who_books_nothing(screen, boardroom) -> None:
    app, queue = boardroom
    who = ask_who(screen, app)
    screen.tap_widget(who.ids.cancel)
    await settle(app, screen)
    assert await queue.rows() == [] and "Free" in texts(app.root)


PX_PER_MM = 800 / 154.0  # the official Pi 7" screen: 800 px over 154 mm


async def test_every_touch_target_is_at_least_9_mm(screen, panel) -> None:
    from kivy.uix.button import ButtonBehavior

    start, *_ = panel
    app, _ = start()
    small: list[str] = []
    seen: list[str] = []
    for name in app.manager.screen_names:
        app.go(name)
        screen.frames(3)

        def walk(widget, where: str = name) -> None:
            if isinstance(widget, ButtonBehavior) and widget.opacity > 0 and widget.height > 0:
                seen.append(where)
                if min(widget.width, widget.height) < 9 * PX_PER_MM:
                    small.append(f"{where}: {getattr(widget, 'text', '?')!r} {widget.size}")
            for child in widget.children:
                walk(child)

        walk(app.manager.current_screen)
    app.go("status")
    assert small == []
    assert {"status", "find_room", "report", "admin_pin"} <= set(seen) and len(seen) > 20


async def test_keep_the_room_button_when_the_room_seems_empty(screen, panel) -> None:
    from presence.interface import Occupancy, OccupancyReading

    start, *_ = panel
    app, _ = start(meeting("m", NOW - timedelta(minutes=30), 60, checked_in=True))
    app.controller.occupancy.set(
        "aurora", OccupancyReading(Occupancy.VACANT, "0", 0.9, since=NOW - timedelta(minutes=12))
    )
    await app.controller.presence_tick()
    await settle(app, screen)
    keep = app.status_screen.action_button("keep")
    assert keep is not None and "seems empty" in " ".join(texts(app.root))
    screen.tap_widget(keep)
    await settle(app, screen)
    assert app.status_screen.action_button("keep") is None
    assert "Busy" in texts(app.root)

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
from sync.wire import SealedEvent, open_epoch_key, open_payload
from tapin.demo.central import DemoCentral
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.domain import Meeting
from tapin.ui.theme import STATE_COLOURS, STATE_HATCH
from tests.panel.ui.test_status_screen import close, texts

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


async def sealed(queue: AsyncSealedQueue) -> list[tuple[str, dict, SealedEvent]]:
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


def stripes(screen) -> set[str]:
    """Which of the busy fill and its stripe colour the status card's top edge shows."""
    frame = screen.grab()
    found = set()
    for x in range(4, 470, 3):
        for name, colour in (("fill", STATE_COLOURS["busy"]), ("stripe", STATE_HATCH["busy"])):
            if close(frame.pixel(x, 4), colour, 10):
                found.add(name)
    return found


async def test_book_now_pending_then_confirmed(screen, panel, tmp_path) -> None:
    start, queue, _clock, _ = panel
    app, central = start(meeting("later", NOW + timedelta(minutes=50), 30))
    assert "Free" in texts(app.root)
    screen.tap_widget(app.status_screen.action_button("book"))
    buttons = app.status_screen.dialog.buttons
    assert set(buttons) == {"15 min", "30 min", "45 min"}
    assert buttons["30 min"].text == "30 min\nuntil 09:50"  # each choice says its end
    tap_choice(screen, app, "30 min")
    await settle(app, screen)
    shown = texts(app.root)
    # changed on purpose: a booking waiting for central used to look plainly "Busy"
    assert "Booking…" in shown and "Waiting for confirmation" in shown and "Busy" not in shown
    assert "Until 09:50 · not confirmed yet" in shown and "Booked at the panel" in shown
    assert any(t.startswith("NOW · PENDING") for t in shown)
    assert stripes(screen) == {"fill", "stripe"}  # hatched, not the solid busy colour
    screen.save(tmp_path / "book-pending.png")
    ((kind, _payload, event),) = await sealed(queue)
    assert kind == "booking.create" and event.resource == "room:aurora"
    assert event.ends_at is not None and event.starts_at is not None
    assert datetime.fromisoformat(event.ends_at) - datetime.fromisoformat(event.starts_at) == (
        timedelta(minutes=30)
    )
    assert await central.drain_once() == 1
    await settle(app, screen)
    shown = texts(app.root)
    assert "Booking confirmed" in shown and "Busy" in shown
    assert not any("PENDING" in t for t in shown)
    assert stripes(screen) == {"fill"}


async def booked_then_refused(screen, panel):
    """Book 30 min; meanwhile the calendar gets a meeting in 20 min; central refuses."""
    start, _queue, _clock, runtime = panel
    app, central = start()
    screen.tap_widget(app.status_screen.action_button("book"))
    tap_choice(screen, app, "30 min")
    await settle(app, screen)
    assert "Booking…" in texts(app.root)
    soon = NOW + timedelta(minutes=20)
    runtime.calendar.replace_room("aurora", [meeting("cal", soon, 60, subject="Board call")])
    await central.drain_once()
    await settle(app, screen)
    dialog = app.status_screen.rejection_dialog
    assert dialog is not None and dialog in screen.window.children, "no refusal dialog"
    return app, dialog


async def test_rejected_booking_says_not_booked_until_closed(screen, panel, tmp_path) -> None:
    app, dialog = await booked_then_refused(screen, panel)
    # changed on purpose: the refusal was a thin banner; now a dialog in words
    assert dialog.title == "Not booked"
    assert dialog.detail == "The room is booked in the calendar from 09:40 to 10:40"
    assert set(dialog.buttons) == {"Find another room", "Try again"}
    shown = texts(app.root)
    assert "Booked at the panel" not in shown and "Board call" in shown  # undone on screen
    screen.save(tmp_path / "book-rejected.png")
    app.refresh()
    screen.frames(3)
    assert app.status_screen.rejection_dialog is dialog  # stays until answered
    screen.tap_widget(dialog.ids.cancel)  # "Close"
    await settle(app, screen)
    assert app.controller.rejected is None
    assert dialog not in screen.window.children
    assert app.status_screen.rejection_dialog is None


async def test_rejected_booking_find_another_room(screen, panel) -> None:
    app, dialog = await booked_then_refused(screen, panel)
    screen.tap_widget(dialog.buttons["Find another room"])
    await settle(app, screen)
    assert app.manager.current == "find_room" and app.controller.rejected is None


async def test_rejected_booking_try_again_offers_what_fits_now(screen, panel) -> None:
    app, dialog = await booked_then_refused(screen, panel)
    screen.tap_widget(dialog.buttons["Try again"])
    await settle(app, screen)
    assert app.controller.rejected is None
    again = app.status_screen.dialog
    assert again is not None and again in screen.window.children
    assert set(again.buttons) == {"15 min"}  # the board call starts in 20 minutes
    assert again.buttons["15 min"].text == "15 min\nuntil 09:35"


async def test_rejected_check_in_has_no_booking_alternatives(screen, panel) -> None:
    start, *_ = panel
    app, _central = start(meeting("m", NOW - timedelta(minutes=2), 30))
    screen.tap_widget(app.status_screen.action_button("checkin"))
    await settle(app, screen)
    app.controller.on_results(
        [
            {"id": i, "outcome": "rejected", "code": "state", "detail": {"why": "changed"}}
            for i in app.controller.pending_ids()
        ]
    )
    await settle(app, screen)
    dialog = app.status_screen.rejection_dialog
    assert dialog is not None and dialog.title == "Not checked in"
    assert dialog.detail == "The meeting changed meanwhile"
    assert set(dialog.buttons) == {"Close"} and dialog.cancel_text == ""
    assert "Reserved" in texts(app.root)  # the check-in is undone
    screen.tap_widget(dialog.buttons["Close"])
    await settle(app, screen)
    assert app.controller.rejected is None and app.status_screen.rejection_dialog is None


async def test_check_in_extend_and_end_by_touch(screen, panel, tmp_path) -> None:
    start, queue, _clock, _ = panel
    app, _central = start(meeting("m", NOW - timedelta(minutes=2), 30))
    assert "Reserved" in texts(app.root) and "Check in" in texts(app.root)  # awaiting
    screen.save(tmp_path / "awaiting-checkin.png")
    screen.tap_widget(app.status_screen.action_button("checkin"))
    await settle(app, screen)
    assert "Busy" in texts(app.root)

    screen.tap_widget(app.status_screen.action_button("extend"))
    assert app.status_screen.dialog.buttons["+15 min"].text == "+15 min\nuntil 10:03"
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
    error = app.status_screen.notice_card("error")
    assert error is not None and "Tap to close" in error.ids.words.text
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    clock.now = NOW + timedelta(minutes=10)  # an error outlasts any visit
    await settle(app, screen)
    assert app.status_screen.notice_card("error") is not None
    screen.tap_widget(error)
    await settle(app, screen)
    assert app.status_screen.notice_card("error") is None
    assert not any("not connected" in t for t in texts(app.root))


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
    assert "Booking…" in texts(app.root)


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
                walk(child, where)

        walk(app.manager.current_screen)
    app.go("status")
    screen.frames(2)
    for action in ("book", "end"):  # and the dialogs' choices
        if action == "end":
            app.status_screen.dialog.dismiss(animation=False)
            app.controller.calendar.replace_room("aurora", [meeting("m", NOW, 30)])
            app.refresh()
            screen.frames(2)
        app.status_screen.act(action)
        screen.frames(3)
        walk(app.status_screen.dialog, f"{action} dialog")
    assert small == []
    assert {"status", "find_room", "report", "book dialog", "end dialog"} <= set(seen)
    assert len(seen) > 20


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

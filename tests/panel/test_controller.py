"""Panel actions: each one shows at once, lands in the real sealed queue, and follows
central's answer (confirmed, or undone with the reason)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from panel.controller import BOOKED_HERE, ActionError, PanelController
from presence.interface import Occupancy, OccupancyReading, SimulatedOccupancy
from sync.queue import AsyncSealedQueue
from sync.wire import open_epoch_key, open_payload
from tapin.calendar import CalendarStore
from tapin.demo.clock import ManualClock
from tapin.domain import Meeting, Room

Z = ZoneInfo("Europe/Stockholm")
KEY = X25519PrivateKey.generate()
ROOM = Room(id="aurora", name="Aurora", floor=3, capacity=8)


def t(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 30, h, m, tzinfo=Z)


@pytest.fixture
async def setup(tmp_path: Path):
    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()
    calendar = CalendarStore(Z)
    calendar.replace_room(
        "aurora",
        [
            Meeting(
                id="m-10",
                room_id="aurora",
                start=t(10),
                end=t(11),
                subject="Budget",
                organiser_id="p-anna",
            )
        ],
    )
    clock = ManualClock(t(9, 7))
    occupancy = SimulatedOccupancy()
    controller = PanelController(
        calendar, "aurora", queue, clock=clock, room=lambda: ROOM, occupancy=occupancy
    )
    yield controller, queue, clock, occupancy
    await queue.close()


async def opened(queue: AsyncSealedQueue) -> list[tuple[str, dict]]:
    batch = await queue.take_batch(100)
    await queue.release_inflight()
    out = []
    for event in batch.events:
        key = open_epoch_key(event.epoch, batch.epochs[event.epoch], KEY)
        out.append((event.type, open_payload(event, key)))
    return out


async def test_book_now_shows_pending_then_confirmed(setup) -> None:
    controller, queue, clock, _ = setup
    assert controller.book_now_choices() == [15, 30, 45]  # the 10:00 meeting caps it
    booking = await controller.book_now(30)
    (shown,) = [m for m in controller.meetings() if m.id == booking.id]
    assert shown.pending and shown.subject == BOOKED_HERE
    assert shown.start == t(9, 7) and shown.end == t(9, 37)
    assert controller.calendar.status("aurora", clock()).state == "busy"
    ((kind, payload),) = await opened(queue)
    assert kind == "booking.create" and payload["booking_id"] == booking.id
    (row,) = await queue.rows()
    assert row.resource == "room:aurora" and row.starts_at == t(9, 7)
    controller.on_results([{"id": row.id, "outcome": "applied"}])
    (shown,) = [m for m in controller.meetings() if m.id == booking.id]
    assert not shown.pending
    assert controller.notices[-1].text == "Booking confirmed"


async def test_rejected_booking_is_undone_and_explained(setup) -> None:
    controller, queue, clock, _ = setup
    booking = await controller.book_now(15)
    (row,) = await queue.rows()
    controller.on_results(
        [
            {
                "id": row.id,
                "outcome": "rejected",
                "reason": "the room is booked in the calendar from 09:15 to 09:45",
                "code": "conflict",
                "detail": {
                    "with": "calendar",
                    "start": t(9, 15).isoformat(),
                    "end": t(9, 45).isoformat(),
                },
            }
        ]
    )
    assert booking.id not in {m.id for m in controller.meetings()}
    assert controller.calendar.status("aurora", clock()).state == "free"
    rejected = controller.rejected
    assert rejected is not None and rejected.kind == "booking.create"
    assert rejected.words == "The room is booked in the calendar from 09:15 to 09:45"
    controller.acknowledge()
    assert controller.rejected is None


async def test_book_now_refuses_what_the_rules_refuse(setup) -> None:
    controller, queue, clock, _ = setup
    with pytest.raises(ActionError, match="not free for that long"):
        await controller.book_now(60)
    clock.now = t(10, 15)
    assert controller.book_now_choices() == []
    with pytest.raises(ActionError):
        await controller.book_now(15)
    assert await queue.rows() == []


async def test_check_in_inside_the_window_only(setup) -> None:
    controller, queue, clock, _ = setup
    with pytest.raises(ActionError, match="no meeting to check in"):
        await controller.check_in()
    clock.now = t(9, 52)
    await controller.check_in()
    (m,) = controller.meetings()
    assert m.checked_in and m.pending
    ((kind, payload),) = await opened(queue)
    assert kind == "meeting.checkin" and payload["meeting_id"] == "m-10"
    clock.now = t(10, 30)
    assert await controller.release_no_shows() == []  # checked in: never released


async def test_no_show_is_released_unless_someone_is_there(setup) -> None:
    controller, queue, clock, occupancy = setup
    clock.now = t(10, 10)
    occupancy.set("aurora", OccupancyReading(Occupancy.OCCUPIED, "1-2", 0.9))
    assert await controller.release_no_shows() == []
    occupancy.set("aurora", OccupancyReading(Occupancy.VACANT, None, 0.9))
    assert await controller.release_no_shows() == ["m-10"]
    assert controller.meetings() == ()
    assert controller.calendar.status("aurora", clock()).state == "free"
    assert await controller.release_no_shows() == []  # once
    ((kind, payload),) = await opened(queue)
    assert (kind, payload["reason"]) == ("meeting.release", "no_show")


async def test_extend_and_end_early(setup) -> None:
    controller, queue, clock, _ = setup
    clock.now = t(10, 20)
    assert controller.extend_choices() == [15, 30, 45, 60]
    longer = await controller.extend(30)
    assert longer.end == t(11, 30) and controller.current().end == t(11, 30)
    controller.calendar.replace_room(
        "aurora",
        [
            Meeting(id="m-10", room_id="aurora", start=t(10), end=t(11)),
            Meeting(id="m-12", room_id="aurora", start=t(12), end=t(13)),
        ],
    )
    assert controller.extend_choices() == [15, 30]  # from 11:30 until 12:00
    with pytest.raises(ActionError, match="cannot be extended"):
        await controller.extend(45)
    rows = await queue.rows()
    controller.on_results([{"id": rows[0].id, "outcome": "rejected", "reason": "no"}])
    assert controller.current().end == t(11)  # undone
    clock.now = t(
        10,
        40,
    )
    await controller.end_now()
    assert controller.current() is None
    assert controller.calendar.status("aurora", clock()).state == "free"
    kinds = [k for k, _ in await opened(queue)]
    assert kinds[-1] == "booking.end"


async def test_report_issue_is_sealed_with_text_and_photo(setup) -> None:
    controller, queue, _, _ = setup
    with pytest.raises(ActionError, match="Choose"):
        await controller.report_issue(controller.resource, "teleporter")
    with pytest.raises(ActionError, match="under 1000"):
        await controller.report_issue(controller.resource, "audio", "x" * 1001)
    await controller.report_issue(
        controller.resource, "display", "  HDMI 2 dead  ", b"\x89PNG fake"
    )
    ((kind, payload),) = await opened(queue)
    assert kind == "issue.report" and payload["category"] == "display"
    assert payload["text"] == "HDMI 2 dead" and payload["photo"]
    assert "HDMI" not in str(await queue.rows())


async def test_presence_checks_in_where_the_room_allows(setup) -> None:
    controller, queue, clock, occupancy = setup
    clock.now = t(9, 55)
    occupancy.set("aurora", OccupancyReading(Occupancy.OCCUPIED, "1-2", 0.9))
    await controller.presence_tick()
    assert not controller.meetings()[0].checked_in  # ROOM has presence_checkin off
    from dataclasses import replace

    controller._room = lambda: replace(ROOM, presence_checkin=True)
    await controller.presence_tick()
    assert controller.meetings()[0].checked_in
    ((kind, payload),) = await opened(queue)
    assert (kind, payload["meeting_id"]) == ("meeting.checkin", "m-10")


async def test_an_empty_checked_in_room_is_offered_then_released(setup) -> None:
    controller, queue, clock, occupancy = setup
    clock.now = t(9, 55)
    await controller.check_in()
    controller.on_results([{"id": (await queue.rows())[0].id, "outcome": "applied"}])
    occupancy.set("aurora", OccupancyReading(Occupancy.VACANT, "0", 0.9, since=t(10, 0)))
    clock.now = t(10, 9)
    await controller.presence_tick()
    assert controller.release_offer is None  # 9 minutes empty: nothing yet
    clock.now = t(10, 10)
    await controller.presence_tick()
    assert controller.release_offer == "m-10"
    assert "seems empty" in controller.notices[-1].text
    controller.keep()  # someone is still there
    clock.now = t(10, 19)
    await controller.presence_tick()
    assert controller.release_offer is None and controller.current() is not None
    clock.now = t(10, 20)
    await controller.presence_tick()
    assert controller.release_offer == "m-10"  # offered again 10 minutes after Keep
    clock.now = t(10, 30)
    await controller.presence_tick()
    assert controller.current() is None
    kinds = [(k, p.get("reason")) for k, p in await opened(queue)]
    assert kinds[-1] == ("meeting.release", "empty")


async def test_people_in_the_room_keep_a_meeting(setup) -> None:
    controller, queue, clock, occupancy = setup
    clock.now = t(9, 55)
    await controller.check_in()
    controller.on_results([{"id": (await queue.rows())[0].id, "outcome": "applied"}])
    occupancy.set("aurora", OccupancyReading(Occupancy.OCCUPIED, "3-5", 0.9, since=t(10)))
    clock.now = t(10, 50)
    await controller.presence_tick()
    assert controller.release_offer is None and controller.current() is not None

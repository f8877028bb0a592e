"""What the ledger (``applied_events``) holds for each kind of answer in one batch.

Every event is recorded first, as applied, while its payload is still being opened;
a rejection is then written over its row in the same transaction. These tests read
the rows back: the outcome, the reason and code the device was told, and
``created_at`` only for events whose payload opened (as before the rows were written
ahead of the opening).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from tests.central.conftest import World, later


async def _ledger(world: World, device_id: str) -> dict[str, tuple[Any, ...]]:
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_id::text, outcome, reason, code, detail, created_at"
            " FROM applied_events WHERE device_id = %s",
            [device_id],
        )
        return {row[0]: row[1:] for row in await cur.fetchall()}


async def test_each_answer_is_the_ledger_row_and_a_resend_gets_it_again(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    [taken] = await world.send(
        kiosk, kiosk.event("booking.create", "room:r1", {"booking_id": "b-kiosk"}, start, end)
    )
    assert taken["outcome"] == "applied"
    booked = panel.event("booking.create", "room:r1", {"booking_id": "b-1"}, start, end)
    good = panel.event(
        "booking.create", "room:r1", {"booking_id": "b-2"}, end, end + timedelta(minutes=30)
    )
    elsewhere = panel.event("issue.report", "room:r2", {"report_id": "i-1", "category": "other"})
    unknown = panel.event("no.such.type", "room:r1", {})
    sealed = panel.event("issue.report", "room:r1", {"report_id": "i-2", "category": "audio"})
    tampered = dataclasses.replace(sealed, resource="room:r2")
    batch = (booked, good, elsewhere, unknown, tampered)

    results = await world.send(panel, *batch)

    by_id = {r["id"]: r for r in results}
    assert [by_id[e.id]["outcome"] for e in batch] == [
        "rejected",
        "applied",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert [by_id[e.id].get("code") for e in batch] == [
        "conflict",  # decided by the database, after the checks
        None,
        "forbidden",  # decided by the checks (payload open)
        "unknown_type",  # refused before an item exists
        "unsealable",  # never opened
    ]
    rows = await _ledger(world, panel.id)
    assert len(rows) == len(batch)
    for event in batch:
        outcome, reason, code, detail, created = rows[event.id]
        answer = by_id[event.id]
        assert outcome == answer["outcome"]
        assert reason == answer.get("reason")
        assert code == answer.get("code")
        assert detail == answer.get("detail")
        opened = event not in (unknown, tampered)
        assert (created is not None) == opened, event.type
    assert rows[good.id][4].isoformat() == good.created_at
    assert await world.count("bookings", "device_id = %s", panel.id) == 1
    assert await world.count("issue_reports", "device_id = %s", panel.id) == 0

    again = await world.send(panel, *batch)
    assert [r["outcome"] for r in again] == ["rejected", "duplicate", *["rejected"] * 3]
    assert [r for r in again if r["outcome"] == "rejected"] == [
        r for r in results if r["outcome"] == "rejected"
    ]
    assert await _ledger(world, panel.id) == rows


async def test_new_events_next_to_ones_seen_before_and_repeats_in_the_batch(
    world: World,
) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    first = panel.event("booking.create", "room:r1", {"booking_id": "b-1"}, start, end)
    refused = panel.event("issue.report", "room:r1", {"report_id": "i-1", "category": "nope"})
    assert [r["outcome"] for r in await world.send(panel, first, refused)] == [
        "applied",
        "rejected",
    ]
    fresh = panel.event(
        "presence.sample",
        "room:r1",
        {"occupied_minutes": 2, "count_band": "1-2"},
        start - timedelta(minutes=5),
        start,
    )
    results = await world.send(panel, first, fresh, refused, fresh, first)
    assert [r["outcome"] for r in results] == [
        "duplicate",
        "applied",
        "rejected",
        "duplicate",
        "duplicate",
    ]
    assert results[2]["code"] == "invalid"
    assert await world.count("presence_samples", "device_id = %s", panel.id) == 1
    assert await world.count("bookings", "device_id = %s", panel.id) == 1
    rows = await _ledger(world, panel.id)
    assert {k: v[0] for k, v in rows.items()} == {
        first.id: "applied",
        refused.id: "rejected",
        fresh.id: "applied",
    }

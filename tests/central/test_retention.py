from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from central import run_retention
from tests.central.conftest import World, at, later


async def test_retention_deletes_old_history_and_keeps_new(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    await world.send(
        panel,
        panel.event("booking.create", "room:r1", {"booking_id": "b-new"}, start, end),
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-open"}),
        panel.event(
            "presence.sample", "room:r1", {"occupied_minutes": 0, "count_band": "0"}, start, end
        ),
        panel.event("issue.report", "room:r1", {"report_id": "i", "category": "audio"}),
    )
    await world.send(
        kiosk,
        kiosk.event(
            "visitor.signin",
            "lobby:l1",
            {"visitor_id": "v", "name": "Ada", "host_id": "p-vis", "accepted_terms": True},
        ),
    )
    old = datetime.now(UTC) - timedelta(days=120)
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO bookings (id, site_id, resource, during)"
            " VALUES ('b-old', 'alpha', 'room:r1', tstzrange(%s, %s))",
            [old, old + timedelta(hours=1)],
        )
        await conn.execute(
            "INSERT INTO applied_events (device_id, event_id, seq, type, outcome, applied_at)"
            " VALUES (%s, gen_random_uuid(), 0, 'booking.create', 'applied', %s)",
            [panel.id, old],
        )
        await conn.execute(
            "INSERT INTO presence_samples (site_id, resource, during, occupied_minutes, count_band)"
            " VALUES ('alpha', 'room:r1', tstzrange(%s, %s), 1, '1')",
            [old, old + timedelta(minutes=5)],
        )
        for table, column in (
            ("visitor_signins", "signed_in_at"),
            ("issue_reports", "reported_at"),
            ("checkins", "checked_in_at"),
            ("host_notifications", "created_at"),
        ):
            await conn.execute(f"UPDATE {table} SET {column} = %s", [old])
        await conn.execute(
            "UPDATE people SET last_active_at = %s WHERE id = 'p-inv'", [old - timedelta(days=300)]
        )
        await conn.execute(
            "INSERT INTO meetings (id, room_id, during) VALUES ('m-old', 'r1', tstzrange(%s, %s))",
            [old, old + timedelta(hours=1)],
        )

    counts = await run_retention(world.pool, datetime.now(UTC))

    assert counts["bookings"] == 1
    assert counts["applied_events"] == 1
    assert counts["presence_samples"] == 1
    assert counts["visitor_signins"] == 1
    assert counts["host_notifications"] == 1
    assert counts["issue_reports"] == 1
    assert counts["checkins"] == 1
    assert counts["meetings"] == 1
    assert counts["people"] == 1
    assert await world.count("bookings", "id = 'b-new'") == 1
    assert await world.count("presence_samples") == 1
    assert await world.count("applied_events") == 5
    assert await world.count("meetings") == 3
    assert await world.count("people", "id = 'p-vis'") == 1
    assert await world.count("people", "id = 'p-inv'") == 0
    again = await run_retention(world.pool, datetime.now(UTC))
    assert set(again.values()) == {0}


async def test_retention_needs_an_aware_time(world: World) -> None:
    with pytest.raises(ValueError):
        await run_retention(world.pool, datetime(2024, 1, 1))
    assert at(9).tzinfo is not None

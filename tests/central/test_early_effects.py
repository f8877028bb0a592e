"""Effects sent early: in pipeline mode central writes a batch's presence samples and
issue reports while it is still opening the rest of the batch, before the ledger has
said whether each event is new. These tests hold it to the exactly-once contract where
that assumption fails: batches longer than one parsing chunk, partly or wholly sent
before, sent twice at the same moment, or refused for a bad event late in the body."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from sync.wire import SealedEvent
from tests.central.conftest import Device, World, later

N = 300
"""Events per batch: more than two of central's parsing chunks (128)."""


def _mix(panel: Device, n: int = N, tag: str = "") -> list[SealedEvent]:
    """Presence samples and issue reports (the early lanes) with a booking now and then."""
    start, _ = later(days=2)
    events = []
    for i in range(n):
        if i % 25 == 0:
            slot = start + timedelta(minutes=30) * (i // 25)
            payload = {"booking_id": f"b{tag}-{i}"}
            events.append(
                panel.event(
                    "booking.create", "room:r1", payload, slot, slot + timedelta(minutes=30)
                )
            )
        elif i % 2:
            sample_start = start - timedelta(minutes=5) * (i + 1)
            events.append(
                panel.event(
                    "presence.sample",
                    "room:r1",
                    {"occupied_minutes": 1, "count_band": "1-2"},
                    sample_start,
                    sample_start + timedelta(minutes=5),
                )
            )
        else:
            payload = {"report_id": f"i{tag}-{i}", "category": "audio"}
            events.append(panel.event("issue.report", "room:r1", payload))
    return events


async def _counts(world: World) -> tuple[int, int, int, int]:
    return (
        await world.count("presence_samples"),
        await world.count("issue_reports"),
        await world.count("bookings"),
        await world.count("applied_events"),
    )


def _expected(events: list[SealedEvent]) -> tuple[int, int, int, int]:
    kinds = [e.type for e in events]
    return (
        kinds.count("presence.sample"),
        kinds.count("issue.report"),
        kinds.count("booking.create"),
        len(events),
    )


async def test_a_long_batch_applies_every_event_once(world: World) -> None:
    panel = await world.enroll(room="r1")
    events = _mix(panel)
    results = await world.send(panel, *events)
    assert {r["outcome"] for r in results} == {"applied"}
    assert await _counts(world) == _expected(events)


async def test_a_batch_whose_first_part_was_sent_before(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A resend after a lost answer, with more events queued meanwhile: the earlier ones
    are duplicates, the rest applied, and nothing is stored twice. A resend is ordinary:
    no warning (that would mean the event-by-event replay meant for bad events)."""
    panel = await world.enroll(room="r1")
    events = _mix(panel)
    first = await world.send(panel, *events[:150])
    assert {r["outcome"] for r in first} == {"applied"}

    with caplog.at_level(logging.INFO, logger="central"):
        results = await world.send(panel, *events)

    assert [r["outcome"] for r in results] == ["duplicate"] * 150 + ["applied"] * (N - 150)
    assert await _counts(world) == _expected(events)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_batch_whose_last_events_were_sent_before(world: World) -> None:
    """Seen events only in a later chunk: the early effects of the first chunks are
    undone with the attempt and written once."""
    panel = await world.enroll(room="r1")
    events = _mix(panel)
    await world.send(panel, *events[-20:])

    results = await world.send(panel, *events)

    assert [r["outcome"] for r in results] == ["applied"] * (N - 20) + ["duplicate"] * 20
    assert await _counts(world) == _expected(events)


async def test_the_same_batch_twice_at_once_is_applied_once(world: World) -> None:
    panel = await world.enroll(room="r1")
    events = _mix(panel)
    answers = await asyncio.gather(world.send(panel, *events), world.send(panel, *events))
    for index in range(N):
        outcomes = sorted(answer[index]["outcome"] for answer in answers)
        assert outcomes == ["applied", "duplicate"], (index, outcomes)
    assert await _counts(world) == _expected(events)


async def test_early_effects_keep_their_refusals(world: World) -> None:
    """A used report id, another site's room and a bad band: each its own rejection,
    decided in the chunk that sends the others early."""
    panel = await world.enroll(room="r1")
    await world.send(
        panel, panel.event("issue.report", "room:r1", {"report_id": "i-used", "category": "audio"})
    )
    events = _mix(panel, tag="x")
    start, end = later(days=3)
    bad: dict[int, tuple[SealedEvent, str]] = {
        140: (
            panel.event("issue.report", "room:r1", {"report_id": "i-used", "category": "audio"}),
            "invalid",
        ),
        141: (
            panel.event("issue.report", "room:b1", {"report_id": "i-beta", "category": "audio"}),
            "forbidden",
        ),
        142: (
            panel.event(
                "presence.sample", "room:r1", {"occupied_minutes": 1, "count_band": "x"}, start, end
            ),
            "invalid",
        ),
    }
    for index, (event, _) in bad.items():
        events[index] = event

    results = await world.send(panel, *events)

    for index, result in enumerate(results):
        if index in bad:
            assert (result["outcome"], result.get("code")) == ("rejected", bad[index][1])
        else:
            assert result["outcome"] == "applied", (index, result)
    assert "already used" in results[140]["reason"]
    presence, issues, bookings, _ = _expected([e for i, e in enumerate(events) if i not in bad])
    # the first report (i-used) was stored before this batch; the ledger holds every event
    assert await _counts(world) == (presence, issues + 1, bookings, len(events) + 1)


async def test_a_bad_event_late_in_the_body_stores_nothing(world: World) -> None:
    """A 400 for an event without a usable id after two chunks whose effects went out
    early: the whole batch is refused and none of it is stored."""
    panel = await world.enroll(room="r1")
    events = _mix(panel)
    body: dict[str, Any] = panel.batch(*events)
    body["events"][280] = {"id": "not a uuid", "seq": "x"}
    response = await world.client.post("/v1/events", json=body, headers=panel.headers)
    assert response.status_code == 400
    assert "events[280]" in response.json()["detail"]
    assert await _counts(world) == (0, 0, 0, 0)

"""How a batch survives a bad event and transient contention.

Faults are put into the presence applier's ``send``: the one statement that writes the
samples, whether central sends it early (pipeline mode, while still opening the batch)
or applies event by event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from central.appliers import Context, Item
from central.appliers.presence import PresenceSample
from tests.central.conftest import World, later


def _samples(world_device: Any, bands: Sequence[str]) -> list[Any]:
    start, end = later()
    return [
        world_device.event(
            "presence.sample", "room:r1", {"occupied_minutes": 1, "count_band": band}, start, end
        )
        for band in bands
    ]


async def test_a_database_error_rejects_only_its_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PresenceSample.send

    async def send(
        self: PresenceSample, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> None:
        if any(item.values["band"] == "99" for item in items):
            await conn.execute("SELECT 1 / 0")  # a DataError the checks did not foresee
        await original(self, conn, ctx, items)

    monkeypatch.setattr(PresenceSample, "send", send)
    panel = await world.enroll(room="r1")
    results = await world.send(panel, *_samples(panel, ["1", "99", "2"]))
    assert [r["outcome"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["code"] == "storage"
    assert "22012" in results[1]["reason"]
    assert await world.count("presence_samples") == 2
    assert await world.count("applied_events") == 3


async def test_a_deadlock_retries_the_batch(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    original = PresenceSample.send
    calls = 0

    async def send(
        self: PresenceSample, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> None:
        nonlocal calls
        calls += 1
        await original(self, conn, ctx, items)
        if calls == 1:
            raise psycopg.errors.DeadlockDetected("simulated")

    monkeypatch.setattr(PresenceSample, "send", send)
    panel = await world.enroll(room="r1")
    results = await world.send(panel, *_samples(panel, ["1", "2"]))
    assert [r["outcome"] for r in results] == ["applied", "applied"]
    assert calls == 2
    assert await world.count("presence_samples") == 2


async def test_persistent_contention_is_a_503(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def send(
        self: PresenceSample, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> None:
        raise psycopg.errors.LockNotAvailable("simulated")

    monkeypatch.setattr(PresenceSample, "send", send)
    panel = await world.enroll(room="r1")
    response = await world.client.post(
        "/v1/events", json=panel.batch(*_samples(panel, ["1"])), headers=panel.headers
    )
    assert response.status_code == 503
    assert response.json()["error"] == "busy"
    assert await world.count("applied_events") == 0

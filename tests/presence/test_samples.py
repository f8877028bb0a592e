"""``presence.sample`` aggregates: minutes occupied and a count band per interval."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from presence.interface import Occupancy, OccupancyReading, SimulatedOccupancy
from presence.samples import EVENT_TYPE, MAX_PENDING, PresenceSamples, Sample
from sync.queue import AsyncSealedQueue

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
OCCUPIED = OccupancyReading(Occupancy.OCCUPIED, "3-5", 0.8)
BUSY = OccupancyReading(Occupancy.OCCUPIED, "6-9", 0.9)
VACANT = OccupancyReading(Occupancy.VACANT, "0", 0.9)
UNKNOWN = OccupancyReading()


class Source(SimulatedOccupancy):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def present_tags(self) -> list[str]:
        return list(self.tags)


class Queue:
    def __init__(self, fail: int = 0) -> None:
        self.events: list[tuple[str, str, dict[str, Any], datetime | None, datetime | None]] = []
        self.fail = fail

    async def enqueue(
        self,
        type: str,
        resource: str,
        payload: Any,
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("disk full")
        self.events.append((type, resource, dict(payload), starts_at, ends_at))


def run_minutes(
    samples: PresenceSamples, source: Source, plan: list[OccupancyReading], start: datetime = T0
) -> None:
    for minute, reading in enumerate(plan):
        source.set("aurora", reading)
        samples.tick(start + timedelta(minutes=minute, seconds=20))


async def test_one_interval_becomes_one_event() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"})
    run_minutes(samples, source, [VACANT] * 5 + [OCCUPIED] * 6 + [BUSY] + [VACANT] * 3)
    queue = Queue()
    assert await samples.flush(queue, T0 + timedelta(minutes=14, seconds=59)) == 0  # not over
    assert await samples.flush(queue, T0 + timedelta(minutes=15)) == 1
    assert queue.events == [
        (
            EVENT_TYPE,
            "room:aurora",
            {"occupied_minutes": 7, "count_band": "6-9"},
            T0,
            T0 + timedelta(minutes=15),
        )
    ]
    assert samples.pending == ()


async def test_intervals_are_aligned_and_minutes_counted_once() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"}, interval=timedelta(minutes=30))
    start = T0 + timedelta(minutes=7)
    source.set("aurora", OCCUPIED)
    for second in range(0, 23 * 60, 20):  # ticks every 20 s: still one per minute
        samples.tick(start + timedelta(seconds=second))
    queue = Queue()
    await samples.flush(queue, T0 + timedelta(hours=1))
    (_, _, payload, starts, ends) = queue.events[0]
    assert (starts, ends) == (T0, T0 + timedelta(minutes=30))
    assert payload["occupied_minutes"] == 23 and payload["occupied_minutes"] <= 30


async def test_unknown_minutes_are_not_occupied_and_all_unknown_sends_nothing() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"})
    run_minutes(samples, source, [UNKNOWN] * 15)
    run_minutes(
        samples, source, [UNKNOWN] * 10 + [OCCUPIED] * 2 + [VACANT] * 3, T0 + timedelta(minutes=15)
    )
    queue = Queue()
    await samples.flush(queue, T0 + timedelta(minutes=30))
    assert [e[2] for e in queue.events] == [{"occupied_minutes": 2, "count_band": "3-5"}]
    assert queue.events[0][3] == T0 + timedelta(minutes=15)


async def test_a_vacant_interval_is_reported_as_zero() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"})
    run_minutes(samples, source, [VACANT] * 15)
    queue = Queue()
    await samples.flush(queue, T0 + timedelta(minutes=15))
    assert queue.events[0][2] == {"occupied_minutes": 0, "count_band": "0"}


async def test_registered_tags_only_with_positioning() -> None:
    source = Source()
    source.tags = ["ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"]
    for positioning in (False, True):
        samples = PresenceSamples(source, {"aurora": "room:aurora"}, positioning=positioning)
        run_minutes(samples, source, [OCCUPIED] * 15)
        queue = Queue()
        await samples.flush(queue, T0 + timedelta(minutes=15))
        payload = queue.events[0][2]
        if positioning:
            assert payload["tags"] == source.tags
        else:
            assert "tags" not in payload


async def test_a_refused_sample_waits_for_the_next_flush() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"})
    run_minutes(samples, source, [OCCUPIED] * 30)
    queue = Queue(fail=1)
    with pytest.raises(OSError):
        await samples.flush(queue, T0 + timedelta(minutes=30))
    assert len(samples.pending) == 2
    assert await samples.flush(queue, T0 + timedelta(minutes=31)) == 2
    assert [e[3] for e in queue.events] == [T0, T0 + timedelta(minutes=15)]


async def test_pending_samples_are_bounded() -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"}, interval=timedelta(minutes=1))
    run_minutes(samples, source, [VACANT] * (MAX_PENDING + 11))
    samples.tick(T0 + timedelta(minutes=MAX_PENDING + 11))
    assert len(samples.pending) == MAX_PENDING and samples.dropped == 11


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        PresenceSamples(Source(), {}, interval=timedelta(seconds=90))
    samples = PresenceSamples(Source(), {"aurora": "room:aurora"})
    with pytest.raises(ValueError):
        samples.tick(datetime(2025, 3, 4, 10, 0))  # naive


def test_central_accepts_the_payload() -> None:
    """The payload passes the reference central's own check for ``presence.sample``."""
    from central.appliers.base import Item
    from central.appliers.presence import PresenceSample

    sample = Sample("room:aurora", T0, T0 + timedelta(minutes=15), 15, "10+", ("ibeacon:x",))
    item = Item(
        index=0,
        id="0190",
        seq=1,
        type=EVENT_TYPE,
        resource=sample.resource,
        kind="room",
        rid="aurora",
        created=T0,
        starts=sample.starts_at,
        ends=sample.ends_at,
        payload=sample.payload(),
    )
    ctx = SimpleNamespace(device=SimpleNamespace(scope_resource="room:aurora"))
    PresenceSample().check(item, ctx)  # type: ignore[arg-type]
    assert item.values["minutes"] == 15 <= math.ceil(15) and item.values["band"] == "10+"


async def test_the_real_sealed_queue_takes_the_samples(tmp_path: Path) -> None:
    source = Source()
    samples = PresenceSamples(source, {"aurora": "room:aurora"})
    run_minutes(samples, source, [OCCUPIED] * 15)
    queue = AsyncSealedQueue(tmp_path / "queue.db", X25519PrivateKey.generate().public_key())
    await queue.open()
    try:
        assert await samples.flush(queue, T0 + timedelta(minutes=15)) == 1
        (row,) = await queue.rows()
        assert (row.type, row.resource) == (EVENT_TYPE, "room:aurora")
        assert (row.starts_at, row.ends_at) == (T0, T0 + timedelta(minutes=15))
    finally:
        await queue.close()

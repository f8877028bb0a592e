"""Presence end to end on one device: the real BleakScanner against simulated BlueZ feeds
the pipeline; the panel's occupancy reading follows people in the room; aggregates, and
only aggregates, go into the sealed queue; no raw MAC is kept anywhere."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from presence.config import PresenceSettings
from presence.interface import Occupancy
from presence.service import PresenceService
from sync.queue import AsyncSealedQueue
from sync.wire import open_epoch_key, open_payload
from tests.presence.bluez_sim import BlueZSim
from tests.presence.test_scanner import until

KEY = X25519PrivateKey.generate()
PEOPLE = ["5E:11:22:33:44:01", "6A:11:22:33:44:02", "72:11:22:33:44:03"]


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_people_make_the_room_occupied_and_samples_carry_no_mac(
    bluez: BlueZSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    queue = AsyncSealedQueue(tmp_path / "queue.db", KEY.public_key())
    await queue.open()
    wall = Wall()
    service = PresenceService(PresenceSettings(room="aurora"), queue, wall=wall)
    await service.start()
    try:
        assert service.problem is None
        assert service.reading("aurora").state is Occupancy.UNKNOWN  # nothing heard yet
        for mac in PEOPLE:
            bluez.add_device(mac, -60, manufacturer_data={0x0006: b"\x01\x09\x20"})
        await until(
            lambda: service.reading("aurora").state is Occupancy.OCCUPIED, what="room occupied"
        )
        reading = service.reading("aurora")
        assert reading.count_band == "3-5" and reading.confidence > 0.5
        # a quarter of an hour of minutes, then the next interval starts: one sample
        for _ in range(16):
            await service.tick()
            wall.now += timedelta(minutes=1)
        assert await service.tick() >= 0
        batch = await queue.take_batch(10)
        events = [
            (e, open_payload(e, open_epoch_key(e.epoch, batch.epochs[e.epoch], KEY)))
            for e in batch.events
        ]
        assert events, "a presence sample was queued"
        event, payload = events[0]
        assert event.type == "presence.sample" and event.resource == "room:aurora"
        assert payload["occupied_minutes"] >= 14 and payload["count_band"] == "3-5"
        assert set(payload) <= {"occupied_minutes", "count_band"}
        status = service.status()
        assert status["occupancy"] == "occupied" and status["scanner"]["state"] == "ok"
    finally:
        await service.stop()
        await queue.close()
    spelled = [
        m for mac in PEOPLE for m in (mac, mac.lower(), mac.replace(":", ""), mac.replace(":", "_"))
    ]
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for mac in spelled:
        assert mac not in logs, f"{mac} in a log record"
        assert mac not in repr(status)
        for blob in blobs:
            assert mac.encode() not in blob


async def test_no_adapter_leaves_occupancy_unknown_with_a_reason(
    bluez: BlueZSim, tmp_path: Path
) -> None:
    service = PresenceService(PresenceSettings(room="aurora"), None, adapter="hci7")
    await service.start()
    try:
        assert service.problem is not None and "hci7" in service.problem
        assert service.reading("aurora").state is Occupancy.UNKNOWN
    finally:
        await service.stop()

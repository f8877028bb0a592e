"""Real parts for the kiosk's logic tests: the demo lobby's runtime on a hand-moved
clock, a real sealed queue, and central's side of the seal to read what was queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kiosk.controller import KioskController
from sync.queue import AsyncSealedQueue, SealedQueue
from sync.wire import open_epoch_key, open_payload
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.device.runtime import Runtime

CENTRAL = X25519PrivateKey.generate()
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
"""10:30 in Stockholm on a Tuesday."""
LOBBY = "lobby-main"


@dataclass
class Kiosk:
    runtime: Runtime
    clock: ManualClock[datetime]
    queue: AsyncSealedQueue
    controller: KioskController
    state: Path


@asynccontextmanager
async def demo_kiosk(state: Path, *, now: datetime = NOW) -> AsyncIterator[Kiosk]:
    """The demo lobby's kiosk with a real sealed queue in ``state``."""
    clock = ManualClock(now)
    runtime = demo_runtime(demo_config(state, "kiosk"), clock=clock)
    queue = AsyncSealedQueue(state / "queue.db", CENTRAL.public_key())
    await queue.open()
    try:
        yield Kiosk(runtime, clock, queue, KioskController(runtime, LOBBY, queue), state)
    finally:
        await queue.close()


async def queued(queue: AsyncSealedQueue) -> list[tuple[str, str, dict[str, Any]]]:
    """Every pending event as central would open it: (type, resource, payload). The
    events go back to pending afterwards."""
    batch = await queue.take_batch(500)
    try:
        return [
            (
                e.type,
                e.resource,
                open_payload(e, open_epoch_key(e.epoch, batch.epochs[e.epoch], CENTRAL)),
            )
            for e in batch.events
        ]
    finally:
        await queue.release_inflight()


def queued_sync(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """As :func:`queued`, for a queue file no process has open."""
    queue = SealedQueue(path, CENTRAL.public_key())
    try:
        batch = queue.take_batch(500)
        return [
            (
                e.type,
                e.resource,
                open_payload(e, open_epoch_key(e.epoch, batch.epochs[e.epoch], CENTRAL)),
            )
            for e in batch.events
        ]
    finally:
        queue.close()

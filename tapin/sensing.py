"""Presence on a device: the BLE scanner feeding the pipeline, the pipeline answering the
panel's occupancy questions, and 15-minute aggregates going into the sealed queue.

Runs in the device's asyncio loop beside the UI and sync. Enabled by ``[presence] scan =
true``. A scanner that cannot start (no adapter, no permission) leaves the panel working
with occupancy ``unknown`` and says why in ``tapin status`` and on the admin screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from presence.occupancy import PresenceSettings
from presence.pipeline import PresencePipeline
from presence.pseudonym import Pseudonymiser
from presence.samples import PresenceSamples, SampleQueue
from tapin.occupancy import OccupancyReading

__all__ = ["PresenceService"]

log = logging.getLogger(__name__)

SAMPLE_TICK_SECONDS = 60.0


class PresenceService:
    """An :class:`tapin.occupancy.OccupancySource` backed by BLE."""

    def __init__(
        self,
        settings: PresenceSettings,
        queue: SampleQueue | None,
        *,
        adapter: str = "hci0",
        scanner_factory: Callable[..., Any] | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.wall = wall
        self.pipeline = PresencePipeline(settings, Pseudonymiser(), wall=wall)
        rooms = {settings.room: f"room:{settings.room}"} if settings.room else {}
        self.samples = PresenceSamples(
            self.pipeline,
            rooms,
            interval=timedelta(minutes=settings.sample_minutes),
            positioning=settings.positioning,
        )
        if scanner_factory is None:
            from presence.scanner import BleScanner

            scanner_factory = BleScanner
        self.scanner = scanner_factory(self.pipeline.feed, adapter)
        self.problem: str | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def reading(self, room_id: str) -> OccupancyReading:
        return self.pipeline.reading(room_id)

    def status(self) -> dict[str, Any]:
        """For ``tapin status`` and the admin screen: no MACs, no pseudonyms."""
        reading = self.pipeline.reading(self.settings.room or "")
        health = self.scanner.health
        return {
            "scanner": health.as_dict() if hasattr(health, "as_dict") else str(health),
            "problem": self.problem,
            "occupancy": reading.state.value,
            "count_band": reading.count_band,
            "confidence": round(reading.confidence, 2),
            "counters": dataclasses.asdict(self.pipeline.counters),
        }

    async def start(self) -> None:
        from presence.bluez_errors import ScannerError

        self._tasks.append(asyncio.ensure_future(self._samples_loop()))
        try:
            await self.scanner.start()
        except ScannerError as exc:
            self.problem = str(exc)
            log.error("presence scanner not started: %s", exc)
            return
        self._tasks.append(asyncio.ensure_future(self._watch()))

    async def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=5.0)
            except TimeoutError:
                await self.scanner.check()

    async def _samples_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=SAMPLE_TICK_SECONDS)
            except TimeoutError:
                await self.tick()

    async def tick(self) -> int:
        """Sample this minute; send finished intervals. Returns events queued."""
        now = self.wall()
        self.samples.tick(now)
        if self.queue is None:
            return 0
        return await self.samples.flush(self.queue, now)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await self.scanner.stop()

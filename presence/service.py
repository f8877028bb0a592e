"""Presence on a device: the BLE scanner feeding the pipeline, the pipeline answering the
panel's occupancy questions, and 15-minute aggregates going into the sealed queue.

Runs in the device's asyncio loop beside the UI and sync. Enabled by ``[presence] scan =
true``. A scanner that cannot start (no adapter, no permission) leaves the panel working
with occupancy ``unknown`` and says why in ``tapin status`` and on the admin screen.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from presence.config import PresenceSettings
from presence.interface import OccupancyReading
from presence.pipeline import PresencePipeline
from presence.pseudonym import Pseudonymiser
from presence.samples import PresenceSamples, SampleQueue

__all__ = ["SAMPLE_SECONDS", "WATCH_SECONDS", "PresenceService"]

log = logging.getLogger(__name__)

WATCH_SECONDS = 5.0
"""How often the scanner's watchdog looks at it."""
SAMPLE_SECONDS = 60.0
"""How often the occupancy of the minute is sampled."""


class PresenceService:
    """An :class:`presence.interface.OccupancySource` backed by BLE."""

    def __init__(
        self,
        settings: PresenceSettings,
        queue: SampleQueue | None,
        *,
        adapter: str | None = None,
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
        self.scanner = scanner_factory(self.pipeline.feed, adapter or settings.adapter)
        self.problem: str | None = None
        self.scanning = False

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
        """Start the scanner; a scanner that cannot start is recorded as the problem."""
        from presence.bluez_errors import ScannerError

        try:
            await self.scanner.start()
        except ScannerError as exc:
            self.problem = str(exc)
            log.error("presence scanner not started: %s", exc)
            return
        self.scanning = True

    async def check(self) -> None:
        """The scanner's watchdog (every :data:`WATCH_SECONDS`, from the device's jobs)."""
        if self.scanning:
            await self.scanner.check()

    async def tick(self) -> int:
        """Sample this minute; send finished intervals (every :data:`SAMPLE_SECONDS`).
        Returns events queued."""
        now = self.wall()
        self.samples.tick(now)
        if self.queue is None:
            return 0
        return await self.samples.flush(self.queue, now)

    async def stop(self) -> None:
        self.scanning = False
        await self.scanner.stop()

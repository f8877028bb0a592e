"""Is anyone really in the room? The interface presence sensing plugs into.

The panel's release and check-in rules ask an :class:`OccupancySource` for a room's
:class:`OccupancyReading`. Today there is :class:`SimulatedOccupancy` (demo, tests, and
any room without sensors, where it answers ``unknown``); the BLE presence package will
provide the real source behind the same protocol.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Occupancy", "OccupancyReading", "OccupancySource", "SimulatedOccupancy"]


class Occupancy(enum.StrEnum):
    OCCUPIED = "occupied"
    VACANT = "vacant"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OccupancyReading:
    state: Occupancy = Occupancy.UNKNOWN
    count_band: str | None = None
    """Anonymous count band such as "1-2" or "3-5"; never identities."""
    confidence: float = 0.0
    """0..1: how sure the source is."""
    since: datetime | None = None
    """When the state last changed."""


class OccupancySource(Protocol):
    def reading(self, room_id: str) -> OccupancyReading: ...


class SimulatedOccupancy:
    """Readings set by hand (demo, tests); ``unknown`` for rooms never set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[str, OccupancyReading] = {}

    def set(self, room_id: str, reading: OccupancyReading) -> None:
        with self._lock:
            self._readings[room_id] = reading

    def reading(self, room_id: str) -> OccupancyReading:
        with self._lock:
            return self._readings.get(room_id, OccupancyReading())

"""``presence.sample`` events: how occupied a room was, per interval, as aggregates only.

Once a minute (an APScheduler job) :meth:`PresenceSamples.tick` asks the pipeline for
each room's reading. Every ``interval`` (15 minutes by default, aligned to the clock:
:00, :15, :30, :45 UTC) :meth:`PresenceSamples.flush` turns each finished interval into
one event for central::

    type      presence.sample
    resource  room:<id>   (or lobby:<id>: whatever the device's own resource is)
    starts_at / ends_at   the interval
    payload   {"occupied_minutes": 7, "count_band": "3-5"}

``occupied_minutes`` is the number of minutes whose tick read ``occupied`` (so it is at
most the interval's length); ``count_band`` is the band of the largest count seen at a
tick. Minutes whose reading was ``unknown`` count as not occupied; an interval in which
*every* tick was ``unknown`` (scanner down, no ticks at all) produces no sample rather
than a false "empty".

With ``positioning = true`` the payload also carries ``"tags"``: the sorted keys of the
registered tags seen at any tick. The reference central accepts and ignores that field
(it stores only the two aggregates); a positioning service reads it. No pseudonym and no
MAC is ever in a sample.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from presence.interface import Occupancy, OccupancyReading
from presence.occupancy import BANDS
from sync.events import EventType, PresenceSample
from sync.queue import EventSink

__all__ = ["EVENT_TYPE", "PresenceSamples", "Sample", "SampleQueue", "SampleSource"]

EVENT_TYPE: str = EventType.PRESENCE_SAMPLE.value
MAX_PENDING = 96
"""Finished samples kept while the queue refuses them (a day of 15-minute intervals)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


class SampleSource(Protocol):
    def reading(self, room_id: str) -> OccupancyReading: ...

    def present_tags(self) -> list[str]: ...


SampleQueue = EventSink
"""Where samples go: the device's sealed queue (:class:`sync.queue.EventSink`)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One finished interval of one room."""

    resource: str
    starts_at: datetime
    ends_at: datetime
    occupied_minutes: int
    count_band: str
    tags: tuple[str, ...] | None = None

    def payload(self) -> dict[str, Any]:
        tags = list(self.tags) if self.tags is not None else None
        return PresenceSample(self.occupied_minutes, self.count_band, tags).payload()


@dataclass(slots=True)
class _Interval:
    starts_at: datetime
    occupied: set[int] = field(default_factory=set)
    known: set[int] = field(default_factory=set)
    band: int = -1
    tags: set[str] = field(default_factory=set)


class PresenceSamples:
    """Minute ticks in, one aggregate per room and interval out.

    ``rooms`` maps a room id the source answers for to its central resource
    (``{"aurora": "room:aurora"}``). ``positioning`` adds registered tag keys.
    """

    def __init__(
        self,
        source: SampleSource,
        rooms: Mapping[str, str],
        *,
        interval: timedelta = timedelta(minutes=15),
        positioning: bool = False,
    ) -> None:
        if interval < timedelta(minutes=1) or interval % timedelta(minutes=1):
            raise ValueError(f"interval must be whole minutes, got {interval}")
        self._source = source
        self._rooms = dict(rooms)
        self._interval = interval
        self._positioning = positioning
        self._open: dict[str, _Interval] = {}
        self._pending: list[Sample] = []
        self.dropped = 0
        """Finished samples dropped because more than :data:`MAX_PENDING` waited."""

    @property
    def pending(self) -> tuple[Sample, ...]:
        """Finished samples not yet enqueued."""
        return tuple(self._pending)

    def interval_start(self, now: datetime) -> datetime:
        """The start of the interval ``now`` falls in (UTC, aligned to the epoch)."""
        moment = _utc(now)
        return moment - (moment - _EPOCH) % self._interval

    def tick(self, now: datetime) -> None:
        """Sample every room's reading once (call it every minute)."""
        start = self.interval_start(now)
        minute = int((_utc(now) - start) // timedelta(minutes=1))
        self._close_before(start)
        for room_id in self._rooms:
            current = self._open.get(room_id)
            if current is None:
                current = self._open[room_id] = _Interval(start)
            reading = self._source.reading(room_id)
            if reading.state is Occupancy.UNKNOWN:
                continue
            current.known.add(minute)
            if reading.state is Occupancy.OCCUPIED:
                current.occupied.add(minute)
            if reading.count_band in BANDS:
                current.band = max(current.band, BANDS.index(reading.count_band))
            if self._positioning and reading.state is Occupancy.OCCUPIED:
                current.tags.update(self._source.present_tags())

    def _close_before(self, start: datetime) -> None:
        for room_id, current in list(self._open.items()):
            if current.starts_at >= start:
                continue
            del self._open[room_id]
            if not current.known:
                continue  # nothing was known: no sample rather than a false "empty"
            self._pending.append(
                Sample(
                    resource=self._rooms[room_id],
                    starts_at=current.starts_at,
                    ends_at=current.starts_at + self._interval,
                    occupied_minutes=len(current.occupied),
                    count_band=BANDS[max(current.band, 0)],
                    tags=tuple(sorted(current.tags)) if self._positioning else None,
                )
            )
        if len(self._pending) > MAX_PENDING:
            excess = len(self._pending) - MAX_PENDING
            del self._pending[:excess]
            self.dropped += excess
            log.warning("presence: %d old samples dropped (the queue refused them)", excess)

    async def flush(self, queue: SampleQueue, now: datetime) -> int:
        """Enqueue every interval finished by ``now``; how many were enqueued.

        A sample the queue refuses stays pending for the next flush (the error is raised
        after the samples before it were enqueued).
        """
        self._close_before(self.interval_start(now))
        sent = 0
        while self._pending:
            sample = self._pending[0]
            await queue.enqueue(
                EVENT_TYPE,
                sample.resource,
                sample.payload(),
                starts_at=sample.starts_at,
                ends_at=sample.ends_at,
            )
            self._pending.pop(0)
            sent += 1
        return sent


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be aware (carry a UTC offset)")
    return moment.astimezone(UTC)

"""The presence pipeline: parse, filter, pseudonymise, smooth; then answer "occupied?".

::

    scanner --RawAdvertisement--> PresencePipeline.feed
        parse      presence.beacons: iBeacon / Eddystone-UID key, None, or BeaconError
        filter     a registered tag key -> identified by that key (never by MAC);
                   anything else (phones, unregistered beacons, malformed frames) -> counted
        pseudonym  presence.pseudonym: keyed BLAKE2b of the MAC, key replaced daily
        smooth     presence.occupancy: EWMA RSSI, enter/exit hysteresis, away timeout

    PresencePipeline.reading(room_id) -> presence.interface.OccupancyReading

The raw MAC is used once, to look up or make its pseudonym. It is kept in memory only
while the device is in range (a MAC -> pseudonym cache pruned with the sources and
emptied when the key changes) and never appears in a log, a snapshot, a repr or a sample.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from presence.beacons import BeaconError, beacon_key
from presence.config import PresenceSettings
from presence.interface import Occupancy, OccupancyReading
from presence.occupancy import Estimate, OccupancyEstimator, count_band
from presence.pseudonym import Pseudonymiser
from presence.types import RawAdvertisement

__all__ = [
    "SILENT_SECONDS",
    "Counters",
    "PresencePipeline",
    "PresenceSnapshot",
    "SourceRow",
]

SILENT_SECONDS = 300.0
"""No advertisement at all for this long (or never): the scanner is not working, and
the reading is ``unknown`` rather than a confident ``vacant``."""
_HOUSEKEEPING_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Counters:
    """Advertisements fed so far, and what became of them."""

    advertisements: int = 0
    registered: int = 0
    """From registered tags (identified by tag key)."""
    anonymous: int = 0
    """From every other device (counted by pseudonym), malformed frames included."""
    malformed: int = 0
    """Beacon frames that were truncated or malformed (also counted as anonymous)."""
    ignored: int = 0
    """Without a usable RSSI (BlueZ reports 127 or -127 for "unknown")."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One line of the technician's table."""

    kind: str
    """``"tag"`` or ``"device"``."""
    name: str
    """The tag key, or the device's short pseudonym (8 hex digits)."""
    rssi: float
    """Smoothed RSSI, dBm."""
    seen_ago: float
    """Seconds since last heard."""
    near: bool
    """Inside the room by the hysteresis rule (and heard within the away timeout)."""


@dataclass(frozen=True, slots=True)
class PresenceSnapshot:
    """What a technician sees: sources by tag key or pseudonym, never a MAC."""

    room: str | None
    state: Occupancy
    count_band: str | None
    confidence: float
    key_epoch: int
    counters: Counters
    sources: tuple[SourceRow, ...]


class PresencePipeline:
    """Turns advertisements into occupancy for the device's room (``settings.room``).

    ``clock`` is monotonic seconds (as in :attr:`RawAdvertisement.at`); ``wall`` gives the
    aware current time for :attr:`OccupancyReading.since`. Implements
    :class:`presence.interface.OccupancySource`. Not thread-safe: feed it and read it from
    the asyncio loop.
    """

    def __init__(
        self,
        settings: PresenceSettings,
        pseudonymiser: Pseudonymiser,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._pseudonymiser = pseudonymiser
        self._clock = clock
        self._wall = wall
        self._estimator = OccupancyEstimator(settings)
        self._registered_keys = frozenset(settings.tags)
        self._frames: dict[object, str | None] = {}
        self._names: dict[str, str] = {}  # MAC -> pseudonym, this key epoch, sources in range
        self._last_heard: float | None = None
        self._due = min(pseudonymiser.rotates_at, clock() + _HOUSEKEEPING_SECONDS)
        self._next_housekeeping = self._due
        self._advertisements = 0
        self._registered = 0
        self._anonymous = 0
        self._malformed = 0
        self._ignored = 0

    def __repr__(self) -> str:
        return (
            f"PresencePipeline(room={self.settings.room!r}, sources={len(self._estimator)}, "
            f"advertisements={self._advertisements})"
        )

    # -- input -----------------------------------------------------------------

    def feed(self, adv: RawAdvertisement) -> None:
        """Take one advertisement. Never raises for bad advertisement data."""
        self._advertisements += 1
        at = adv.at or self._clock()
        if at >= self._due:
            self._housekeeping(at)
        rssi = adv.rssi
        if rssi.__class__ is not int or not -127 < rssi < 21:
            self._ignored += 1
            return
        self._last_heard = at
        try:
            key = beacon_key(adv.manufacturer_data, adv.service_data, self._frames)
        except BeaconError as exc:
            self._malformed += 1
            if self._malformed == 1:
                log.info("presence: ignoring a %s (counted as an anonymous device)", exc)
            key = None
        if key is not None and key in self._registered_keys:
            self._registered += 1
            self._estimator.see(self._estimator.tags, key, rssi, at)
            return
        self._anonymous += 1
        address = adv.address
        name = self._names.get(address)
        if name is None:
            name = self._pseudonymiser.hash_now(address)
            self._names[address] = name
        self._estimator.see(self._estimator.devices, name, rssi, at)

    def _housekeeping(self, now: float) -> None:
        if self._pseudonymiser.rotate_if_due(now):
            self._names.clear()  # the old key is gone; its pseudonyms age out as sources
        if now >= self._next_housekeeping:
            self.prune(now)
            if not self._silent(now):
                self._estimator.estimate(now)  # dates state changes to within a few seconds
            self._next_housekeeping = now + _HOUSEKEEPING_SECONDS
        self._due = min(self._pseudonymiser.rotates_at, self._next_housekeeping)

    def prune(self, now: float | None = None) -> None:
        """Forget sources (and their MACs) not heard for the away timeout."""
        moment = self._clock() if now is None else now
        self._estimator.prune(moment)
        devices = self._estimator.devices
        if len(self._names) > len(devices):
            self._names = {mac: name for mac, name in self._names.items() if name in devices}

    # -- output ----------------------------------------------------------------

    @property
    def counters(self) -> Counters:
        return Counters(
            advertisements=self._advertisements,
            registered=self._registered,
            anonymous=self._anonymous,
            malformed=self._malformed,
            ignored=self._ignored,
        )

    @property
    def tracked(self) -> int:
        """How many sources (tags and pseudonyms) are held in memory."""
        return len(self._estimator)

    @property
    def cached_addresses(self) -> int:
        """How many MAC -> pseudonym entries are held in memory."""
        return len(self._names)

    def _silent(self, now: float) -> bool:
        return self._last_heard is None or now - self._last_heard > SILENT_SECONDS

    def estimate(self, now: float | None = None) -> Estimate | None:
        """The estimate for the device's room, or ``None`` when the scanner is silent."""
        moment = self._clock() if now is None else now
        if self._silent(moment):
            return None
        return self._estimator.estimate(moment)

    def reading(self, room_id: str) -> OccupancyReading:
        """The room's occupancy; ``unknown`` for any other room or a silent scanner."""
        if room_id != self.settings.room:
            return OccupancyReading()
        now = self._clock()
        estimate = self.estimate(now)
        if estimate is None:
            return OccupancyReading()
        since = self._wall() - timedelta(seconds=max(0.0, now - estimate.since))
        return OccupancyReading(
            state=estimate.state,
            count_band=count_band(estimate.count),
            confidence=estimate.confidence,
            since=since,
        )

    def present_tags(self, now: float | None = None) -> list[str]:
        """Keys of registered tags in the room now, sorted."""
        return self._estimator.near_tags(self._clock() if now is None else now)

    def snapshot(self) -> PresenceSnapshot:
        """A technician's view: every source by tag key or short pseudonym, nearest first."""
        now = self._clock()
        away = self._estimator.away_seconds
        rows = [
            SourceRow(kind, display(name), round(entry[0], 1), round(now - entry[1], 1), near)
            for kind, table, display in (
                ("tag", self._estimator.tags, str),
                ("device", self._estimator.devices, Pseudonymiser.short),
            )
            for name, entry in table.items()
            for near in (bool(entry[2]) and now - entry[1] <= away,)
        ]
        rows.sort(key=lambda row: (-row.rssi, row.kind, row.name))
        estimate = self.estimate(now)
        return PresenceSnapshot(
            room=self.settings.room,
            state=Occupancy.UNKNOWN if estimate is None else estimate.state,
            count_band=None if estimate is None else estimate.band,
            confidence=0.0 if estimate is None else estimate.confidence,
            key_epoch=self._pseudonymiser.epoch,
            counters=self.counters,
            sources=tuple(rows),
        )

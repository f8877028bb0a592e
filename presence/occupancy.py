"""Occupancy from smoothed signal strength: who is near enough, for long enough.

Every source (a registered tag by its key, any other device by its pseudonym) keeps
three numbers: its smoothed RSSI (an exponentially weighted moving average), when it
was last heard and whether it is *near*. Near is decided with hysteresis: a source
becomes near when its smoothed RSSI reaches ``enter_dbm`` and stops being near only
when it falls below ``exit_dbm``, so a phone hovering at the threshold does not flap.
A near source counts until it has not been heard for ``away_seconds``.

The room is occupied when at least ``min_tags`` registered tags or ``min_devices``
anonymous devices count. Entries not heard for ``away_seconds`` are pruned, so memory
follows the number of devices in range, not the number of addresses ever seen (phones
change their random address every few minutes).

The reasons for every default are in ``docs/presence.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from presence.config import PresenceSettings
from presence.interface import Occupancy

__all__ = [
    "BANDS",
    "Estimate",
    "OccupancyEstimator",
    "count_band",
]

BANDS = ("0", "1-2", "3-5", "6-9", "10+")
"""Count bands sent to central (its ``presence.sample`` accepts exactly this shape)."""

_LAST, _NEAR, _NEAR_SINCE = 1, 2, 3


def count_band(count: int) -> str:
    """The band a count falls in: ``0``, ``1-2``, ``3-5``, ``6-9`` or ``10+``."""
    if count <= 0:
        return "0"
    if count <= 2:
        return "1-2"
    if count <= 5:
        return "3-5"
    if count <= 9:
        return "6-9"
    return "10+"


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the sources say at one moment (monotonic ``since``)."""

    state: Occupancy
    tags: int
    devices: int
    confidence: float
    since: float
    """Monotonic time of the last change of ``state``."""

    @property
    def count(self) -> int:
        return self.tags + self.devices

    @property
    def band(self) -> str:
        return count_band(self.tags + self.devices)


class OccupancyEstimator:
    """Per-source smoothing with hysteresis, and the room's state from the sources.

    ``tags`` and ``devices`` map a source's name (tag key, pseudonym) to a list
    ``[smoothed RSSI, last heard, near (1.0 or 0.0), near since]`` (times in monotonic
    seconds); :meth:`see` updates them.
    """

    __slots__ = (
        "_alpha",
        "_away",
        "_changed_at",
        "_checked_at",
        "_enter",
        "_exit",
        "_min_devices",
        "_min_tags",
        "_state",
        "devices",
        "tags",
    )

    def __init__(self, settings: PresenceSettings) -> None:
        self._alpha = float(settings.smoothing)
        self._enter = float(settings.enter_dbm)
        self._exit = float(settings.exit_dbm)
        self._away = float(settings.away_seconds)
        self._min_tags = settings.min_tags
        self._min_devices = settings.min_devices
        self._state: Occupancy | None = None
        self._changed_at = 0.0
        self._checked_at = 0.0
        self.tags: dict[str, list[float]] = {}
        self.devices: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.tags) + len(self.devices)

    @property
    def away_seconds(self) -> float:
        return self._away

    def see(self, table: dict[str, list[float]], name: str, rssi: float, at: float) -> None:
        """One advertisement from source ``name`` in ``table`` (:attr:`tags` or :attr:`devices`)."""
        entry = table.get(name)
        if entry is None:
            if rssi >= self._enter:
                table[name] = [rssi, at, 1.0, at]
            else:
                table[name] = [rssi, at, 0.0, 0.0]
            return
        smoothed = entry[0] + self._alpha * (rssi - entry[0])
        entry[0] = smoothed
        if at > entry[1]:
            entry[1] = at
        if entry[2]:
            if smoothed < self._exit:
                entry[2] = 0.0
        elif smoothed >= self._enter:
            entry[2] = 1.0
            entry[3] = at

    def prune(self, now: float) -> int:
        """Forget sources not heard for ``away_seconds``; how many were forgotten."""
        oldest = now - self._away
        gone = 0
        for table in (self.tags, self.devices):
            stale = [name for name, entry in table.items() if entry[_LAST] < oldest]
            for name in stale:
                del table[name]
            gone += len(stale)
        return gone

    def _evidence(self, table: dict[str, list[float]], now: float) -> tuple[list[float], float]:
        """When each counting source became near (sorted), and their summed freshness."""
        away = self._away
        since: list[float] = []
        fresh = 0.0
        for entry in table.values():
            age = now - entry[_LAST]
            if entry[_NEAR] and age <= away:
                since.append(entry[_NEAR_SINCE])
                fresh += 1.0 - max(age, 0.0) / away
        since.sort()
        return since, fresh

    def estimate(self, now: float) -> Estimate:
        """The room's state at ``now`` (monotonic seconds), remembering when it changed.

        Confidence: ``evidence`` sums, over near sources, how fresh each is (1 just heard,
        0 at the away timeout) divided by the minimum of its kind. Occupied:
        ``0.5 + 0.25 * evidence`` (0.75 for exactly the minimum, just heard; up to 1).
        Vacant: ``0.9 - 0.4 * evidence`` (never 1, as a person may carry no Bluetooth
        device at all).

        A change is dated when it is first seen here, except that becoming occupied is
        dated back to when the minimum number of sources had come near (never before the
        previous call). The pipeline calls this every few seconds.
        """
        tags, tag_fresh = self._evidence(self.tags, now)
        devices, device_fresh = self._evidence(self.devices, now)
        evidence = tag_fresh / self._min_tags + device_fresh / self._min_devices
        onset = now
        if len(tags) >= self._min_tags:
            onset = min(onset, tags[self._min_tags - 1])
        if len(devices) >= self._min_devices:
            onset = min(onset, devices[self._min_devices - 1])
        if len(tags) >= self._min_tags or len(devices) >= self._min_devices:
            state = Occupancy.OCCUPIED
            confidence = min(1.0, 0.5 + 0.25 * evidence)
        else:
            state = Occupancy.VACANT
            confidence = max(0.1, 0.9 - 0.4 * evidence)
        if state is not self._state:
            first = self._state is None
            self._state = state
            if first or state is not Occupancy.OCCUPIED:
                self._changed_at = now
            else:
                self._changed_at = max(self._checked_at, onset)
        self._checked_at = now
        return Estimate(state, len(tags), len(devices), round(confidence, 3), self._changed_at)

    def near_tags(self, now: float) -> list[str]:
        """The keys of registered tags counted at ``now``, sorted."""
        away = self._away
        return sorted(
            name for name, entry in self.tags.items() if entry[_NEAR] and now - entry[_LAST] <= away
        )

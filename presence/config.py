"""``[presence]`` in the device configuration: its keys, their checks, its settings.

The device's configuration loader (:mod:`tapin.config`) reads the TOML file and hands
this section's raw values to :func:`check_key` one by one, then builds the settings
with :func:`build_settings`. Each check raises :class:`ValueError` with a message a
technician can act on; the loader adds the file and the key. Example::

    [presence]                  # BLE occupancy; see docs/presence.md for the reasons
    scan = true                 # run the scanner on this device
    adapter = "hci0"
    tags = ["ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"]   # registered tags
    positioning = false         # true: send the keys of registered tags present
    enter_dbm = -75
    exit_dbm = -85
    smoothing = 0.3
    away_seconds = 45
    min_tags = 1
    min_devices = 2
    sample_minutes = 15
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from presence.beacons import normalise_key

__all__ = ["KEYS", "PresenceSettings", "build_settings", "check_key"]

MAX_TAGS = 10_000


@dataclass(frozen=True, slots=True)
class PresenceSettings:
    """``[presence]`` in the configuration. Raises :class:`ValueError` when inconsistent."""

    room: str | None = None
    """The device's own room (or lobby) id, from ``[device]``: the only one it answers for."""
    scan: bool = False
    """Run the BLE scanner on this device (panel, kiosk or a screenless sensor)."""
    adapter: str = "hci0"
    tags: frozenset[str] = frozenset()
    """Registered tag keys (see :func:`presence.beacons.normalise_key`)."""
    positioning: bool = False
    """Send the keys of registered tags present to central with each sample."""
    enter_dbm: int = -75
    exit_dbm: int = -85
    smoothing: float = 0.3
    """EWMA weight of the newest advertisement (0 < smoothing <= 1)."""
    away_seconds: float = 45.0
    min_tags: int = 1
    min_devices: int = 2
    sample_minutes: int = 15

    def __post_init__(self) -> None:
        if not -127 < self.exit_dbm <= self.enter_dbm < 21:
            raise ValueError(
                f"exit_dbm ({self.exit_dbm}) must be at most enter_dbm ({self.enter_dbm}), "
                "both between -126 and 20 dBm"
            )
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be above 0 and at most 1, got {self.smoothing}")
        if self.away_seconds < 30:
            raise ValueError(
                f"away_seconds must be at least 30 (BlueZ scans in ~10 s bursts), "
                f"got {self.away_seconds}"
            )
        if self.min_tags < 1 or self.min_devices < 1:
            raise ValueError("min_tags and min_devices must be at least 1")
        if not 1 <= self.sample_minutes <= 60 or 60 % self.sample_minutes:
            raise ValueError(f"sample_minutes must divide an hour, got {self.sample_minutes}")


def _number(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    return check


def _switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _adapter(value: Any) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isalnum() or len(value) > 16:
        raise ValueError(f'must be a Bluetooth adapter name such as "hci0", got {value!r}')
    return value


def _smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"must be a number above 0 and at most 1, got {value!r}")
    return float(value)


def _tags(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a list of tag keys, e.g. ["ibeacon:<uuid>:<major>:<minor>"]')
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags, got {len(value)}")
    return frozenset(normalise_key(item) for item in value)


def _sample_minutes(value: Any) -> int:
    minutes = _number(1, 60)(value)
    if 60 % minutes:
        raise ValueError(f"must divide an hour (1, 2, 3, 5, 10, 15, 20, 30, 60), got {minutes}")
    return minutes


KEYS: Mapping[str, Callable[[Any], Any]] = {
    "scan": _switch,
    "adapter": _adapter,
    "tags": _tags,
    "positioning": _switch,
    "enter_dbm": _number(-126, 20),
    "exit_dbm": _number(-126, 20),
    "smoothing": _smoothing,
    "away_seconds": _number(30, 3600),
    "min_tags": _number(1, 1000),
    "min_devices": _number(1, 1000),
    "sample_minutes": _sample_minutes,
}
"""Every key of ``[presence]`` and its check."""


def check_key(key: str, value: Any) -> Any:
    """The checked value of ``[presence] key``. Raises :class:`KeyError` for an unknown
    key and :class:`ValueError` (what is wrong) for a bad value."""
    return KEYS[key](value)


def build_settings(values: Mapping[str, Any], room: str | None) -> PresenceSettings:
    """Settings from checked values (key -> value, without the section name) for the
    device's ``room`` (or lobby). Raises :class:`ValueError` when they disagree, e.g.
    ``exit_dbm`` above ``enter_dbm``."""
    return PresenceSettings(room=room, **values)

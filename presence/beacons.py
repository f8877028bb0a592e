"""Beacon frames: iBeacon and Eddystone-UID, parsed from one advertisement's data.

A beacon is identified by what it broadcasts (iBeacon UUID/major/minor, Eddystone
namespace/instance), never by its MAC. :func:`parse` says what an advertisement is:

- a :class:`BeaconId` for a well-formed iBeacon or Eddystone-UID frame;
- ``None`` for anything else (a phone's Apple "nearby" data, an Eddystone URL or TLM
  frame, no data at all): such devices are only counted;
- :class:`BeaconError` (a :class:`ValueError`) for a frame that claims to be a beacon
  but is truncated or malformed. The pipeline counts these; nothing else is ever raised,
  whatever the bytes.

Keys look like ``ibeacon:<uuid>:<major>:<minor>`` (UUID lower-case with hyphens, major
and minor decimal) and ``eddystone:<namespace, 20 hex>:<instance, 12 hex>``; the
``[presence] tags`` list in the configuration uses the same form (see
:func:`normalise_key`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "APPLE",
    "EDDYSTONE_UUID",
    "BeaconError",
    "BeaconId",
    "beacon_key",
    "normalise_key",
    "parse",
]

APPLE = 0x004C
"""Apple's Bluetooth SIG company id: iBeacon frames are Apple manufacturer data."""
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
"""The Eddystone service (16-bit 0xFEAA) as bleak spells it in ``service_data``."""

_IBEACON_TYPE = 0x02
_IBEACON_LENGTH = 0x15  # 21 bytes follow the type and length bytes
_IBEACON_SIZE = 2 + _IBEACON_LENGTH  # 23
_EDDYSTONE_UID = 0x00
_EDDYSTONE_UID_SIZES = (18, 20)  # frame, tx power, namespace 10, instance 6 [, RFU 2]
_CACHE_LIMIT = 4096


class BeaconError(ValueError):
    """A frame that claims to be a beacon is truncated or malformed.

    ``kind`` is ``"ibeacon"`` or ``"eddystone"``; ``size`` the frame's length in bytes.
    The message names neither the device nor its payload.
    """

    def __init__(self, kind: str, size: int, problem: str) -> None:
        self.kind = kind
        self.size = size
        self.problem = problem
        super().__init__(f"malformed {kind} frame ({size} bytes): {problem}")


@dataclass(frozen=True, slots=True)
class BeaconId:
    """A beacon's identity: ``kind`` (``"ibeacon"`` or ``"eddystone"``) and ``key``."""

    kind: str
    key: str
    tx_power: int = field(default=0, compare=False)
    """Calibrated power at 1 m (iBeacon) or 0 m (Eddystone) in dBm, as broadcast."""

    def __str__(self) -> str:
        return self.key


def _ibeacon(data: bytes) -> tuple[str, int] | None:
    if not data or data[0] != _IBEACON_TYPE:
        return None  # other Apple data (nearby, Find My...): not a beacon
    size = len(data)
    if size < 2:
        raise BeaconError("ibeacon", size, "no length byte")
    if data[1] != _IBEACON_LENGTH:
        raise BeaconError("ibeacon", size, f"length byte is {data[1]}, expected 21")
    if size != _IBEACON_SIZE:
        raise BeaconError("ibeacon", size, f"expected {_IBEACON_SIZE} bytes")
    ident = uuid.UUID(bytes=bytes(data[2:18]))
    major = (data[18] << 8) | data[19]
    minor = (data[20] << 8) | data[21]
    power = data[22] - 256 if data[22] > 127 else data[22]
    return f"ibeacon:{ident}:{major}:{minor}", power


def _eddystone(data: bytes) -> tuple[str, int] | None:
    size = len(data)
    if size == 0:
        raise BeaconError("eddystone", 0, "empty service data")
    if data[0] != _EDDYSTONE_UID:
        return None  # URL, TLM, EID frames identify nothing stable: counted only
    if size not in _EDDYSTONE_UID_SIZES:
        raise BeaconError("eddystone", size, "a UID frame has 18 or 20 bytes")
    power = data[1] - 256 if data[1] > 127 else data[1]
    return f"eddystone:{data[2:12].hex()}:{data[12:18].hex()}", power


def _eddystone_data(service_data: Mapping[str, bytes]) -> bytes | None:
    data = service_data.get(EDDYSTONE_UUID)
    if data is None:
        for name, value in service_data.items():  # bleak spells it lower-case; others may not
            if name.__class__ is str and name.lower() == EDDYSTONE_UUID:
                return value
    return data


def _frame(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> tuple[str, int] | None:
    error: BeaconError | None = None
    apple = manufacturer_data.get(APPLE) if manufacturer_data else None
    if apple is not None:
        try:
            found = _ibeacon(apple)
        except BeaconError as exc:
            error = exc
        else:
            if found is not None:
                return found
    eddy = _eddystone_data(service_data) if service_data else None
    if eddy is not None:
        found = _eddystone(eddy)  # raises its own error first: the last frame looked at
        if found is not None:
            return found
    if error is not None:
        raise error
    return None


def _guarded(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> tuple[str, int] | None:
    try:
        return _frame(manufacturer_data, service_data)
    except BeaconError:
        raise
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        # Not bytes where bytes belong (a broken backend): malformed, never a crash.
        raise BeaconError("advertisement", 0, f"unreadable data ({type(exc).__name__})") from None


def parse(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> BeaconId | None:
    """The beacon an advertisement's data describes, or ``None`` if it is not one.

    Raises :class:`BeaconError` (and nothing else) for a malformed beacon frame.
    When both an iBeacon and an Eddystone frame are present, a valid one wins.
    """
    found = _guarded(manufacturer_data, service_data)
    if found is None:
        return None
    key, power = found
    return BeaconId(key.partition(":")[0], key, power)


def beacon_key(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    cache: dict[object, str | None] | None = None,
) -> str | None:
    """:func:`parse`, reduced to the key string (the pipeline's fast path).

    ``cache`` (a dict the caller owns) memoises well-formed frames by their bytes; it
    is cleared when it reaches 4,096 entries. Raises :class:`BeaconError` only.
    """
    if cache is not None:
        if not service_data:
            apple = manufacturer_data.get(APPLE) if manufacturer_data else None
            if apple is None:
                return None  # the common case: a phone, a laptop, earbuds
            if apple.__class__ is bytes and apple:
                if apple[0] != _IBEACON_TYPE:
                    return None
                return _cached(cache, apple, manufacturer_data, service_data)
        elif not manufacturer_data or APPLE not in manufacturer_data:
            eddy = service_data.get(EDDYSTONE_UUID)
            if eddy.__class__ is bytes:
                return _cached(cache, ("e", eddy), manufacturer_data, service_data)
    found = _guarded(manufacturer_data, service_data)
    return None if found is None else found[0]


def _cached(
    cache: dict[object, str | None],
    frame: object,
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
) -> str | None:
    hit = cache.get(frame, cache)
    if hit is not cache:
        return hit  # type: ignore[return-value]
    found = _guarded(manufacturer_data, service_data)  # errors are not cached: counted each time
    key = None if found is None else found[0]
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[frame] = key
    return key


_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"[0-9a-f]+")


def normalise_key(text: str) -> str:
    """A tag key as written in the configuration, in the form :func:`parse` produces.

    Accepts ``ibeacon:<uuid>:<major>:<minor>`` (major and minor 0-65535) and
    ``eddystone:<20 hex digits>:<12 hex digits>``, in any letter case. Raises
    :class:`ValueError` with a message saying what is wrong.
    """
    parts = text.strip().lower().split(":")
    if parts[0] == "ibeacon" and len(parts) == 4:
        ident, major, minor = parts[1:]
        if _UUID_TEXT.fullmatch(ident) is None:
            raise ValueError(f"{text!r}: the iBeacon UUID must look like 8-4-4-4-12 hex digits")
        for name, number in (("major", major), ("minor", minor)):
            if not number.isdigit() or not 0 <= int(number) <= 0xFFFF:
                raise ValueError(f"{text!r}: the iBeacon {name} must be a number 0-65535")
        return f"ibeacon:{ident}:{int(major)}:{int(minor)}"
    if parts[0] == "eddystone" and len(parts) == 3:
        namespace, instance = parts[1:]
        if len(namespace) != 20 or _HEX.fullmatch(namespace) is None:
            raise ValueError(f"{text!r}: the Eddystone namespace must be 20 hex digits")
        if len(instance) != 12 or _HEX.fullmatch(instance) is None:
            raise ValueError(f"{text!r}: the Eddystone instance must be 12 hex digits")
        return f"eddystone:{namespace}:{instance}"
    raise ValueError(
        f"{text!r} is not a tag key; use 'ibeacon:<uuid>:<major>:<minor>' "
        "or 'eddystone:<namespace>:<instance>'"
    )

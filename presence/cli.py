"""``tapin presence scan``: listen to Bluetooth for a few seconds and say what is there.

The command table (:mod:`tapin.cli`) declares the arguments; :func:`scan` is the body.

For technicians checking a sensor over SSH: it runs the real scanner
(:class:`presence.scanner.BleScanner`) and prints how many advertisements arrived, each
source as a keyed hash (BLAKE2b with a random key that exists only in memory for this
run, so the same phone gets a different name next run) with its strongest RSSI, and
the iBeacon / Eddystone-UID key of any beacon, which is what ``[presence] tags`` wants.
Raw addresses are never printed. A scanner problem prints the fix and exits 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from presence.beacons import BeaconError, beacon_key

if TYPE_CHECKING:
    from presence.types import RawAdvertisement

__all__ = ["EXIT_SCANNER", "Tally", "scan"]

EXIT_SCANNER = 2


def _beacon_key(manufacturer: Mapping[int, bytes], service: Mapping[str, bytes]) -> str | None:
    """The beacon key (``ibeacon:...`` / ``eddystone:...``) or ``None``; never raises."""
    try:
        return beacon_key(manufacturer, service)
    except BeaconError:
        return None


@dataclass(slots=True)
class _Source:
    name: str
    max_rssi: int
    advertisements: int = 0
    beacon: str | None = None


@dataclass
class Tally:
    """What one scan saw, with sources named by a keyed hash only."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    advertisements: int = 0
    sources: dict[str, _Source] = field(default_factory=dict)

    def add(self, advertisement: RawAdvertisement) -> None:
        self.advertisements += 1
        name = hashlib.blake2b(
            advertisement.address.encode(), key=self.key, digest_size=4
        ).hexdigest()
        source = self.sources.get(name)
        if source is None:
            source = self.sources[name] = _Source(name, advertisement.rssi)
        source.advertisements += 1
        source.max_rssi = max(source.max_rssi, advertisement.rssi)
        if source.beacon is None and (
            advertisement.manufacturer_data or advertisement.service_data
        ):
            source.beacon = _beacon_key(advertisement.manufacturer_data, advertisement.service_data)

    def ranked(self) -> list[_Source]:
        return sorted(self.sources.values(), key=lambda s: (-s.max_rssi, s.name))


def _report(
    tally: Tally, adapter: str, seconds: float, as_json: bool, health: dict[str, Any]
) -> str:
    sources = tally.ranked()
    if as_json:
        return json.dumps(
            {
                "adapter": adapter,
                "seconds": seconds,
                "advertisements": tally.advertisements,
                "sources": [
                    {
                        "source": s.name,
                        "max_rssi": s.max_rssi,
                        "advertisements": s.advertisements,
                        "beacon": s.beacon,
                    }
                    for s in sources
                ],
                "health": health,
            },
            indent=2,
        )
    lines = [
        f"{adapter}: {tally.advertisements} advertisements from {len(sources)} sources "
        f"in {seconds:g} s (sources are keyed hashes, new each run)",
    ]
    if sources:
        lines.append(f"{'source':<8}  {'max RSSI':>8}  {'ads':>5}  beacon")
        lines.extend(
            f"{s.name:<8}  {s.max_rssi:>8}  {s.advertisements:>5}  {s.beacon or '-'}"
            for s in sources
        )
    if health.get("state") not in (None, "ok", "stopped"):
        lines.append(f"scanner: {health['state']}: {health.get('message', '')}")
    return "\n".join(lines)


async def scan(seconds: float, adapter: str = "hci0", *, as_json: bool = False) -> int:
    """Listen for ``seconds`` on ``adapter`` and print what was heard; the exit status
    (:data:`EXIT_SCANNER` with the fix on standard error when the scanner cannot start)."""
    from presence.bluez_errors import ScannerError
    from presence.scanner import BleScanner

    tally = Tally()
    scanner = BleScanner(tally.add, adapter=adapter)
    try:
        await scanner.start()
    except ScannerError as exc:
        print(f"tapin: error: {exc}", file=sys.stderr)
        return EXIT_SCANNER
    try:
        await asyncio.sleep(seconds)
        health = scanner.health.as_dict()
    finally:
        await scanner.stop()
    print(_report(tally, adapter, seconds, as_json, health))
    return 0

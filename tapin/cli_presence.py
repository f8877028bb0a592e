"""``tapin presence scan``: listen to Bluetooth for a few seconds and say what is there.

For technicians checking a sensor over SSH: it runs the real scanner
(:class:`presence.scanner.BleScanner`) and prints how many advertisements arrived, each
source as a keyed hash (BLAKE2b with a random key that exists only in memory for this
run, so the same phone gets a different name next run) with its strongest RSSI, and
the iBeacon / Eddystone-UID key of any beacon, which is what ``[presence] tags`` wants.
Raw addresses are never printed. A scanner problem prints the fix and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from presence.beacons import BeaconError, beacon_key
from tapin.argtypes import seconds as _seconds

if TYPE_CHECKING:
    from presence.types import RawAdvertisement

__all__ = ["add_parsers", "main"]

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


def _report(tally: Tally, args: argparse.Namespace, health: dict[str, Any]) -> str:
    sources = tally.ranked()
    if args.json:
        return json.dumps(
            {
                "adapter": args.adapter,
                "seconds": args.seconds,
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
        f"{args.adapter}: {tally.advertisements} advertisements from {len(sources)} sources "
        f"in {args.seconds:g} s (sources are keyed hashes, new each run)",
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


async def _scan(args: argparse.Namespace) -> int:
    from presence.bluez_errors import ScannerError
    from presence.scanner import BleScanner

    tally = Tally()
    scanner = BleScanner(tally.add, adapter=args.adapter)
    try:
        await scanner.start()
    except ScannerError as exc:
        print(f"tapin: error: {exc}", file=sys.stderr)
        return EXIT_SCANNER
    try:
        await asyncio.sleep(args.seconds)
        health = scanner.health.as_dict()
    finally:
        await scanner.stop()
    print(_report(tally, args, health))
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    return int(asyncio.run(_scan(args)))


def add_parsers(commands: Any) -> None:
    """Add ``presence`` (with ``scan``) to the ``tapin`` subcommands."""
    presence = commands.add_parser(
        "presence",
        help="Bluetooth presence tools (scan)",
        description="Bluetooth presence commands.",
    )
    sub = presence.add_subparsers(dest="presence_command", metavar="COMMAND", required=True)
    scan = sub.add_parser(
        "scan",
        help="listen for Bluetooth advertisements and list what was heard",
        description=(
            "Scan for a while and print advertisement counts, each source as a keyed "
            "hash with its strongest RSSI, and beacon keys. Raw addresses are never shown."
        ),
    )
    scan.add_argument(
        "--seconds",
        type=_seconds,
        default=10.0,
        metavar="N",
        help="how long to listen (default 10)",
    )
    scan.add_argument("--adapter", default="hci0", help="Bluetooth adapter (default hci0)")
    scan.add_argument("--json", action="store_true", help="print the result as JSON")
    scan.set_defaults(handler=_cmd_scan)


def main(argv: Sequence[str] | None = None) -> int:
    """Run only the ``presence`` commands (``python -m tapin.cli_presence presence scan``)."""
    parser = argparse.ArgumentParser(prog="tapin")
    add_parsers(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

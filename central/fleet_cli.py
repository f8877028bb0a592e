"""``tapin central devices`` (the fleet, ``remove`` for a ghost) and ``tapin central
command`` (queue a remote command for a device).

Mounted by :mod:`central.cli` (same options and exit statuses: 0 done, 1 refused with a
one-line reason, 2 central cannot reach its database or a bad option). The flags' rules
are :mod:`central.fleet`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from central.cli import _command as command
from central.cli import _dsn, _fail, _guarded, _with_pool

__all__ = ["add_fleet_commands"]


def add_fleet_commands(commands: Any) -> None:
    """Add ``devices`` (and ``devices remove``) and ``command`` to ``commands``."""
    devices = command(
        commands,
        "devices",
        "list the fleet: last seen, queue, last error, STALE/UNHEALTHY flags",
        _devices,
    )
    devices.add_argument("--site", metavar="ID", help="only the devices of this site")
    devices.add_argument("--json", action="store_true", help="one JSON document")
    devices.add_argument(
        "--stale-after",
        default="15m",
        metavar="DURATION",
        help="STALE when not heard from for this long (90s, 15m, 2h, 1d; default 15m)",
    )
    sub = devices.add_subparsers(
        dest="devices_command", metavar="remove", help="remove a ghost device (see below)"
    )
    remove = sub.add_parser(
        "remove",
        help="delete a ghost: a device enrolled but never seen since (else: revoke)",
        description="Delete a device that never made a request with its token (a failed "
        "enrollment's ghost). A device that synced is revoked instead, never deleted.",
    )
    remove.add_argument("device_id", metavar="DEVICE_ID", help="the ghost's id (devices)")
    remove.add_argument("--dsn", default=argparse.SUPPRESS, help="as for devices")
    remove.set_defaults(func=_remove)

    queue = command(
        commands,
        "command",
        "queue a remote command for a device (carried out at its next sync)",
        _queue,
    )
    queue.add_argument("device_id", metavar="DEVICE_ID", help="the device's id (devices)")
    queue.add_argument(
        "kind",
        metavar="KIND",
        help="forget_person, reconfigure, rotate_keys, decommission or restart",
    )
    queue.add_argument(
        "--args",
        default="{}",
        metavar="JSON",
        help='the command\'s arguments, e.g. reconfigure: \'{"config": {"screen": '
        '{"dim_level": 40}}}\'',
    )


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return _span((now - moment).total_seconds()) + " ago"


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _devices(args: argparse.Namespace) -> int:
    from central.fleet import list_devices, parse_duration

    try:
        stale_after = parse_duration(args.stale_after)
    except ValueError as exc:
        return _fail(f"--stale-after: {exc}", 2)

    def action() -> int:
        now = datetime.now(UTC)
        fleet = _with_pool(
            _dsn(args),
            lambda pool: list_devices(pool, now=now, site=args.site, stale_after=stale_after),
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "now": now.isoformat(),
                        "stale_after_seconds": stale_after.total_seconds(),
                        "devices": [d.to_json() for d in fleet],
                    }
                )
            )
            return 0
        _print_table(fleet, now, stale_after)
        return 0

    return _guarded(action)


def _print_table(fleet: list[Any], now: datetime, stale_after: timedelta) -> None:
    if not fleet:
        print("no devices enrolled")
        return
    head = ("ID", "KIND", "SCOPE", "VERSION", "LAST SEEN", "QUEUE", "OLDEST", "ERROR", "FLAGS")
    rows = [
        (
            d.id,
            d.kind,
            d.scope,
            d.version or "-",
            _ago(d.last_seen, now),
            "-" if d.pending is None else str(d.pending),
            _span(d.oldest_pending_age_seconds),
            d.last_error or "-",
            " ".join(d.flags) or "ok",
        )
        for d in fleet
    ]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if any(d.flags for d in fleet):
        print(
            f"\nSTALE: not heard from for {_span(stale_after.total_seconds())}. UNHEALTHY: its "
            "last heartbeat reports rejected or quarantined events, events pending over 30m, "
            "a sync error, under 100 MB free, a CPU at 80 C or more, or presence not scanning. "
            "GHOST: enrolled, never seen (tapin central devices remove ID).",
            file=sys.stderr,
        )


def _remove(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.errors import BadRequest, NotFound
        from central.fleet import remove_ghost

        try:
            _with_pool(_dsn(args), lambda pool: remove_ghost(pool, args.device_id))
        except (NotFound, BadRequest) as exc:
            return _fail(exc.detail, 1)
        print(f"ghost device {args.device_id} removed")
        return 0

    if not hasattr(args, "dsn"):
        args.dsn = None
    return _guarded(action)


def _queue(args: argparse.Namespace) -> int:
    from central.commands import COMMAND_KINDS

    if args.kind not in COMMAND_KINDS:
        return _fail(f"unknown command kind {args.kind!r}; known: {', '.join(COMMAND_KINDS)}", 2)
    try:
        extra = json.loads(args.args)
    except ValueError:
        return _fail(f"--args is not valid JSON: {args.args[:80]!r}", 2)
    if not isinstance(extra, dict):
        return _fail('--args must be a JSON object, e.g. \'{"person_id": "p1"}\'', 2)

    async def work(pool: Any) -> int:
        from central.commands import queue_command
        from central.errors import BadRequest

        async with pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT revoked_at IS NULL FROM devices WHERE id = %s", [args.device_id]
            )
            row = await cur.fetchone()
            if row is None:
                raise _Refusal(f"there is no device {args.device_id!r}")
            if not row[0]:
                raise _Refusal(f"device {args.device_id} is revoked; it fetches no commands")
            try:
                return await queue_command(conn, args.device_id, args.kind, extra)
            except BadRequest as exc:
                raise _Refusal(exc.detail) from None

    def action() -> int:
        try:
            command_id = _with_pool(_dsn(args), work)
        except _Refusal as exc:
            return _fail(str(exc), 1)
        print(f"command {command_id} ({args.kind}) queued for {args.device_id}")
        return 0

    return _guarded(action)


class _Refusal(Exception):
    pass

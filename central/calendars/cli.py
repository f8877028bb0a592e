"""``tapin central calendar sync --once [--site S]``: one calendar sync, for technicians.

Covers every configured connector (CalDAV — Google, Nextcloud, Fastmail, Radicale … — and
Microsoft 365 through Graph), up to ``--rooms-at-once`` rooms read at once.

Mounted by :mod:`central.cli` (same options and exit statuses: 0 every room synced,
1 some room's calendar could not be read (each named, with why), 2 central cannot start
or reach its database, or the calendar settings are wrong).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from central.asgi import CALENDARS_ENV
from central.cli import _command as command
from central.cli import _dsn, _guarded, _synced, _with_pool

__all__ = ["add_calendar_commands", "calendars_option"]


def calendars_option(parser: argparse.ArgumentParser) -> None:
    """``--calendars FILE`` (default ``$TAPIN_CENTRAL_CALENDARS``)."""
    parser.add_argument(
        "--calendars",
        metavar="FILE",
        default=os.environ.get(CALENDARS_ENV),
        help=f"calendar settings (TOML, mode 0600; default: ${CALENDARS_ENV})",
    )


def add_calendar_commands(commands: Any) -> None:
    """Add ``calendar sync`` to ``commands`` (an argparse subparsers action)."""
    calendar = commands.add_parser(
        "calendar",
        help="room calendars (CalDAV, Microsoft 365): sync them now",
        description="Room calendars: read them into central now.",
    )
    sub = calendar.add_subparsers(
        dest="calendar_command", metavar="COMMAND", required=True, help="what to do"
    )
    sync = command(sub, "sync", "read every room calendar of the configured sites now", _sync)
    sync.add_argument(
        "--once", action="store_true", required=True, help="one sync, then exit (required)"
    )
    sync.add_argument("--site", metavar="ID", help="only this site")
    sync.add_argument(
        "--rooms-at-once",
        metavar="N",
        type=_at_once,
        default=None,
        help="read up to N room calendars at once (default 8)",
    )
    calendars_option(sync)


def _at_once(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64, not {text!r}")
    return value


def _sync(args: argparse.Namespace) -> int:
    def action() -> int:
        from datetime import UTC, datetime
        from functools import partial

        from central.calendars.settings import load_calendar_settings, make_connector
        from central.calendars.sync import ROOMS_AT_ONCE, SyncReport, connectors_for, sync_site
        from central.errors import SettingsError

        if not args.calendars:
            raise SettingsError(f"no calendar settings: pass --calendars or set {CALENDARS_ENV}")
        settings = load_calendar_settings(args.calendars)
        sites = [s for s in settings.sites.values() if args.site in (None, s.site_id)]
        if not sites:
            raise SettingsError(
                f"the calendar settings have no site {args.site!r}"
                if args.site
                else "the calendar settings name no sites"
            )

        async def work(pool: Any) -> list[SyncReport]:
            reports = []
            at_once = args.rooms_at_once or ROOMS_AT_ONCE
            for site in sites:
                several = connectors_for(partial(make_connector, site), len(site.rooms), at_once)
                try:
                    reports.append(await sync_site(pool, site, several, datetime.now(UTC)))
                finally:
                    for connector in several:
                        connector.close()
            return reports

        status = 0
        for report in _synced(_with_pool(_dsn(args), work)):
            print(
                f"site {report.site_id}: {report.rooms} rooms synced ({report.full} read in full),"
                f" {report.changed} events changed, {report.removed} removed,"
                f" {report.requests} requests"
            )
            if report.adopted or report.withdrawn:
                print(
                    f"  bookings edited in the calendar: {report.adopted} took the new time,"
                    f" {report.withdrawn} withdrawn (the room was taken then)"
                )
            for room_id, why in sorted(report.failed.items()):
                status = 1
                print(f"  room {room_id}: {why}")
        return status

    return _guarded(action)

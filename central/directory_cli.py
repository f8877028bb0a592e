"""``tapin central directory sync --once``: the technician's directory command (the work is
:mod:`central.directory_sync`, imported when the command runs, so building the command
line loads no database driver)."""

from __future__ import annotations

from typing import Any

from central.errors import SettingsError

__all__ = ["add_directory_commands"]


def add_directory_commands(commands: Any) -> None:
    """Add ``directory sync --once`` to ``commands`` (central's argparse subparsers)."""
    from central.calendars.cli import calendars_option
    from central.cli import _command as command

    directory = commands.add_parser(
        "directory",
        help="people from Microsoft 365 or a CSV export: sync them now",
        description="The directory: read the sites' people into central now.",
    )
    sub = directory.add_subparsers(dest="directory_command", metavar="COMMAND", required=True)
    sync = command(sub, "sync", "read the configured sites' people now", _sync_command)
    sync.add_argument(
        "--once", action="store_true", required=True, help="one sync, then exit (required)"
    )
    sync.add_argument("--site", metavar="ID", help="only this site (required with --csv)")
    sync.add_argument(
        "--csv", metavar="FILE", help="import this CSV export into --site (no settings needed)"
    )
    calendars_option(sync)


def _sync_command(args: Any) -> int:
    from central.cli import _dsn, _guarded, _synced, _with_pool

    def action() -> int:
        from datetime import UTC, datetime

        from central.calendars.settings import CALENDARS_ENV, load_calendar_settings, make_connector
        from central.directory_sync import DirectoryReport, sync_directory

        if args.csv:
            if not args.site:
                raise SettingsError("directory sync --csv needs --site (which site the CSV is)")
            jobs: list[tuple[str, str, str | None, str | None, Any]] = [
                (args.site, "csv", args.csv, None, None)
            ]
        else:
            if not args.calendars:
                raise SettingsError(
                    f"no calendar settings: pass --calendars or set {CALENDARS_ENV} (or --csv)"
                )
            settings = load_calendar_settings(args.calendars)
            sites = [
                s for s in settings.sites.values() if s.directory and args.site in (None, s.site_id)
            ]
            if not sites:
                raise SettingsError("the calendar settings name no site with a directory")
            jobs = [
                (
                    s.site_id,
                    str(s.directory),
                    s.directory_csv,
                    s.visible_group,
                    make_connector(s) if s.directory == "graph" else None,
                )
                for s in sites
            ]

        async def work(pool: Any) -> list[DirectoryReport]:
            reports = []
            for site_id, source, path, group, connector in jobs:
                try:
                    reports.append(
                        await sync_directory(
                            pool,
                            site_id,
                            source,
                            datetime.now(UTC),
                            connector=connector,
                            csv_path=path,
                            visible_group=group,
                        )
                    )
                finally:
                    if connector is not None:
                        connector.close()
            return reports

        status = 0
        for report in _synced(_with_pool(_dsn(args), work)):
            if report.failed:
                status = 1
                print(f"site {report.site_id}: {report.failed}")
            else:
                print(
                    f"site {report.site_id} ({report.source}): {report.added} added,"
                    f" {report.updated} updated, {report.inactivated} now inactive,"
                    f" {report.requests} requests"
                )
        return status

    return _guarded(action)

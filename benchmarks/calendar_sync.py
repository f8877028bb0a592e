"""Calendar sync: 200 rooms × 30 days of meetings in a real CalDAV server (Radicale).

What runs is the real thing: a throwaway database on the local PostgreSQL cluster with
the schema, one site and its rooms; Radicale on 127.0.0.1 (htpasswd authentication) whose
storage folder is seeded directly with one ``.ics`` per meeting (three meetings a
working day per room, and one weekly series per room with a moved occurrence) — writing
the files is much faster than thousands of PUTs and is what Radicale reads anyway. Radicale
then parses every item once to build its cache (a Depth-1 PROPFIND per calendar, timed
apart: a server in use has its cache). Then
:func:`central.calendars.sync.sync_site` with the real
:class:`central.calendars.caldav.CalDavConnector`.

Timed: one full cycle (every room's sync-collection REPORT and calendar-multiget, the
expansion, the meetings written), then an unchanged second cycle (one small
sync-collection REPORT per room, nothing written), each with its HTTP request count, with
up to ``--rooms-at-once`` rooms read at once (default
:data:`~central.calendars.sync.ROOMS_AT_ONCE`, one connector each)::

    .venv/bin/python -m benchmarks.calendar_sync              # 200 rooms × 30 days
    .venv/bin/python -m benchmarks.calendar_sync --rooms 20 --days 5
    .venv/bin/python -m benchmarks.calendar_sync --rooms-at-once 1   # one room after another

Exit status 2 when PostgreSQL is not reachable, 1 when a check fails. The last line is
``calendar sync: full F s / R requests; unchanged U s / Q requests; unchanged/full
requests X, time Y``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from central.calendars.sync import ROOMS_AT_ONCE, SyncReport, connectors_for, sync_site
from central.db import open_pool
from central.local import server_reachable, throwaway_database
from central.migrate import init_db

__all__ = ["main"]

ZONE = ZoneInfo("Europe/Stockholm")
USER, PASSWORD = "bench", "bench-password"
SLOTS = ((9, 0, 60), (11, 0, 30), (14, 0, 90))  # (hour, minute, minutes) each working day


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(uid: str, start: datetime, end: datetime, summary: str, *extra: str) -> str:
    lines = "".join(f"{line}\r\n" for line in extra)
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{_stamp(start)}\r\n"
        f"DTEND:{_stamp(end)}\r\nSUMMARY:{summary}\r\n{lines}END:VEVENT\r\n"
    )


def _calendar(*events: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
        + "".join(events)
        + ("END:VCALENDAR\r\n")
    )


def seed_storage(root: Path, rooms: int, days: int, today: date) -> int:
    """Write the rooms' calendars into Radicale's storage; return the meetings written."""
    written = 0
    home = root / "collection-root" / USER
    for r in range(rooms):
        folder = home / f"room-{r:03d}"
        folder.mkdir(parents=True)
        (folder / ".Radicale.props").write_text('{"tag": "VCALENDAR"}')
        for d in range(days):
            day = today + timedelta(days=d)
            if day.weekday() >= 5:
                continue
            for s, (hour, minute, length) in enumerate(SLOTS):
                start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
                uid = f"m-{r}-{d}-{s}"
                body = _calendar(
                    _event(uid, start, start + timedelta(minutes=length), f"Meeting {s}")
                )
                (folder / f"{uid}.ics").write_text(body)
                written += 1
        first = datetime(today.year, today.month, today.day, 16, tzinfo=ZONE)
        moved = first + timedelta(days=7)
        series = _calendar(
            _event(f"w-{r}", first, first + timedelta(minutes=30), "Weekly", "RRULE:FREQ=WEEKLY"),
            _event(
                f"w-{r}",
                moved + timedelta(hours=1),
                moved + timedelta(hours=1, minutes=30),
                "Weekly (moved)",
                f"RECURRENCE-ID:{_stamp(moved)}",
            ),
        )
        (folder / f"w-{r}.ics").write_text(series)
    return written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_radicale(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    users = folder / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    port = _free_port()
    args = [
        sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(folder / "collections"), "--auth-type", "htpasswd",
        "--auth-htpasswd-filename", str(users), "--auth-htpasswd-encryption", "plain",
        "--auth-delay", "0", "--rights-type", "owner_only", "--logging-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}/"
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("calendar sync: Radicale did not start") from None
            time.sleep(0.05)


async def _prepare(dsn: str, rooms: int) -> None:
    async with open_pool(dsn, min_size=1, max_size=2) as pool, pool.connection() as conn:
        await conn.execute(
            "INSERT INTO sites (id, name, timezone) VALUES ('bench', 'Bench', %s)", [ZONE.key]
        )
        await conn.execute(
            "INSERT INTO rooms (id, site_id, name)"
            " SELECT format('room-%%s', lpad(i::text, 3, '0')), 'bench', format('Room %%s', i)"
            " FROM generate_series(0, %s - 1) i",
            [rooms],
        )
        await conn.commit()


def warm_server(site: SiteCalendars) -> float:
    """Have Radicale parse and cache every item once (as a server in use has), untimed by
    the cycles: one Depth-1 PROPFIND per calendar. Returns the seconds it took."""
    from caldav.davclient import DAVClient

    began = time.perf_counter()
    with DAVClient(site.url, username=site.user, password=site.password) as client:
        for url in site.rooms.values():
            client.propfind(url, ["{DAV:}getetag"], depth=1)
    return time.perf_counter() - began


async def _cycles(
    dsn: str, site: SiteCalendars, at_once: int
) -> tuple[SyncReport, float, SyncReport, float]:
    connector = connectors_for(
        lambda: CalDavConnector(site.url, site.user, site.password), len(site.rooms), at_once
    )
    try:
        async with open_pool(dsn, min_size=1, max_size=2) as pool:
            now = datetime.now(UTC)
            began = time.perf_counter()
            full = await sync_site(pool, site, connector, now)
            full_s = time.perf_counter() - began
            began = time.perf_counter()
            again = await sync_site(pool, site, connector, now)
            again_s = time.perf_counter() - began
    finally:
        for one in connector:
            one.close()
    return full, full_s, again, again_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--rooms-at-once", type=int, default=ROOMS_AT_ONCE, help="1: one room after another"
    )
    args = parser.parse_args(argv)
    reason = server_reachable()
    if reason is not None:
        print(f"calendar sync: PostgreSQL is not reachable ({reason})", file=sys.stderr)
        return 2
    today = datetime.now(ZONE).date()
    with tempfile.TemporaryDirectory() as tmp, throwaway_database("tapin_bench") as dsn:
        folder = Path(tmp)
        meetings = seed_storage(folder / "collections", args.rooms, args.days, today)
        init_db(dsn)
        asyncio.run(_prepare(dsn, args.rooms))
        process, url = start_radicale(folder)
        try:
            site = SiteCalendars(
                site_id="bench",
                connector="caldav",
                url=url,
                user=USER,
                password=PASSWORD,
                rooms={f"room-{r:03d}": f"{url}{USER}/room-{r:03d}/" for r in range(args.rooms)},
            )
            warm_s = warm_server(site)
            full, full_s, again, again_s = asyncio.run(
                _cycles(dsn, site, max(1, args.rooms_at_once))
            )
        finally:
            process.terminate()
            process.wait(10)
    print(f"seeded: {args.rooms} rooms, {meetings} meetings + {args.rooms} weekly series")
    print(f"Radicale's item cache warmed in {warm_s:.2f} s (not part of a cycle)")
    print(f"rooms read at once: {max(1, args.rooms_at_once)}")
    print(
        f"full cycle: {full_s:.2f} s, {full.requests} requests, {full.rooms} rooms,"
        f" {full.changed} meetings written, {len(full.failed)} failed"
    )
    print(
        f"unchanged cycle: {again_s:.2f} s, {again.requests} requests,"
        f" {again.changed} meetings changed, {again.removed} removed"
    )
    ok = (
        not full.failed
        and not again.failed
        and full.rooms == again.rooms == args.rooms
        and full.changed >= meetings
        and again.changed == again.removed == 0
        and again.requests == args.rooms
    )
    print(
        f"calendar sync: full {full_s:.2f} s / {full.requests} requests; unchanged"
        f" {again_s:.2f} s / {again.requests} requests; unchanged/full requests"
        f" {again.requests / max(1, full.requests):.2f}, time {again_s / max(full_s, 1e-9):.3f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""What ``tapin central serve`` runs on a schedule: calendar sync, write-back, retention.

:func:`attach` wraps a central app's lifespan so that, while it serves, an APScheduler
``AsyncIOScheduler`` (started inside the running loop) runs

- ``calendar-sync-<site>`` every site's ``interval_seconds`` (first at start-up), reading
  up to :data:`~central.calendars.sync.ROOMS_AT_ONCE` rooms at once (one connector each),
- ``calendar-writeback`` every :data:`WRITEBACK_SECONDS` for sites with ``writeback``,
- ``directory-sync-<site>`` every site's ``directory_interval_minutes`` for sites with a
  ``directory`` (:mod:`central.directory_sync`; first at start-up),
- ``retention`` every ``[schedule] retention_hours`` (first :data:`RETENTION_DELAY` after
  start-up).

Every job runs at most once at a time in a process (``max_instances=1``, missed runs
coalesced), and across the processes of ``serve --workers N`` the sync holds a per-site
advisory lock, retention a global one and the write-back claims its rows ``SKIP LOCKED``.
A job's failure is logged by type and the job runs again at its next time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from psycopg_pool import AsyncConnectionPool

from central.calendars.base import Connector
from central.calendars.settings import CalendarSettings, make_connector
from central.errors import SettingsError

__all__ = ["RETENTION_DELAY", "WRITEBACK_SECONDS", "attach", "background"]

log = logging.getLogger(__name__)

WRITEBACK_SECONDS = 2.0
RETENTION_DELAY = timedelta(minutes=1)
_RETENTION_LOCK = "tapin-retention"


def _guard(name: str, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except SettingsError as exc:  # says what to fix, never a secret
            log.error("scheduled job %s failed: %s", name, exc.detail)
        except Exception as exc:  # keep the schedule alive; the job runs again next time
            log.error("scheduled job %s failed: %s", name, type(exc).__name__)

    return run


def _every(
    scheduler: Any, name: str, seconds: float, job: Callable[[], Awaitable[Any]], start: datetime
) -> None:
    """Run ``job`` (guarded: :func:`_guard`) every ``seconds`` from ``start``, as job ``name``."""
    scheduler.add_job(_guard(name, job), "interval", seconds=seconds, id=name, next_run_time=start)


async def _retention(pool: AsyncConnectionPool, clock: Callable[[], datetime]) -> None:
    from central.retention import run_retention

    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_RETENTION_LOCK])
            row = await cur.fetchone()
            if not (row and row[0]):
                return
            try:
                await run_retention(pool, clock())
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_RETENTION_LOCK])
        finally:
            await conn.set_autocommit(False)


@asynccontextmanager
async def background(
    pool: AsyncConnectionPool,
    settings: CalendarSettings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AsyncIterator[Any]:
    """Run the schedule while inside; yields the scheduler (stopped on the way out)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from central.calendars.sync import connectors_for, sync_site
    from central.calendars.writeback import drain_writebacks

    scheduler = AsyncIOScheduler(
        event_loop=asyncio.get_running_loop(),
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
        timezone=UTC,
    )
    connectors: dict[str, Connector] = {}
    readers: list[Connector] = []  # every connector made, closed on the way out
    start = datetime.now(UTC)
    for site in settings.sites.values():
        several = connectors_for(partial(make_connector, site), len(site.rooms))
        readers.extend(several)
        connectors[site.site_id] = several[0]  # the write-back's and the directory's

        async def sync(site: Any = site, several: list[Connector] = several) -> None:
            await sync_site(pool, site, several, clock())

        _every(scheduler, f"calendar-sync-{site.site_id}", site.interval_seconds, sync, start)
    for site in settings.sites.values():
        if site.directory:
            from central.directory_sync import sync_directory

            async def directory(site: Any = site) -> None:
                await sync_directory(
                    pool,
                    site.site_id,
                    site.directory,
                    clock(),
                    connector=connectors[site.site_id] if site.directory == "graph" else None,
                    csv_path=site.directory_csv,
                    visible_group=site.visible_group,
                )

            name = f"directory-sync-{site.site_id}"
            _every(scheduler, name, site.directory_interval_seconds, directory, start)
    rooms = {
        room: site.site_id
        for site in settings.sites.values()
        if site.writeback
        for room in site.rooms
    }
    if rooms:

        async def writeback() -> None:
            await drain_writebacks(pool, connectors, rooms)

        _every(scheduler, "calendar-writeback", WRITEBACK_SECONDS, writeback, start)
    scheduler.add_job(
        _guard("retention", lambda: _retention(pool, clock)),
        "interval",
        hours=settings.retention_hours,
        id="retention",
        next_run_time=start + RETENTION_DELAY,
    )
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        for connector in readers:
            await asyncio.to_thread(connector.close)


def attach(app: Any, settings: CalendarSettings) -> None:
    """Run :func:`background` inside ``app``'s lifespan (a central app from
    :func:`central.app.create_app`, whose lifespan opens the pool)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app), background(app.state.central.pool, settings) as scheduler:
            app.state.calendar_scheduler = scheduler
            yield

    app.router.lifespan_context = lifespan

"""The worker inside ``tapin central serve``: drains the outbox, signs visitors out at the
end of their site's day.

Every serving process runs one (``serve --workers N``: N workers). They share nothing but
PostgreSQL: outbox rows are claimed ``FOR NO KEY UPDATE SKIP LOCKED`` (see
:mod:`central.notify.outbox`), and the end-of-day sign-out is one idempotent ``UPDATE``.

Wake-up: the worker polls every :data:`POLL_SECONDS` (one indexed query on
``host_notifications_due`` when nothing is due) rather than ``LISTEN``/``NOTIFY``. A
notification cannot be missed (a ``NOTIFY`` sent while a listener reconnects is lost and
needs a poll as a safety net anyway), it keeps retries (``next_attempt_at`` in the future)
on the same path, and it needs no connection held open outside the pool. The process that
applies a batch of events wakes its own worker at once (``wake``), so a sign-in is
usually delivered within milliseconds; one polled from another process within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from central.notify.outbox import DrainReport, drain_outbox
from central.notify.settings import NotifySettings

__all__ = ["POLL_SECONDS", "SIGNOUT_SECONDS", "run_worker", "work_once"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
SIGNOUT_SECONDS = 30.0


async def work_once(
    pool: AsyncConnectionPool,
    settings: NotifySettings,
    now: datetime,
    *,
    invite_key: bytes | None,
    sign_out: bool = True,
) -> DrainReport:
    """One round: the end-of-day sign-out (with ``sign_out``) and the due outbox rows at
    ``now``. Raises what the database raises."""
    from central.visitors import auto_signout

    if sign_out:
        await auto_signout(pool, now)
    return await drain_outbox(pool, settings, now, invite_key=invite_key)


async def run_worker(
    pool: AsyncConnectionPool,
    settings: NotifySettings,
    stop: asyncio.Event,
    *,
    invite_key: bytes | None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    poll_seconds: float = POLL_SECONDS,
    wake: asyncio.Event | None = None,
) -> None:
    """Work until ``stop`` is set (set ``wake`` too, to stop at once). ``wake``, when
    given, cuts the wait short: the app sets it after each batch of events this process
    applied, so a sign-in here is delivered without waiting for the next poll. A
    database outage or any other failure is logged (by type, never with data) and the
    worker carries on at the next poll."""
    last_signout = 0.0
    loop = asyncio.get_running_loop()
    nudge = wake or stop
    while not stop.is_set():
        if wake is not None:
            wake.clear()  # a wake-up during this round cuts the next wait short
        sign_out = loop.time() - last_signout >= SIGNOUT_SECONDS
        try:
            report = await work_once(
                pool, settings, clock(), invite_key=invite_key, sign_out=sign_out
            )
            if sign_out:
                last_signout = loop.time()
            if report.handled:
                log.debug(
                    "outbox: %d delivered, %d retrying, %d failed",
                    report.delivered,
                    report.retrying,
                    report.failed,
                )
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("notification worker: database unavailable (%s)", type(exc).__name__)
        except Exception as exc:  # keep the worker alive; the row is retried next poll
            log.error("notification worker failed: %s", type(exc).__name__)
        if stop.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(nudge.wait(), poll_seconds)

"""Rate limits kept in PostgreSQL, so every central worker process (and every machine
behind a load balancer) counts the same attempts.

``/v1/enroll`` is the one door open to anyone: each failed attempt is recorded with its
source address; more than :data:`PER_SOURCE` failures from one address, or
:data:`EVERYONE` from all addresses, within :data:`WINDOW` answer ``429`` with
``Retry-After`` until the oldest failure leaves the window. Successful enrollments are
not counted (fifty Pis behind one office NAT enroll at once). Every failure is logged
with its address and count, for monitoring.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import psycopg

from central.errors import TooManyRequests

__all__ = ["EVERYONE", "PER_SOURCE", "WINDOW", "check_enroll", "enroll_failed"]

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=10)
PER_SOURCE = 10
EVERYONE = 200
KEEP = timedelta(days=1)

_COUNT = """
SELECT count(*) FILTER (WHERE source = %(source)s),
       min(at) FILTER (WHERE source = %(source)s),
       count(*),
       min(at),
       now()
FROM enroll_failures WHERE at > now() - %(window)s
"""


async def check_enroll(conn: psycopg.AsyncConnection, source: str) -> None:
    """Raise :class:`TooManyRequests` when ``source`` (or everyone) failed too often."""
    cur = await conn.execute(_COUNT, {"source": source, "window": WINDOW})
    row = await cur.fetchone()
    assert row is not None
    mine, my_oldest, everyone, oldest, now = row
    if mine >= PER_SOURCE:
        wait = my_oldest + WINDOW - now
    elif everyone >= EVERYONE:
        wait = oldest + WINDOW - now
    else:
        return
    seconds = max(1, math.ceil(wait.total_seconds()))
    log.info("enrollment from %s refused for %d s: too many failures", source, seconds)
    raise TooManyRequests(
        f"too many failed enrollments; try again in {seconds} seconds", retry_after=seconds
    )


async def enroll_failed(conn: psycopg.AsyncConnection, source: str, error: str) -> None:
    """Record a failed enrollment from ``source`` and log it for monitoring."""
    await conn.execute("INSERT INTO enroll_failures (source) VALUES (%s)", [source])
    await conn.execute("DELETE FROM enroll_failures WHERE at < now() - %s", [KEEP])
    cur = await conn.execute(
        "SELECT count(*) FROM enroll_failures WHERE source = %s AND at > now() - %s",
        [source, WINDOW],
    )
    row = await cur.fetchone()
    count = row[0] if row else 0
    log.warning(
        "enrollment failed from %s (%s): %d failures from there in %d min",
        source,
        error,
        count,
        WINDOW.total_seconds() // 60,
    )

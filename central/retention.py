"""Retention from the privacy policy: history 90 days, inactive people 365 days.

Visitors are history: a sign-in (name, company, email, photo, signature, badge hash) and
its notifications go 90 days after it was made, an invite 90 days after its day. Room
and desk bookings (the kiosk's desk bookings too, with their private flag and check-in)
go 90 days after they ended; they are kept that long for statistics.

Run it daily (cron or a scheduler calling :func:`run_retention`). Children are deleted
before their parents so that each count is what that table lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

__all__ = ["HISTORY", "INACTIVE_PEOPLE", "run_retention"]

log = logging.getLogger(__name__)

HISTORY = timedelta(days=90)
INACTIVE_PEOPLE = timedelta(days=365)

# (table, condition on the row's age). %(h)s is the history cutoff, %(p)s the people one.
_PLAN = (
    ("checkins", "checked_in_at < %(h)s"),
    ("releases", "released_at < %(h)s"),
    ("host_notifications", "created_at < %(h)s"),
    ("visitor_signins", "signed_in_at < %(h)s"),  # photos, signatures, badge hashes with them
    ("visitor_invites", "day < %(h)s::date AND created_at < %(h)s"),
    ("issue_reports", "reported_at < %(h)s"),
    ("presence_samples", "upper(during) < %(h)s"),
    ("bookings", "upper(during) < %(h)s"),
    ("meetings", "upper(during) < %(h)s"),
    ("applied_events", "applied_at < %(h)s"),
    ("device_commands", "acknowledged_at < %(h)s"),
    ("enrollment_codes", "expires_at < %(h)s"),
    ("people", "last_active_at < %(p)s"),
)


async def run_retention(pool: AsyncConnectionPool, now: datetime) -> dict[str, int]:
    """Delete what the policy no longer lets central keep; return rows deleted per table.

    ``now`` must be timezone-aware. One transaction: all or nothing.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cutoffs = {"h": now - HISTORY, "p": now - INACTIVE_PEOPLE}
    counts: dict[str, int] = {}
    async with pool.connection() as conn, conn.transaction():
        for table, condition in _PLAN:
            cur = await conn.execute(f"DELETE FROM {table} WHERE {condition}", cutoffs)
            counts[table] = cur.rowcount
    log.info("retention: %s", ", ".join(f"{t}={n}" for t, n in counts.items()))
    return counts

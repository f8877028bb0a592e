"""Retention from the privacy policy: history 90 days, inactive people 365 days.

Visitors are history: a sign-in (name, company, email, photo, signature, badge hash) and
its notifications go 90 days after it was made, an invite 90 days after its day. Room
and desk bookings (the kiosk's desk bookings too, with their private flag and check-in)
go 90 days after they ended; they are kept that long for statistics.

``tapin central serve`` runs it on its own schedule (daily by default, see
:mod:`central.calendars.schedule`); ``tapin central retention`` runs it by hand. Children
are deleted before their parents so that each count is what that table lost (a booking's
calendar write-back row goes with the booking). The admin portal's audit log is kept 365
days (its trigger lets only those older rows be deleted, by the database's clock). Each
run is recorded in ``retention_runs`` (counts only) for the portal's retention page;
:func:`retention_preview` counts what a run would delete now.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

__all__ = ["AUDIT", "HISTORY", "INACTIVE_PEOPLE", "PLAN", "retention_preview", "run_retention"]

log = logging.getLogger(__name__)

HISTORY = timedelta(days=90)
INACTIVE_PEOPLE = timedelta(days=365)
AUDIT = timedelta(days=365)

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
    ("people", "last_active_at < %(p)s OR inactive_since < %(p)s"),  # gone from the directory
    ("admin_audit", "at < now() - interval '365 days'"),  # the trigger's own rule
)
PLAN = tuple(table for table, _ in _PLAN)
"""The tables retention deletes from, in order."""


def _cutoffs(now: datetime) -> dict[str, datetime]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {"h": now - HISTORY, "p": now - INACTIVE_PEOPLE}


async def retention_preview(pool: AsyncConnectionPool, now: datetime) -> dict[str, int]:
    """How many rows per table a run at ``now`` would delete (nothing is deleted).
    Raises :class:`ValueError` for a naive ``now``."""
    cutoffs = _cutoffs(now)
    counts: dict[str, int] = {}
    async with pool.connection() as conn:
        for table, condition in _PLAN:
            cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE {condition}", cutoffs)
            row = await cur.fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


async def run_retention(pool: AsyncConnectionPool, now: datetime) -> dict[str, int]:
    """Delete what the policy no longer lets central keep; return rows deleted per table.

    ``now`` must be timezone-aware. One transaction: all or nothing.
    """
    cutoffs = _cutoffs(now)
    counts: dict[str, int] = {}
    async with pool.connection() as conn, conn.transaction():
        for table, condition in _PLAN:
            cur = await conn.execute(f"DELETE FROM {table} WHERE {condition}", cutoffs)
            counts[table] = cur.rowcount
        await conn.execute("DELETE FROM retention_runs WHERE ran_at < now() - interval '365 days'")
        await conn.execute("INSERT INTO retention_runs (counts) VALUES (%s)", [Jsonb(counts)])
    log.info("retention: %s", ", ".join(f"{t}={n}" for t, n in counts.items()))
    return counts

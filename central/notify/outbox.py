"""The notification outbox: ``host_notifications`` rows turned into emails and chat posts.

A ``visitor.signin`` commits one row for its host (or for reception, when no host was
named) in the same transaction as the sign-in; an invite commits one row for the visitor
(``invite_id`` set, recipient ``visitor``: the invite email with its QR code, see
:mod:`central.notify.invites`). :func:`drain_outbox` delivers the due rows, one
transaction per row:

1. claim: ``SELECT ... FOR NO KEY UPDATE OF n SKIP LOCKED`` (the ``FOR UPDATE`` family;
   the weaker lock still lets step 2 reference the row): any number of workers, in any
   number of processes or machines, each take a different row and never wait on one
   another;
2. record "before": a ``notification_sends`` row, committed on a second connection
   before anything is sent;
3. send (SMTP or webhook) while the claim's lock is held;
4. record "after", in the claim's transaction: ``delivered`` (or the failure, with the
   next attempt ``first_delay * 2**n`` later, jittered, capped) and delete the "before"
   row; commit.

A row is delivered **at least once**: if the process dies between 3 and 4, its lock goes
with it and another worker claims the row again, and then sees the "before" row of the
unfinished attempt. An email is then sent again with the same ``Message-ID`` (fixed per
sign-in and recipient), which mail systems treat as the same message, so the host sees
it once. A webhook post has no such key: rather than post twice, the row is given up and
reception told. Each sign-in has at most one host row and one reception row (a unique
index), so it is never notified twice by design.

Giving up (after ``RetryPolicy.attempts`` failures, ``give_up_after`` since the sign-in,
or at once for a permanent failure) marks the row ``failed`` and queues a reception row
(``host_failed``), so someone is told. ``last_error`` holds an SMTP code or HTTP status,
never an address or text from the other side. Logs carry row ids and outcomes only.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import AsyncConnectionPool

from central.notify.errors import PermanentFailure, TemporaryFailure
from central.notify.invites import invite_email
from central.notify.messages import (
    Message,
    Visit,
    email_bodies,
    host_message,
    reception_message,
)
from central.notify.settings import NotifySettings, RetryPolicy
from central.notify.smtp import build_email, send_email
from central.notify.webhooks import post_webhook

__all__ = ["DrainReport", "backoff", "drain_outbox", "message_id"]

log = logging.getLogger(__name__)

_CLAIM = """
SELECT n.id, n.signin_id, n.recipient, n.reason, n.channel, n.attempts, n.created_at,
       EXISTS (SELECT 1 FROM notification_sends s WHERE s.notification_id = n.id),
       v.name, v.company, v.signed_in_at, coalesce(nullif(l.name, ''), v.lobby_id),
       s.name, s.timezone, s.language, s.reception_email, s.teams_webhook, s.slack_webhook,
       h.name, h.email, h.notify_webhook,
       (SELECT p.name FROM people p WHERE p.id = v.host_id),
       h.inactive_since IS NOT NULL
FROM host_notifications n
JOIN visitor_signins v ON v.id = n.signin_id
JOIN sites s ON s.id = v.site_id
LEFT JOIN lobbies l ON l.id = v.lobby_id
LEFT JOIN people h ON h.id = n.host_id
WHERE n.status = 'pending' AND n.next_attempt_at <= %(now)s
ORDER BY n.next_attempt_at, n.id
LIMIT 1
FOR NO KEY UPDATE OF n SKIP LOCKED
"""

_BEFORE = """
INSERT INTO notification_sends (notification_id, attempt) VALUES (%s, %s)
ON CONFLICT (notification_id, attempt) DO UPDATE SET started_at = now()
"""

_DELIVERED = """
UPDATE host_notifications SET status = 'delivered', delivered_at = %(now)s,
       attempts = attempts + 1, last_error = NULL
WHERE id = %(id)s
"""

_RETRY = """
UPDATE host_notifications SET attempts = attempts + 1, next_attempt_at = %(next)s,
       last_error = %(error)s
WHERE id = %(id)s
"""

_FAILED = """
UPDATE host_notifications SET status = 'failed', attempts = attempts + %(tried)s,
       last_error = %(error)s
WHERE id = %(id)s
"""

_TELL_RECEPTION = """
INSERT INTO host_notifications (signin_id, recipient, reason, channel, created_at,
                                next_attempt_at)
SELECT v.id, 'reception', 'host_failed', s.reception_via, %(now)s, %(now)s
FROM visitor_signins v JOIN sites s ON s.id = v.site_id
WHERE v.id = %(signin)s
ON CONFLICT (signin_id, recipient) WHERE signin_id IS NOT NULL DO NOTHING
"""

_CLAIM_INVITE = """
SELECT n.id, n.invite_id, n.attempts, n.created_at,
       EXISTS (SELECT 1 FROM notification_sends s WHERE s.notification_id = n.id),
       i.name, i.email, i.day, s.name, s.language, h.name
FROM host_notifications n
JOIN visitor_invites i ON i.id = n.invite_id
JOIN sites s ON s.id = i.site_id
LEFT JOIN people h ON h.id = i.host_id
WHERE n.status = 'pending' AND n.next_attempt_at <= %(now)s
ORDER BY n.next_attempt_at, n.id
LIMIT 1
FOR NO KEY UPDATE OF n SKIP LOCKED
"""


@dataclass(slots=True)
class DrainReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.failed


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    signin_id: str
    recipient: str
    reason: str
    channel: str
    attempts: int
    created_at: datetime
    in_doubt: bool
    visit: Visit
    reception_email: str
    site_webhooks: dict[str, str | None]
    host_email: str
    host_webhook: str | None
    host_inactive: bool
    """The host left the directory (directory sync) after the sign-in was queued."""


def _row(r: tuple[Any, ...]) -> _Row:
    zone = ZoneInfo(r[13])
    recipient = r[2]
    host_name = r[18] if recipient == "host" else r[21]
    visit = Visit(
        visitor=r[8],
        company=r[9],
        lobby=r[11],
        site=r[12],
        at=r[10].astimezone(zone),
        language=r[14],
        host=host_name,
    )
    return _Row(
        id=r[0],
        signin_id=r[1],
        recipient=recipient,
        reason=r[3],
        channel=r[4],
        attempts=r[5],
        created_at=r[6],
        in_doubt=r[7],
        visit=visit,
        reception_email=r[15],
        site_webhooks={"teams": r[16], "slack": r[17]},
        host_email=r[19] or "",
        host_webhook=r[20],
        host_inactive=bool(r[22]),
    )


def message_id(signin_id: str, recipient: str, domain: str) -> str:
    """The fixed ``Message-ID`` of a sign-in's email to ``recipient`` (host or reception)."""
    digest = hashlib.sha256(signin_id.encode("utf-8")).hexdigest()[:32]
    return f"<visit-{digest}.{recipient}@{domain}>"


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1, 2, ...): ``first_delay``
    doubling each time, capped at ``max_delay``, then jittered to 50-100 % of that."""
    base = min(policy.max_delay, policy.first_delay * (2 ** min(attempt - 1, 30)))
    return base * (rng or random).uniform(0.5, 1.0)


def _message(row: _Row) -> Message:
    if row.recipient == "host":
        return host_message(row.visit)
    return reception_message(row.visit, row.reason)


async def _send(row: _Row, settings: NotifySettings) -> None:
    """Raises :class:`TemporaryFailure` or :class:`PermanentFailure`."""
    if row.recipient == "host" and row.host_inactive:  # as for an unknown host: reception
        raise PermanentFailure("the host is no longer in the directory")
    message = _message(row)
    if row.channel == "email":
        if settings.smtp is None:
            raise PermanentFailure("email is not configured (no [smtp] in central's settings)")
        to = row.host_email if row.recipient == "host" else row.reception_email
        if not to:
            raise PermanentFailure(f"the {row.recipient} has no email address")
        text, html = email_bodies(message)
        email = build_email(
            settings.smtp,
            to=to,
            subject=message.subject,
            text=text,
            html=html,
            message_id=message_id(row.signin_id, row.recipient, settings.smtp.domain),
        )
        await send_email(settings.smtp, email)
        return
    name = (row.host_webhook if row.recipient == "host" else None) or row.site_webhooks.get(
        row.channel
    )
    url = settings.webhooks.get(name) if name else None
    if not url:
        raise PermanentFailure(f"no {row.channel} webhook is configured for the {row.recipient}")
    await post_webhook(row.channel, url, message)


@dataclass(frozen=True, slots=True)
class _Job:
    """One claimed outbox row, whatever it is about: what the bookkeeping needs."""

    id: int
    recipient: str
    channel: str
    attempts: int
    created_at: datetime
    in_doubt: bool
    signin_id: str | None
    send: Callable[[], Awaitable[None]]


async def _claim(
    conn: psycopg.AsyncConnection, settings: NotifySettings, now: datetime, key: bytes | None
) -> _Job | None:
    """Lock one due row (a sign-in's first, then an invite's), or ``None``."""
    cur = await conn.execute(_CLAIM, {"now": now})
    found = await cur.fetchone()
    if found is not None:
        row = _row(found)
        return _Job(
            row.id,
            row.recipient,
            row.channel,
            row.attempts,
            row.created_at,
            row.in_doubt,
            row.signin_id,
            lambda: _send(row, settings),
        )
    cur = await conn.execute(_CLAIM_INVITE, {"now": now})
    found = await cur.fetchone()
    if found is None:
        return None
    nid, invite_id, attempts, created_at, in_doubt, visitor, to, day, site, language, host = found

    async def send_invite() -> None:
        if settings.smtp is None:
            raise PermanentFailure("email is not configured (no [smtp] in central's settings)")
        if key is None:
            raise PermanentFailure("this worker has no invite key (central's key)")
        email = invite_email(
            settings.smtp,
            key,
            invite_id=invite_id,
            to=to,
            visitor=visitor,
            host=host,
            site=site,
            day=day,
            language=language,
        )
        await send_email(settings.smtp, email)

    return _Job(nid, "visitor", "email", attempts, created_at, in_doubt, None, send_invite)


async def _give_up(
    conn: psycopg.AsyncConnection, job: _Job, error: str, tried: int, now: datetime
) -> None:
    await conn.execute(_FAILED, {"id": job.id, "error": error[:200], "tried": tried})
    if job.recipient == "host":
        await conn.execute(_TELL_RECEPTION, {"signin": job.signin_id, "now": now})
        log.warning(
            "notification %d (host, %s) failed: %s; reception told", job.id, job.channel, error
        )
    else:
        log.error(
            "notification %d (%s, %s) failed: %s; nobody else can be told",
            job.id,
            job.recipient,
            job.channel,
            error,
        )


async def _one(
    pool: AsyncConnectionPool,
    settings: NotifySettings,
    now: datetime,
    key: bytes | None,
    report: DrainReport,
) -> bool:
    """Claim and handle one due row; ``False`` when none is due."""
    policy = settings.retry
    async with pool.connection() as conn, conn.transaction():
        job = await _claim(conn, settings, now, key)
        if job is None:
            return False
        attempt = job.attempts + 1
        if job.in_doubt and job.channel != "email":
            await _give_up(conn, job, "interrupted while sending; not resent", 0, now)
            await conn.execute(
                "DELETE FROM notification_sends WHERE notification_id = %s", [job.id]
            )
            report.failed += 1
            return True
        async with pool.connection() as before:  # committed before anything is sent
            await before.execute(_BEFORE, [job.id, attempt])
        try:
            await job.send()
        except PermanentFailure as exc:
            await _give_up(conn, job, str(exc), 1, now)
            report.failed += 1
        except TemporaryFailure as exc:
            late = now - job.created_at >= policy.give_up_after
            if attempt >= policy.attempts or late:
                await _give_up(conn, job, str(exc), 1, now)
                report.failed += 1
            else:
                wait = backoff(attempt, policy)
                await conn.execute(
                    _RETRY, {"id": job.id, "next": now + wait, "error": str(exc)[:200]}
                )
                log.info(
                    "notification %d (%s, %s) attempt %d failed: %s; retry in %.1f s",
                    job.id,
                    job.recipient,
                    job.channel,
                    attempt,
                    exc,
                    wait.total_seconds(),
                )
                report.retrying += 1
        else:
            await conn.execute(_DELIVERED, {"id": job.id, "now": now})
            log.info(
                "notification %d (%s, %s) delivered on attempt %d%s",
                job.id,
                job.recipient,
                job.channel,
                attempt,
                " (resent)" if job.in_doubt else "",
            )
            report.delivered += 1
        await conn.execute("DELETE FROM notification_sends WHERE notification_id = %s", [job.id])
    return True


async def drain_outbox(
    pool: AsyncConnectionPool,
    settings: NotifySettings,
    now: datetime,
    *,
    invite_key: bytes | None = None,
    limit: int = 100,
) -> DrainReport:
    """Deliver what is due at ``now`` (aware), up to ``limit`` rows; safe to run in any
    number of workers at once (each row is claimed by one). Each attempt holds two pool
    connections for its duration. ``invite_key`` (:func:`central.notify.invites.
    invite_key`) makes invite emails' QR codes; without it they fail. Raises
    :class:`ValueError` for a naive ``now``; database errors propagate."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = DrainReport()
    while report.handled < limit and await _one(pool, settings, now, invite_key, report):
        pass
    return report

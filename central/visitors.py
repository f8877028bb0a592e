"""Visitors at central: invites for a day, who is on site, the end-of-day sign-out,
forgetting a visitor.

Plain async functions over a pool (the CLI, the admin API and tests call them alike).
An invite's QR code (``TAPIN-INVITE:<invite id>:<secret>``, :data:`sync.events.
INVITE_QR_PREFIX`) exists only in the invite email, which the notification outbox sends:
central keeps the secret's SHA-256 (the secret is derived from central's key, see
:mod:`central.notify.invites`), and the kiosk's ``visitors`` snapshot carries that hash so
the kiosk can recognise the code. Logs carry ids and counts, never names or addresses.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import AsyncConnectionPool

from central.appliers.base import storable
from central.errors import BadRequest, NotFound
from central.notify.addresses import check_email, mask_email
from central.notify.invites import invite_qr, qr_png, secret_hash
from sync.events import INVITE_QR_PREFIX, MAX_COMPANY, MAX_NAME

__all__ = [
    "INVITE_QR_PREFIX",
    "ONSITE_SQL",
    "ForgetVisitorReport",
    "Invite",
    "InviteRequest",
    "OnSite",
    "auto_signout",
    "create_invite",
    "forget_visitor",
    "mask_email",
    "onsite",
    "onsite_at",
    "onsite_row",
]

log = logging.getLogger(__name__)

INVITE_DAYS_AHEAD = 366


@dataclass(frozen=True, slots=True)
class InviteRequest:
    site_id: str
    host_id: str
    name: str
    email: str
    company: str = ""
    visitor_type: str = "guest"
    day: date | None = None
    """``None``: the site's today."""

    @classmethod
    def from_json(cls, body: Any) -> InviteRequest:
        """From an API body. Raises :class:`BadRequest`."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        values: dict[str, Any] = {}
        for key in ("site_id", "host_id", "name", "email", "company", "visitor_type", "day"):
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{key!r} must be a string")
            if value is not None:
                values[key] = value
        for key in ("site_id", "host_id", "name", "email"):
            if not values.get(key):
                raise BadRequest(f"{key!r} is required")
        if "day" in values:
            try:
                values["day"] = date.fromisoformat(values["day"])
            except ValueError:
                raise BadRequest("'day' must be a date, YYYY-MM-DD") from None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    site_id: str
    day: date
    qr: str = field(repr=False)
    """The QR code's text, ``TAPIN-INVITE:<id>:<secret>``: emailed, never stored."""

    def qr_png(self, scale: int = 8) -> bytes:
        return qr_png(self.qr, scale)

    def to_json(self) -> dict[str, Any]:
        """What the admin API answers (no secret: it travels only in the email)."""
        return {
            "id": self.id,
            "site_id": self.site_id,
            "day": self.day.isoformat(),
            "emailed": "queued",
        }


def _check_request(request: InviteRequest) -> InviteRequest:
    name, company = request.name.strip(), request.company.strip()
    if not name or len(name) > MAX_NAME or not storable(name) or not name.isprintable():
        raise BadRequest(f"the visitor's name must be 1 to {MAX_NAME} printable characters")
    if len(company) > MAX_COMPANY or not storable(company) or not company.isprintable():
        raise BadRequest(f"the company must be at most {MAX_COMPANY} printable characters")
    try:
        email = check_email(request.email)
    except ValueError:
        raise BadRequest("the visitor's email is not an email address") from None
    return InviteRequest(
        request.site_id, request.host_id, name, email, company, request.visitor_type, request.day
    )


async def _site(conn: psycopg.AsyncConnection, site_id: str) -> tuple[str, ZoneInfo, str]:
    cur = await conn.execute("SELECT name, timezone, language FROM sites WHERE id = %s", [site_id])
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"there is no site {site_id!r}")
    return row[0], ZoneInfo(row[1]), row[2]


async def create_invite(
    pool: AsyncConnectionPool, request: InviteRequest, *, now: datetime, key: bytes
) -> Invite:
    """Make an invite for a day and queue its email (with the QR code) in the
    notification outbox, in one transaction; ``key`` is central's invite key
    (:func:`central.notify.invites.invite_key`).

    Raises :class:`BadRequest` (a field, a day in the past or over a year ahead, a type
    the site does not have) and :class:`NotFound` (site, or host not at the site).
    """
    request = _check_request(request)
    invite_id = f"inv-{secrets.token_hex(8)}"
    qr = invite_qr(key, invite_id)
    async with pool.connection() as conn, conn.transaction():
        _, zone, _ = await _site(conn, request.site_id)
        today = now.astimezone(zone).date()
        day = request.day or today
        if not today <= day <= today + timedelta(days=INVITE_DAYS_AHEAD):
            raise BadRequest(f"the day must be from today ({today}) to a year ahead")
        cur = await conn.execute(
            "SELECT 1 FROM people WHERE id = %s AND site_id = %s AND inactive_since IS NULL",
            [request.host_id, request.site_id],
        )
        if await cur.fetchone() is None:
            raise NotFound(f"there is no person {request.host_id!r} at site {request.site_id!r}")
        cur = await conn.execute(
            "SELECT 1 FROM visitor_types WHERE site_id = %s AND id = %s",
            [request.site_id, request.visitor_type],
        )
        if await cur.fetchone() is None:
            raise BadRequest(
                f"site {request.site_id!r} has no visitor type {request.visitor_type!r}"
            )
        await conn.execute(
            "INSERT INTO visitor_invites (id, site_id, day, host_id, name, email, company,"
            " visitor_type, secret_hash, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                invite_id,
                request.site_id,
                day,
                request.host_id,
                request.name,
                request.email,
                request.company,
                request.visitor_type,
                secret_hash(qr.rpartition(":")[2]),
                now,
            ],
        )
        await conn.execute(
            "INSERT INTO host_notifications (invite_id, recipient, reason, channel)"
            " VALUES (%s, 'visitor', 'invite', 'email')",
            [invite_id],
        )
    log.info("invite %s made for site %s on %s; email queued", invite_id, request.site_id, day)
    return Invite(invite_id, request.site_id, day, qr)


# The notification state of a sign-in, as the kiosk shows it (docs/central.md, Visitors).
_NOTIFIED_SQL = """
CASE WHEN hn.status IS NOT NULL THEN hn.status
     WHEN rn.status = 'delivered' THEN 'reception'
     WHEN rn.status = 'pending' THEN 'pending'
     ELSE 'failed' END
"""

ONSITE_SQL = f"""
SELECT v.id, v.site_id, v.name, v.company, v.visitor_type, v.host_id,
       h.visibility = 'visible', h.name, v.lobby_id, v.signed_in_at, s.timezone,
       {_NOTIFIED_SQL}
FROM visitor_signins v
JOIN sites s ON s.id = v.site_id
LEFT JOIN people h ON h.id = v.host_id
LEFT JOIN host_notifications hn ON hn.signin_id = v.id AND hn.recipient = 'host'
LEFT JOIN host_notifications rn ON rn.signin_id = v.id AND rn.recipient = 'reception'
WHERE v.signed_out_at IS NULL AND (%(site)s::text IS NULL OR v.site_id = %(site)s)
ORDER BY v.site_id, v.signed_in_at, v.id
"""


@dataclass(frozen=True, slots=True)
class OnSite:
    """A visitor signed in now (and not signed out)."""

    visitor_id: str
    site_id: str
    name: str
    company: str
    visitor_type: str
    host_id: str | None
    host_visible: bool
    host_name: str | None
    lobby_id: str
    signed_in_at: datetime
    """In the site's timezone."""
    notified: str

    def to_json(self) -> dict[str, Any]:
        return {
            "visitor_id": self.visitor_id,
            "site_id": self.site_id,
            "name": self.name,
            "company": self.company,
            "visitor_type": self.visitor_type,
            "host_id": self.host_id,
            "host_name": self.host_name,
            "lobby_id": self.lobby_id,
            "signed_in_at": self.signed_in_at.isoformat(),
            "notified": self.notified,
        }


def onsite_row(row: tuple[Any, ...]) -> OnSite:
    return OnSite(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        bool(row[6]),
        row[7],
        row[8],
        row[9].astimezone(ZoneInfo(row[10])),
        row[11],
    )


async def onsite_at(conn: psycopg.AsyncConnection, site_id: str | None) -> list[OnSite]:
    cur = await conn.execute(ONSITE_SQL, {"site": site_id})
    return [onsite_row(row) for row in await cur.fetchall()]


async def onsite(pool: AsyncConnectionPool, site_id: str | None = None) -> list[OnSite]:
    """Who is signed in now, at ``site_id`` or everywhere, by site and sign-in time.
    Raises :class:`NotFound` for an unknown site."""
    async with pool.connection() as conn:
        if site_id is not None:
            await _site(conn, site_id)
        return await onsite_at(conn, site_id)


_AUTO_SIGNOUT = """
WITH due AS (
    SELECT v.id,
           CASE WHEN (v.signed_in_at AT TIME ZONE s.timezone)::time < s.visitors_end_of_day
                THEN ((v.signed_in_at AT TIME ZONE s.timezone)::date + s.visitors_end_of_day)
                     AT TIME ZONE s.timezone
                ELSE ((v.signed_in_at AT TIME ZONE s.timezone)::date + 1)::timestamp
                     AT TIME ZONE s.timezone
           END AS out_at
    FROM visitor_signins v JOIN sites s ON s.id = v.site_id
    WHERE v.signed_out_at IS NULL
)
UPDATE visitor_signins v SET signed_out_at = due.out_at, signed_out_via = 'auto'
FROM due
WHERE v.id = due.id AND due.out_at <= %(now)s AND v.signed_out_at IS NULL
RETURNING v.site_id
"""


async def auto_signout(pool: AsyncConnectionPool, now: datetime) -> Mapping[str, int]:
    """Sign out, via ``auto``, every visitor still in after their site's end of day
    (``sites.visitors_end_of_day``, site time) on the day they signed in; one who signed
    in after it, at that day's midnight. The sign-out time is that moment, not ``now``.
    Idempotent and safe in several workers at once. Returns counts per site."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    async with pool.connection() as conn:
        cur = await conn.execute(_AUTO_SIGNOUT, {"now": now})
        rows = await cur.fetchall()
    counts: dict[str, int] = {}
    for (site,) in rows:
        counts[site] = counts.get(site, 0) + 1
    if counts:
        log.info("auto sign-out: %s", ", ".join(f"{s}={n}" for s, n in sorted(counts.items())))
    return counts


@dataclass(frozen=True, slots=True)
class ForgetVisitorReport:
    signins: int
    """Sign-ins deleted (with their photos, signatures and notifications)."""
    invites: int
    """Invites deleted (with their emails still queued)."""


async def forget_visitor(pool: AsyncConnectionPool, email: str) -> ForgetVisitorReport:
    """Erase every sign-in and invite of the visitor with this email address, at every
    site, in one transaction (their notifications go with them). A sign-in made without
    an email (and without an invite) cannot be found this way.

    Raises :class:`BadRequest` for something that is not an email address and
    :class:`NotFound` when central holds nothing for it.
    """
    try:
        address = check_email(email)
    except ValueError:
        raise BadRequest("that is not an email address") from None
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "DELETE FROM visitor_signins WHERE email <> '' AND lower(email) = lower(%s)",
            [address],
        )
        signins = cur.rowcount
        cur = await conn.execute(
            "DELETE FROM visitor_invites WHERE lower(email) = lower(%s)", [address]
        )
        invites = cur.rowcount
    if not signins and not invites:
        raise NotFound("central holds no visitor with that email address")
    log.info("visitor forgotten: %d sign-ins, %d invites deleted", signins, invites)
    return ForgetVisitorReport(signins, invites)

"""The portal's rows in PostgreSQL: admins and their roles, sessions, sign-in failures,
monitoring counters and the append-only audit log.

Every function takes an open connection (the caller owns the transaction) or a pool.
Nothing here logs an email address or a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from central.errors import BadRequest, NotFound
from central.portal.security import (
    check_password_policy,
    hash_password,
    new_token,
    sha256,
)

__all__ = [
    "ABSOLUTE_TIMEOUT",
    "IDLE_TIMEOUT",
    "ROLES",
    "SITE_ROLES",
    "Admin",
    "AuditRow",
    "Session",
    "audit",
    "audit_rows",
    "bump",
    "counters",
    "create_admin",
    "create_session",
    "dicts",
    "end_session",
    "failures",
    "find_admin",
    "list_admins",
    "load_admin",
    "load_session",
    "purge_audit",
    "record_failure",
]

ROLES = ("global", "site_admin", "receptionist", "technician")
SITE_ROLES = ROLES[1:]
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOTP_STAGE_TIMEOUT = timedelta(minutes=10)
"""A session waiting for its code lasts this long at most."""
FAILURE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Admin:
    id: int
    email: str
    language: str | None
    totp_enrolled: bool
    roles: dict[str | None, str] = field(default_factory=dict)
    """Site id -> role; the key ``None`` holds ``"global"``."""

    @property
    def is_global(self) -> bool:
        return self.roles.get(None) == "global"

    def role_at(self, site_id: str) -> str | None:
        """The role that counts at ``site_id``: ``global`` wins over a site role."""
        return "global" if self.is_global else self.roles.get(site_id)


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: bytes
    admin_id: int
    stage: str
    """``totp``: the password was right, the code is still to come; ``full``: signed in."""
    csrf_token: str
    created_at: datetime


async def create_admin(
    pool: AsyncConnectionPool,
    email: str,
    password: str,
    role: str,
    site_id: str | None,
    *,
    actor: int | None = None,
    address: str = "cli",
) -> int:
    """Make an admin with one role and return their id (the audit row's actor is
    ``actor``, none for the command line). TOTP is enrolled at their first sign-in.

    Raises :class:`BadRequest` (policy, role, a taken email, a site with ``global`` or
    none with a site role) and :class:`NotFound` (the site)."""
    email = email.strip()
    if "@" not in email or len(email) > 320 or not email.isprintable():
        raise BadRequest("--email must be an email address")
    if role not in ROLES:
        raise BadRequest(f"--role must be one of {', '.join(ROLES)}")
    if (role == "global") != (site_id is None):
        raise BadRequest("--site is needed for a site role and not allowed with --role global")
    try:
        check_password_policy(password, email)
    except ValueError as exc:
        raise BadRequest(f"password refused: {exc}") from None
    hashed = hash_password(password)
    async with pool.connection() as conn, conn.transaction():
        if site_id is not None:
            cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site_id])
            if await cur.fetchone() is None:
                raise NotFound(f"there is no site {site_id!r}")
        cur = await conn.execute("SELECT 1 FROM admins WHERE lower(email) = lower(%s)", [email])
        if await cur.fetchone() is not None:
            raise BadRequest("an admin with that email exists already")
        cur = await conn.execute(
            "INSERT INTO admins (email, password_hash) VALUES (%s, %s) RETURNING id",
            [email, hashed],
        )
        row = await cur.fetchone()
        assert row is not None
        admin_id = int(row[0])
        await conn.execute(
            "INSERT INTO admin_roles (admin_id, site_id, role) VALUES (%s, %s, %s)",
            [admin_id, site_id, role],
        )
        await audit(conn, actor, "admin.create", site_id, str(admin_id), address)
    return admin_id


async def dicts(cur: psycopg.AsyncCursor[Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rest of ``cur``'s rows, each a dict of ``keys`` (one a column). Raises
    :class:`ValueError` when a row has more or fewer columns than ``keys``."""
    return [dict(zip(keys, row, strict=True)) for row in await cur.fetchall()]


async def list_admins(pool: AsyncConnectionPool) -> list[Admin]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM admins ORDER BY id")
        ids = [row[0] for row in await cur.fetchall()]
        found = [await load_admin(conn, admin_id) for admin_id in ids]
    return [admin for admin in found if admin is not None]


async def load_admin(conn: psycopg.AsyncConnection, admin_id: int) -> Admin | None:
    """The admin (with roles), or ``None`` when unknown or disabled."""
    cur = await conn.execute(
        "SELECT email, language, totp_secret IS NOT NULL FROM admins"
        " WHERE id = %s AND disabled_at IS NULL",
        [admin_id],
    )
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(
        "SELECT site_id, role FROM admin_roles WHERE admin_id = %s", [admin_id]
    )
    roles = {site: role for site, role in await cur.fetchall()}
    return Admin(admin_id, row[0], row[1], bool(row[2]), roles)


async def find_admin(conn: psycopg.AsyncConnection, email: str) -> tuple[int, str] | None:
    """``(id, password hash)`` of the enabled admin with this email, locked for update."""
    cur = await conn.execute(
        "SELECT id, password_hash FROM admins"
        " WHERE lower(email) = lower(%s) AND disabled_at IS NULL FOR UPDATE",
        [email.strip()],
    )
    row = await cur.fetchone()
    return (int(row[0]), str(row[1])) if row else None


async def create_session(conn: psycopg.AsyncConnection, admin_id: int, stage: str) -> str:
    """A new session; returns the cookie value (only its SHA-256 is stored)."""
    cookie = new_token()
    await conn.execute(  # sessions nobody came back to: gone past either timeout
        "DELETE FROM admin_sessions WHERE last_seen_at < %s OR created_at < %s",
        [datetime.now(UTC) - IDLE_TIMEOUT, datetime.now(UTC) - ABSOLUTE_TIMEOUT],
    )
    await conn.execute(
        "INSERT INTO admin_sessions (id_hash, admin_id, stage, csrf_token) VALUES (%s, %s, %s, %s)",
        [sha256(cookie), admin_id, stage, new_token()],
    )
    return cookie


async def load_session(
    conn: psycopg.AsyncConnection, cookie: str | None, now: datetime
) -> Session | None:
    """The live session for this cookie value, touched; ``None`` (and the row deleted)
    past its idle or absolute timeout."""
    if not cookie or len(cookie) > 100:
        return None
    id_hash = sha256(cookie)
    cur = await conn.execute(
        "SELECT admin_id, stage, csrf_token, created_at, last_seen_at FROM admin_sessions"
        " WHERE id_hash = %s",
        [id_hash],
    )
    row = await cur.fetchone()
    if row is None:
        return None
    admin_id, stage, csrf, created, seen = row
    limit = ABSOLUTE_TIMEOUT if stage == "full" else TOTP_STAGE_TIMEOUT
    if now - seen > IDLE_TIMEOUT or now - created > limit:
        await conn.execute("DELETE FROM admin_sessions WHERE id_hash = %s", [id_hash])
        return None
    await conn.execute(
        "UPDATE admin_sessions SET last_seen_at = %s WHERE id_hash = %s", [now, id_hash]
    )
    return Session(id_hash, int(admin_id), str(stage), str(csrf), created)


async def end_session(conn: psycopg.AsyncConnection, id_hash: bytes) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE id_hash = %s", [id_hash])


async def failures(
    conn: psycopg.AsyncConnection, admin_id: int | None, address: str, now: datetime
) -> tuple[int, int]:
    """Failed sign-ins in the last 10 minutes: ``(for this account, from this address)``."""
    since = now - FAILURE_WINDOW
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE admin_id = %(a)s),"
        " count(*) FILTER (WHERE address = %(addr)s)"
        " FROM admin_signin_failures WHERE failed_at > %(since)s"
        " AND (admin_id = %(a)s OR address = %(addr)s)",
        {"a": admin_id, "addr": address, "since": since},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def record_failure(
    conn: psycopg.AsyncConnection, admin_id: int | None, address: str, now: datetime
) -> None:
    """Record one failed sign-in (and forget those older than a day)."""
    await conn.execute(
        "DELETE FROM admin_signin_failures WHERE failed_at < %s", [now - timedelta(days=1)]
    )
    await conn.execute(
        "INSERT INTO admin_signin_failures (admin_id, address, failed_at) VALUES (%s, %s, %s)",
        [admin_id, address, now],
    )
    await bump(conn, "signin_failures")


async def bump(conn: psycopg.AsyncConnection, name: str, by: int = 1) -> None:
    await conn.execute(
        "INSERT INTO portal_counters (name, value) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET value = portal_counters.value + EXCLUDED.value",
        [name, by],
    )


async def counters(conn: psycopg.AsyncConnection) -> dict[str, int]:
    cur = await conn.execute("SELECT name, value FROM portal_counters ORDER BY name")
    return {str(name): int(value) for name, value in await cur.fetchall()}


async def audit(
    conn: psycopg.AsyncConnection,
    admin_id: int | None,
    action: str,
    site_id: str | None,
    target: str | None,
    address: str,
) -> None:
    """Append one row to the audit log: ids and the client address only."""
    await conn.execute(
        "INSERT INTO admin_audit (admin_id, action, site_id, target, address)"
        " VALUES (%s, %s, %s, %s, %s)",
        [admin_id, action, site_id, target, address[:100]],
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    admin_id: int | None
    actor: str
    """The actor's email (the one piece of personal data the log shows), or ``cli``."""
    action: str
    site_id: str | None
    target: str | None
    address: str


async def audit_rows(
    conn: psycopg.AsyncConnection, site_id: str | None, limit: int = 200
) -> list[AuditRow]:
    """The newest rows, of one site (``site_id``) or of all (``None``)."""
    cur = await conn.execute(
        "SELECT a.at, a.admin_id, coalesce(d.email, CASE WHEN a.admin_id IS NULL THEN 'cli'"
        " ELSE '#' || a.admin_id END), a.action, a.site_id, a.target, a.address"
        " FROM admin_audit a LEFT JOIN admins d ON d.id = a.admin_id"
        " WHERE %(site)s::text IS NULL OR a.site_id = %(site)s"
        " ORDER BY a.at DESC, a.id DESC LIMIT %(limit)s",
        {"site": site_id, "limit": limit},
    )
    rows: list[tuple[Any, ...]] = await cur.fetchall()
    return [AuditRow(*row) for row in rows]


async def purge_audit(pool: AsyncConnectionPool) -> int:
    """Delete audit rows past 365 days (the only DELETE the table's trigger lets
    through); returns how many. For the daily retention run."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("DELETE FROM admin_audit WHERE at < now() - interval '365 days'")
        return cur.rowcount

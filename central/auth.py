"""Device credentials: bearer tokens, looked up by their SHA-256 hash.

Central never stores a token or an enrollment code in clear, only ``sha256(secret)``.
Tokens are 256 random bits, so a plain fast hash is the right tool (no password
stretching needed) and lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.pq import TransactionStatus

from central.errors import NotAuthorised

__all__ = [
    "DeviceContext",
    "authenticate",
    "bearer_token",
    "hash_secret",
    "new_device_id",
    "new_token",
]


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """Who is calling: an enrolled, unrevoked device and what it may touch."""

    id: str
    site_id: str
    scope_kind: str
    """``room`` for a room panel, ``lobby`` for a lobby kiosk."""
    scope_id: str
    role: str
    timezone: ZoneInfo
    binds_since: datetime | None = None
    """Since when the device binds its events to itself (``None``: not yet seen): its
    unbound events are taken only if made before."""

    @property
    def scope_resource(self) -> str:
        """The device's own resource, e.g. ``room:aurora`` or ``lobby:main``."""
        return f"{self.scope_kind}:{self.scope_id}"


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_device_id() -> str:
    return f"dev-{secrets.token_hex(6)}"


_LOOKUP = """
WITH found AS (
    SELECT d.id, d.site_id, d.scope_kind, d.scope_id, d.role, d.revoked_at, s.timezone,
           d.binds_since
    FROM devices d JOIN sites s ON s.id = d.site_id
    WHERE d.token_hash = %s
), touched AS (
    UPDATE devices SET last_seen_at = now()
    FROM found WHERE devices.id = found.id AND found.revoked_at IS NULL
      AND (devices.last_seen_at IS NULL OR devices.last_seen_at < now() - interval '60 seconds')
)
SELECT id, site_id, scope_kind, scope_id, role, revoked_at, timezone, binds_since FROM found
"""


async def _lookup(conn: psycopg.AsyncConnection, token_hash: bytes) -> Any:
    """The device row of a token hash, its ``last_seen_at`` refreshed: one statement,
    committed on its own (autocommit for that statement: one round trip where
    BEGIN/lookup/COMMIT took three; every device request starts here). Inside a
    transaction the caller opened, it is part of that transaction."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        cur = await conn.execute(_LOOKUP, [token_hash])
        return await cur.fetchone()
    was = conn.autocommit
    await conn.set_autocommit(True)
    try:
        cur = await conn.execute(_LOOKUP, [token_hash])
        return await cur.fetchone()
    finally:
        await conn.set_autocommit(was)


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header. Raises :class:`NotAuthorised`."""
    if not header:
        raise NotAuthorised("this request needs an 'Authorization: Bearer <token>' header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise NotAuthorised("the Authorization header must be 'Bearer <token>'")
    return token


async def authenticate(conn: psycopg.AsyncConnection, header: str | None) -> DeviceContext:
    """The device a bearer token belongs to; refreshes its ``last_seen_at`` when it is a
    minute old (so a busy device's requests are read-only here: no WAL flush on each).

    Raises :class:`NotAuthorised` for a missing, unknown or revoked token.
    """
    token = bearer_token(header)
    row = await _lookup(conn, hash_secret(token))
    if row is None:
        raise NotAuthorised("unknown device token; enroll the device again")
    device_id, site_id, scope_kind, scope_id, role, revoked_at, timezone, binds_since = row
    if revoked_at is not None:
        raise NotAuthorised(f"device {device_id} was revoked; enroll it again with a new code")
    return DeviceContext(
        device_id, site_id, scope_kind, scope_id, role, ZoneInfo(timezone), binds_since
    )

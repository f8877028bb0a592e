"""Enrollment: one-time codes for technicians, and the device's first request.

A technician asks central for a code scoped to one room (a panel) or one lobby (a
kiosk). The device creates an Ed25519 key pair and sends ``POST /v1/enroll`` with the
code, its public key and a signature of the code's UTF-8 bytes (exactly as sent) made
with that key: proof that it holds the private half. Central consumes the code (single
use, expiring) and returns a bearer token, of which it keeps only the hash.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg_pool import AsyncConnectionPool

from central.auth import hash_secret, new_device_id, new_token
from central.errors import BadRequest, EnrollmentError, NotFound

__all__ = [
    "DEFAULT_CODE_TTL",
    "Enrolled",
    "EnrollmentCode",
    "create_enrollment_code",
    "enroll_device",
    "normalise_code",
]

DEFAULT_CODE_TTL = timedelta(hours=24)
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read aloud


@dataclass(frozen=True, slots=True)
class EnrollmentCode:
    code: str
    site_id: str
    scope_kind: str
    scope_id: str
    expires_at: datetime

    def __repr__(self) -> str:  # the code is a secret until used
        return f"EnrollmentCode(site_id={self.site_id!r}, scope={self.scope_kind}:{self.scope_id})"


@dataclass(frozen=True, slots=True)
class Enrolled:
    device_id: str
    token: str
    site_id: str
    scope_kind: str
    scope_id: str

    def __repr__(self) -> str:
        return f"Enrolled(device_id={self.device_id!r})"


def normalise_code(code: str) -> str:
    """Codes are typed by people: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(15))
    return "-".join(raw[i : i + 5] for i in range(0, 15, 5))


async def create_enrollment_code(
    pool: AsyncConnectionPool,
    *,
    room_id: str | None = None,
    lobby_id: str | None = None,
    site_id: str | None = None,
    ttl: timedelta = DEFAULT_CODE_TTL,
    now: datetime | None = None,
) -> EnrollmentCode:
    """A fresh one-time code for a panel of ``room_id`` or a kiosk of ``lobby_id``.

    ``site_id``, when given, must be the site of that room or lobby. Raises
    :class:`NotFound` for an unknown room, lobby or a site mismatch, and
    :class:`BadRequest` unless exactly one of ``room_id`` and ``lobby_id`` is given.
    """
    if (room_id is None) == (lobby_id is None):
        raise BadRequest("give exactly one of a room id and a lobby id")
    kind, scope_id = ("room", room_id) if room_id is not None else ("lobby", lobby_id)
    assert scope_id is not None
    table = "rooms" if kind == "room" else "lobbies"
    code = _new_code()
    expires_at = (now or datetime.now(UTC)) + ttl
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(f"SELECT site_id FROM {table} WHERE id = %s", [scope_id])
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"there is no {kind} {scope_id!r}")
        if site_id is not None and row[0] != site_id:
            raise NotFound(f"{kind} {scope_id!r} is not at site {site_id!r}")
        await conn.execute(
            "INSERT INTO enrollment_codes (code_hash, site_id, scope_kind, scope_id, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [hash_secret(normalise_code(code)), row[0], kind, scope_id, expires_at],
        )
    return EnrollmentCode(code, row[0], kind, scope_id, expires_at)


def _field(body: Any, name: str, limit: int) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"field {name!r} must be a non-empty string of at most {limit} chars")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"field {name!r} is not valid text") from None
    return value


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BadRequest(f"field {name!r} is not valid base64") from None


def _verify(public_raw: bytes, signature: bytes, code: str) -> None:
    if len(public_raw) != 32:
        raise BadRequest("field 'public_key' must be a raw 32-byte Ed25519 key")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, code.encode("utf-8"))
    except (InvalidSignature, ValueError):
        raise EnrollmentError(
            "the signature does not verify with this public key; sign the code's UTF-8 bytes"
        ) from None


_CONSUME = """
UPDATE enrollment_codes SET used_at = now()
WHERE code_hash = %s AND used_at IS NULL AND expires_at > now()
RETURNING site_id, scope_kind, scope_id
"""


async def enroll_device(conn: psycopg.AsyncConnection, body: Any) -> Enrolled:
    """Consume a code and create the device it enrolls (one transaction).

    Raises :class:`BadRequest` for a malformed body and :class:`EnrollmentError` for a
    bad proof of possession or an unknown, used or expired code.
    """
    code = _field(body, "code", 64)
    public_raw = _b64(_field(body, "public_key", 100), "public_key")
    signature = _b64(_field(body, "signature", 200), "signature")
    _verify(public_raw, signature, code)
    code_hash = hash_secret(normalise_code(code))
    token = new_token()
    device_id = new_device_id()
    async with conn.transaction():
        cur = await conn.execute(_CONSUME, [code_hash])
        row = await cur.fetchone()
        if row is None:
            raise EnrollmentError(await _why_refused(conn, code_hash))
        site_id, kind, scope_id = row
        await conn.execute(
            "INSERT INTO devices (id, site_id, scope_kind, scope_id, role, public_key, token_hash,"
            " binds_since) VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
            [
                device_id,
                site_id,
                kind,
                scope_id,
                "panel" if kind == "room" else "kiosk",
                public_raw,
                hash_secret(token),
            ],
        )
        await conn.execute(
            "UPDATE enrollment_codes SET device_id = %s WHERE code_hash = %s",
            [device_id, code_hash],
        )
    return Enrolled(device_id, token, site_id, kind, scope_id)


async def _why_refused(conn: psycopg.AsyncConnection, code_hash: bytes) -> str:
    cur = await conn.execute(
        "SELECT used_at IS NOT NULL, expires_at <= now() FROM enrollment_codes"
        " WHERE code_hash = %s",
        [code_hash],
    )
    row = await cur.fetchone()
    if row is None:
        return "unknown enrollment code; ask for a new one"
    if row[0]:
        return "this enrollment code was already used; ask for a new one"
    return "this enrollment code has expired; ask for a new one"

"""Enrollment: one-time codes for technicians, and the device's first requests.

A technician asks central for a code scoped to one room (a panel) or one lobby (a
kiosk). The device creates an Ed25519 key pair and sends ``POST /v1/enroll`` with the
code, its public key and a signature of the code's UTF-8 bytes (exactly as sent) made
with that key: proof that it holds the private half. It may say which scope it expects
(``expect_scope``): a code for another room or lobby is then refused naming both, and
the code is not used. Central reserves the code (single use, expiring) for that key and
returns a bearer token, of which it keeps only the hash.

The device is *pending* until it proves it stored its identity: ``POST
/v1/enroll/confirm`` with its token, signed with its key (:func:`confirm_enrollment`),
or any authenticated request (which sets ``last_seen_at``; devices that do not know the
confirm step keep working). While pending, the same key may repeat ``POST /v1/enroll``
with the same code for :data:`RETRY_WINDOW` and gets the same device id with a fresh
token (a device that failed to store its answer enrolls again; no ghost is made). A
device still pending after that window no longer holds the code: another key may use
it, and the unconfirmed device is deleted then.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg_pool import AsyncConnectionPool

from central.auth import bearer_token, hash_secret, new_device_id, new_token
from central.errors import BadRequest, EnrollmentError, NotAuthorised, NotFound

__all__ = [
    "DEFAULT_CODE_TTL",
    "MAX_CODE_TTL",
    "RETRY_WINDOW",
    "Enrolled",
    "EnrollmentCode",
    "confirm_enrollment",
    "confirm_message",
    "create_enrollment_code",
    "create_enrollment_codes",
    "enroll_device",
    "normalise_code",
    "scopes_at_site",
]

log = logging.getLogger(__name__)

DEFAULT_CODE_TTL = timedelta(hours=24)
MAX_CODE_TTL = timedelta(days=7)
"""A code lives at most this long: an unused code lying about is a way in."""
RETRY_WINDOW = timedelta(minutes=15)
"""How long a pending (unconfirmed) device may repeat its enrollment with the same code."""
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
    retry_until: datetime | None = None
    """Until when the same key may repeat the enrollment (the device is pending)."""
    repeated: bool = False
    """A repeat by a pending device: same id, fresh token."""

    def __repr__(self) -> str:
        return f"Enrolled(device_id={self.device_id!r})"


def normalise_code(code: str) -> str:
    """Codes are typed by people: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(15))
    return "-".join(raw[i : i + 5] for i in range(0, 15, 5))


def _check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise BadRequest("an enrollment code's lifetime must be positive")
    if ttl > MAX_CODE_TTL:
        raise BadRequest(
            f"an enrollment code lives at most {MAX_CODE_TTL.days} days; ask for a shorter one"
        )


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
    :class:`BadRequest` unless exactly one of ``room_id`` and ``lobby_id`` is given, or
    for a lifetime that is not positive or longer than :data:`MAX_CODE_TTL`.
    """
    if (room_id is None) == (lobby_id is None):
        raise BadRequest("give exactly one of a room id and a lobby id")
    scope = ("room", room_id) if room_id is not None else ("lobby", lobby_id)
    assert scope[1] is not None
    made = await create_enrollment_codes(
        pool, [(scope[0], scope[1])], site_id=site_id, ttl=ttl, now=now
    )
    return made[0]


async def create_enrollment_codes(
    pool: AsyncConnectionPool,
    scopes: list[tuple[str, str]],
    *,
    site_id: str | None = None,
    ttl: timedelta = DEFAULT_CODE_TTL,
    now: datetime | None = None,
) -> list[EnrollmentCode]:
    """One fresh code per ``(kind, id)`` scope (``room`` or ``lobby``), in one transaction:
    all are made or none.

    Raises :class:`NotFound` naming the first unknown room or lobby (or one not at
    ``site_id``), :class:`BadRequest` for an unknown kind, no scope, or a lifetime that is
    not positive or longer than :data:`MAX_CODE_TTL`.
    """
    _check_ttl(ttl)
    if not scopes:
        raise BadRequest("no room or lobby to make a code for")
    expires_at = (now or datetime.now(UTC)) + ttl
    made: list[EnrollmentCode] = []
    async with pool.connection() as conn, conn.transaction():
        for kind, scope_id in scopes:
            if kind not in ("room", "lobby"):
                raise BadRequest(f"unknown scope kind {kind!r}; use room or lobby")
            table = "rooms" if kind == "room" else "lobbies"
            cur = await conn.execute(f"SELECT site_id FROM {table} WHERE id = %s", [scope_id])
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"there is no {kind} {scope_id!r}")
            if site_id is not None and row[0] != site_id:
                raise NotFound(f"{kind} {scope_id!r} is not at site {site_id!r}")
            code = _new_code()
            await conn.execute(
                "INSERT INTO enrollment_codes"
                " (code_hash, site_id, scope_kind, scope_id, expires_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                [hash_secret(normalise_code(code)), row[0], kind, scope_id, expires_at],
            )
            made.append(EnrollmentCode(code, row[0], kind, scope_id, expires_at))
    return made


async def scopes_at_site(pool: AsyncConnectionPool, kind: str, site_id: str) -> list[str]:
    """Every room (``kind`` ``room``) or lobby id at ``site_id``, sorted.

    Raises :class:`NotFound` for an unknown site, or a site without any."""
    table = "rooms" if kind == "room" else "lobbies"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site_id])
        if await cur.fetchone() is None:
            raise NotFound(f"there is no site {site_id!r}")
        cur = await conn.execute(
            f"SELECT id FROM {table} WHERE site_id = %s ORDER BY id", [site_id]
        )
        ids = [str(r[0]) for r in await cur.fetchall()]
    if not ids:
        raise NotFound(f"site {site_id!r} has no {'rooms' if kind == 'room' else 'lobbies'}")
    return ids


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


def _verify(public_raw: bytes, signature: bytes, message: bytes) -> None:
    if len(public_raw) != 32:
        raise BadRequest("field 'public_key' must be a raw 32-byte Ed25519 key")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise EnrollmentError(
            "the signature does not verify with this public key; sign the code's UTF-8 bytes"
        ) from None


def confirm_message(device_id: str) -> bytes:
    """What a device signs to confirm its enrollment."""
    return f"tapin-enroll-confirm:{device_id}".encode()


def _expected_scope(body: Any) -> tuple[str, str] | None:
    expect = body.get("expect_scope") if isinstance(body, dict) else None
    if expect is None:
        return None
    kind = expect.get("kind") if isinstance(expect, dict) else None
    scope_id = expect.get("id") if isinstance(expect, dict) else None
    if kind not in ("room", "lobby") or not isinstance(scope_id, str) or not 0 < len(scope_id) < 65:
        raise BadRequest('field \'expect_scope\' must be {"kind": "room"|"lobby", "id": ...}')
    return kind, scope_id


_LOOK = """
SELECT c.site_id, c.scope_kind, c.scope_id, c.used_at, c.expires_at <= now(), c.device_id,
       d.public_key, d.confirmed_at IS NULL AND d.last_seen_at IS NULL AND d.revoked_at IS NULL,
       c.used_at + %s, now()
FROM enrollment_codes c LEFT JOIN devices d ON d.id = c.device_id
WHERE c.code_hash = %s
FOR UPDATE OF c
"""


async def enroll_device(conn: psycopg.AsyncConnection, body: Any) -> Enrolled:
    """Reserve a code for this key and create the pending device it enrolls (one
    transaction); a pending device repeating its enrollment gets a fresh token.

    Raises :class:`BadRequest` for a malformed body and :class:`EnrollmentError` for a
    bad proof of possession, a code for another scope than ``expect_scope``, or an
    unknown, used, reserved or expired code.
    """
    code = _field(body, "code", 64)
    public_raw = _b64(_field(body, "public_key", 100), "public_key")
    signature = _b64(_field(body, "signature", 200), "signature")
    _verify(public_raw, signature, code.encode("utf-8"))
    expect = _expected_scope(body)
    code_hash = hash_secret(normalise_code(code))
    token = new_token()
    async with conn.transaction():
        cur = await conn.execute(_LOOK, [RETRY_WINDOW, code_hash])
        row = await cur.fetchone()
        if row is None:
            raise EnrollmentError("unknown enrollment code; ask for a new one")
        site_id, kind, scope_id, used_at, expired, holder, holder_key, pending, until, now = row
        if expect is not None and expect != (kind, scope_id):
            raise EnrollmentError(
                f"this code is for {kind} {scope_id}, but the device is set up for "
                f"{expect[0]} {expect[1]}; use a code for {expect[0]} {expect[1]} "
                "or fix the device's configuration"
            )
        if used_at is not None and holder is not None and pending:
            if bytes(holder_key) == public_raw and now < until:
                await conn.execute(
                    "UPDATE devices SET token_hash = %s WHERE id = %s", [hash_secret(token), holder]
                )
                log.info("device %s repeated its enrollment (pending confirmation)", holder)
                return Enrolled(holder, token, site_id, kind, scope_id, until, repeated=True)
            if now < until:
                raise EnrollmentError(
                    "this enrollment code was already used by a device that has not confirmed "
                    f"yet; only that device may repeat it, until "
                    f"{until.isoformat(timespec='minutes')}; or ask for a new code"
                )
            if not expired:  # the unconfirmed device never came back: release its code
                await conn.execute("DELETE FROM devices WHERE id = %s", [holder])
                log.info("unconfirmed device %s dropped; its code is taken again", holder)
                used_at = None
        if used_at is not None:
            raise EnrollmentError("this enrollment code was already used; ask for a new one")
        if expired:
            raise EnrollmentError("this enrollment code has expired; ask for a new one")
        device_id = new_device_id()
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
            "UPDATE enrollment_codes SET used_at = now(), device_id = %s WHERE code_hash = %s",
            [device_id, code_hash],
        )
    log.info(
        "device %s enrolled for %s %s at site %s (pending)", device_id, kind, scope_id, site_id
    )
    return Enrolled(device_id, token, site_id, kind, scope_id, now + RETRY_WINDOW)


async def confirm_enrollment(
    conn: psycopg.AsyncConnection, authorization: str | None, body: Any
) -> tuple[str, bool]:
    """The device of this bearer token proves it stored its identity: its signature of
    :func:`confirm_message` with its key. Returns ``(device_id, first time)``.

    Raises :class:`NotAuthorised` for a missing, unknown or revoked token,
    :class:`BadRequest` for a malformed body and :class:`EnrollmentError` for a
    signature that does not verify.
    """
    token = bearer_token(authorization)
    signature = _b64(_field(body, "signature", 200), "signature")
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT id, public_key, revoked_at, confirmed_at FROM devices WHERE token_hash = %s"
            " FOR UPDATE",
            [hash_secret(token)],
        )
        row = await cur.fetchone()
        if row is None:
            raise NotAuthorised("unknown device token; enroll the device again")
        device_id, public_key, revoked_at, confirmed_at = row
        if revoked_at is not None:
            raise NotAuthorised(f"device {device_id} was revoked; enroll it again with a new code")
        try:
            Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(
                signature, confirm_message(device_id)
            )
        except (InvalidSignature, ValueError):
            raise EnrollmentError(
                "the confirmation's signature does not verify with this device's key"
            ) from None
        await conn.execute(
            "UPDATE devices SET confirmed_at = coalesce(confirmed_at, now()), last_seen_at = now()"
            " WHERE id = %s",
            [device_id],
        )
    if confirmed_at is None:
        log.info("device %s confirmed its enrollment", device_id)
    return device_id, confirmed_at is None


async def make_codes(
    pool: AsyncConnectionPool,
    *,
    rooms: list[str],
    lobbies: list[str],
    all_rooms: bool = False,
    all_lobbies: bool = False,
    site_id: str | None = None,
    ttl: timedelta = DEFAULT_CODE_TTL,
) -> list[EnrollmentCode]:
    """Codes for ``tapin central enroll-code``: the rooms and lobbies named, and every
    room or lobby of ``site_id`` with ``all_rooms`` / ``all_lobbies``; all or none.

    Raises :class:`BadRequest` (nothing asked for, ``all_*`` without a site, a bad
    lifetime) and :class:`NotFound` (an unknown site, room or lobby)."""
    _check_ttl(ttl)
    if (all_rooms or all_lobbies) and site_id is None:
        raise BadRequest("--all-rooms and --all-lobbies need --site SITE")
    scopes = [("room", r) for r in rooms] + [("lobby", lobby) for lobby in lobbies]
    if all_rooms and site_id is not None:
        scopes += [("room", r) for r in await scopes_at_site(pool, "room", site_id)]
    if all_lobbies and site_id is not None:
        scopes += [("lobby", lobby) for lobby in await scopes_at_site(pool, "lobby", site_id)]
    unique = list(dict.fromkeys(scopes))
    return await create_enrollment_codes(pool, unique, site_id=site_id, ttl=ttl)


def codes_csv(codes: list[EnrollmentCode]) -> str:
    """``scope,code,expires`` with a header line, one code a line (``room:aurora``)."""
    lines = ["scope,code,expires"]
    lines += [
        f"{c.scope_kind}:{c.scope_id},{c.code},{c.expires_at.isoformat(timespec='seconds')}"
        for c in codes
    ]
    return "\n".join(lines) + "\n"

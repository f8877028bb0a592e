"""``visitor.signin`` and ``visitor.signout`` at a lobby kiosk (the kiosk contract).

A sign-in is checked against the site's setup (its visitor types, its versioned terms,
today's invites, its visible directory), stored once per ``visitor_id`` and queues exactly
one outbox row in the same transaction: for the host (by their ``notify_via``), or for
reception when the visitor named nobody or a host who is not (visible) at the site.
The badge token is kept only as its SHA-256; photos and signatures as bytes, bounded and
checked to be images. A resend of the same event is a duplicate in the ledger
(:mod:`central.ingest`); another event with the same ``visitor_id`` is refused, so a
visitor is never signed in, nor their host told, twice.

A sign-out names how it happened (:data:`sync.events.SIGNOUT_VIA`); one by badge must
carry the token printed on that visitor's badge.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    b64_field,
    bool_field,
    each_alone,
    id_field,
    require_kind,
    require_own_scope,
    require_role,
    text_field,
)
from central.notify.addresses import check_email
from sync.events import (
    MAX_COMPANY,
    MAX_EMAIL,
    MAX_NAME,
    MAX_PHOTO_BYTES,
    MAX_SIGNATURE_BYTES,
    SIGNOUT_VIA,
    Code,
    EventType,
)

__all__ = ["VisitorSignin", "VisitorSignout", "badge_hash"]

_TYPE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_BADGE = re.compile(r"^[A-Za-z0-9_-]{22,200}$")
"""A badge token: urlsafe base64 of 16 or more random bytes."""
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def badge_hash(token: str) -> bytes:
    """What central keeps of a badge token."""
    return hashlib.sha256(token.encode("ascii")).digest()


def _check(item: Item, ctx: Context) -> None:
    require_role(item, ctx, "kiosk")
    require_kind(item, ("lobby",))
    require_own_scope(item, ctx)


def _plain_text(payload: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    """A text field without control or direction-override characters (names and
    companies go into email subjects and chat cards). Raises :class:`Rejection`."""
    value = text_field(payload, name, limit, required=required).strip()
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in value):
        raise Rejection(
            Code.INVALID, f"payload field {name!r} contains control or direction characters"
        )
    return value


def _optional(payload: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> Any:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise Rejection(Code.INVALID, f"payload field {name!r} must be {what}")
    return value


def _image(payload: dict[str, Any], name: str, limit: int, png_only: bool) -> tuple[bytes, str]:
    data = b64_field(payload, name, limit)
    if data is None:
        return b"", ""
    if data.startswith(_PNG):
        return data, "image/png"
    if data.startswith(_JPEG) and not png_only:
        return data, "image/jpeg"
    kind = "a PNG image" if png_only else "a JPEG or PNG image"
    raise Rejection(Code.INVALID, f"payload field {name!r} must be {kind}")


@dataclass(frozen=True, slots=True)
class _Site:
    """What a run of sign-ins is checked against."""

    zone: ZoneInfo
    reception_via: str
    types: dict[str, tuple[tuple[str, ...], bool]]
    """Type id -> (steps, signature)."""
    versions: frozenset[str]


async def _site(conn: psycopg.AsyncConnection, site_id: str) -> _Site:
    cur = await conn.execute("SELECT timezone, reception_via FROM sites WHERE id = %s", [site_id])
    row = await cur.fetchone()
    assert row is not None  # the device's site exists (it authenticated)
    cur = await conn.execute(
        "SELECT id, steps, signature FROM visitor_types WHERE site_id = %s", [site_id]
    )
    types = {r[0]: (tuple(r[1]), bool(r[2])) for r in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT DISTINCT version FROM visitor_terms WHERE site_id = %s", [site_id]
    )
    versions = frozenset(r[0] for r in await cur.fetchall())
    return _Site(ZoneInfo(row[0]), row[1], types, versions)


def _terms(values: dict[str, Any], site: _Site) -> None:
    """Check the visitor type, the terms and the signature. Raises :class:`Rejection`."""
    vtype = values["visitor_type"]
    if vtype not in site.types:
        known = ", ".join(sorted(site.types)) or "none"
        raise Rejection(
            Code.INVALID, f"visitor type {vtype!r} is not one of this site's types ({known})"
        )
    steps, signature = site.types[vtype]
    version = values["terms_version"]
    if version is not None and version not in site.versions:
        raise Rejection(Code.INVALID, f"terms version {version!r} is not one of this site's terms")
    if "terms" not in steps or not site.versions:
        return  # nothing to accept: the kiosk showed no terms
    if not values["accepted"]:
        raise Rejection(Code.INVALID, "the visitor did not accept the visitor terms")
    if version is None:
        raise Rejection(
            Code.INVALID,
            "the visitor accepted terms without a terms_version; the site's "
            "terms are versioned and the version accepted must be recorded",
        )
    if signature and not values["signature"]:
        raise Rejection(Code.INVALID, f"visitor type {vtype!r} needs a drawn signature")


_INSERT = """
INSERT INTO visitor_signins (id, site_id, lobby_id, name, company, email, host_id,
                             accepted_terms_at, signed_in_at, device_id, visitor_type,
                             terms_version, invite_id, photo, photo_type, signature,
                             signature_type, badge_hash)
VALUES (%(id)s, %(site)s, %(lobby)s, %(name)s, %(company)s, %(email)s, %(host)s,
        %(accepted_at)s, %(at)s, %(device)s, %(visitor_type)s, %(terms_version)s,
        %(invite)s, %(photo)s, %(photo_type)s, %(signature)s, %(signature_type)s,
        %(badge_hash)s)
ON CONFLICT DO NOTHING
RETURNING id
"""

_OUTBOX = """
INSERT INTO host_notifications (signin_id, host_id, recipient, reason, channel)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (signin_id, recipient) WHERE signin_id IS NOT NULL DO NOTHING
"""


class VisitorSignin:
    """Payload: :class:`sync.events.VisitorSignin`; ``created_at`` is the sign-in time."""

    type: ClassVar[str] = EventType.VISITOR_SIGNIN

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        p = item.payload
        email = text_field(p, "email", MAX_EMAIL, required=False).strip()
        if email:
            try:
                email = check_email(email)
            except ValueError:
                raise Rejection(
                    Code.INVALID, "payload field 'email' is not an email address"
                ) from None
        photo, photo_type = _image(p, "photo", MAX_PHOTO_BYTES, png_only=False)
        signature, signature_type = _image(p, "signature", MAX_SIGNATURE_BYTES, png_only=True)
        badge = _optional(p, "badge_token", _BADGE, "urlsafe base64 of 16 or more bytes")
        item.values = {
            "id": id_field(p, "visitor_id"),
            "name": _plain_text(p, "name", MAX_NAME, required=True),
            "company": _plain_text(p, "company", MAX_COMPANY, required=False),
            "email": email,
            "host": id_field(p, "host_id", required=False),
            "accepted": bool_field(p, "accepted_terms"),
            "visitor_type": _optional(p, "visitor_type", _TYPE_ID, "a visitor type id") or "guest",
            "terms_version": _optional(p, "terms_version", _VERSION, "a terms version"),
            "invite": id_field(p, "invite_id", required=False),
            "photo": photo or None,
            "photo_type": photo_type or None,
            "signature": signature or None,
            "signature_type": signature_type or None,
            "badge_hash": badge_hash(badge) if badge else None,
        }

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        site = await _site(conn, ctx.device.site_id)

        async def one(conn: psycopg.AsyncConnection, ctx: Context, item: Item) -> None:
            await self._one(conn, ctx, site, item)

        return await each_alone(conn, ctx, items, one)

    async def _one(
        self, conn: psycopg.AsyncConnection, ctx: Context, site: _Site, item: Item
    ) -> None:
        values = dict(item.values)
        _terms(values, site)
        if values["invite"] is not None:
            await _fill_from_invite(conn, ctx, site, item, values)
        cur = await conn.execute(
            "SELECT id, notify_via FROM people WHERE id = %s AND site_id = %s"
            " AND visibility = 'visible' AND inactive_since IS NULL",
            [values["host"], ctx.device.site_id],
        )
        host = await cur.fetchone() if values["host"] is not None else None
        accepted_at = item.created if values["accepted"] else None
        cur = await conn.execute(
            _INSERT,
            {
                **values,
                "site": ctx.device.site_id,
                "lobby": ctx.device.scope_id,
                "device": ctx.device.id,
                "host": host[0] if host else None,
                "accepted_at": accepted_at,
                "terms_version": values["terms_version"] if accepted_at else None,
                "at": item.created,
            },
        )
        if await cur.fetchone() is None:
            raise Rejection(Code.INVALID, f"visitor id {values['id']} is already used")
        if values["invite"] is not None:
            await conn.execute(
                "UPDATE visitor_invites SET used_at = coalesce(used_at, %s),"
                " signin_id = coalesce(signin_id, %s) WHERE id = %s",
                [item.created, values["id"], values["invite"]],
            )
        if host is not None:
            outbox = [values["id"], host[0], "host", "signin", host[1]]
        else:
            outbox = [values["id"], None, "reception", "no_host", site.reception_via]
        await conn.execute(_OUTBOX, outbox)


async def _fill_from_invite(
    conn: psycopg.AsyncConnection, ctx: Context, site: _Site, item: Item, values: dict[str, Any]
) -> None:
    """Take the email (and company, when none was typed) from the invite. Raises
    :class:`Rejection` for an invite of another site or another day."""
    cur = await conn.execute(
        "SELECT day, email, company FROM visitor_invites WHERE id = %s AND site_id = %s",
        [values["invite"], ctx.device.site_id],
    )
    row = await cur.fetchone()
    if row is None:
        raise Rejection(Code.NOT_FOUND, f"there is no invite {values['invite']} at this site")
    day: date = row[0]
    signed_in_on = item.created.astimezone(site.zone).date()
    if day != signed_in_on:
        raise Rejection(Code.INVALID, f"invite {values['invite']} is for {day}, not {signed_in_on}")
    values["email"] = values["email"] or row[1]
    values["company"] = values["company"] or row[2]


class VisitorSignout:
    """Payload :class:`sync.events.VisitorSignout`; ``created_at`` is the sign-out time.
    Any kiosk of the site may sign a visitor out; signing out twice changes nothing. A
    sign-out ``via`` ``badge`` must carry the badge's token."""

    type: ClassVar[str] = EventType.VISITOR_SIGNOUT

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        via = item.payload.get("via", "list")
        if via not in SIGNOUT_VIA:
            raise Rejection(
                Code.INVALID, f"payload field 'via' must be one of {', '.join(SIGNOUT_VIA)}"
            )
        token = _optional(item.payload, "badge_token", _BADGE, "a badge token")
        if via == "badge" and token is None:
            raise Rejection(Code.INVALID, "a sign-out by badge must carry the badge's token")
        item.values = {
            "id": id_field(item.payload, "visitor_id"),
            "via": via,
            "badge_hash": badge_hash(token) if token else None,
        }

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        rejected: dict[int, Rejection] = {}
        for item in items:
            vid = item.values["id"]
            cur = await conn.execute(
                "SELECT signed_out_at IS NOT NULL, badge_hash FROM visitor_signins"
                " WHERE id = %s AND site_id = %s FOR UPDATE",
                [vid, ctx.device.site_id],
            )
            row = await cur.fetchone()
            if row is None:
                rejected[item.index] = Rejection(
                    Code.NOT_FOUND, f"visitor {vid} never signed in at this site"
                )
                continue
            given = item.values["badge_hash"]
            if given is not None and (row[1] is None or not hmac.compare_digest(row[1], given)):
                rejected[item.index] = Rejection(
                    Code.FORBIDDEN, f"the badge scanned is not visitor {vid}'s badge"
                )
                continue
            if not row[0]:
                await conn.execute(
                    "UPDATE visitor_signins SET signed_out_at = greatest(signed_in_at, %s),"
                    " signed_out_via = %s WHERE id = %s",
                    [item.created, item.values["via"], vid],
                )
        return rejected

"""Commands central queues for devices, and their acknowledgements.

Kinds: ``forget_person`` (args ``{"person_id"}``: purge every cached trace),
``reconfigure`` (args ``{"config": {section: {key: value}}}``: settings the device
validates like ``tapin config check``, writes and applies by restarting),
``rotate_keys`` (a new key pair and token: :func:`begin_rotation`,
:func:`confirm_rotation`), ``decommission`` (upload what is pending, wipe credentials
and state, stop) and ``restart`` (exit; systemd starts it again). A device polls
``GET /v1/commands`` each sync cycle and acknowledges each one once carried out, with
an optional body ``{"result": "done"|"refused", "detail": "why"}`` (:func:`read_ack`;
no body means done, as devices before it sent).

Key rotation, in two steps so a device that stops half-way is never locked out:

1. ``POST /v1/rotate`` (with the current token): the new public key, signed by the old
   key and by the new one (:func:`rotation_message`). Central keeps the new key and a
   new token's hash beside the current ones and answers the new token. Asking again
   replaces them (the device lost the answer).
2. The device stores its new identity, then ``POST /v1/rotate/confirm`` (still with
   the old token) with a signature of the confirm message by the new key: central
   switches to the new key and token; the old token is refused from then on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg.types.json import Jsonb

from central.auth import DeviceContext, hash_secret, new_token
from central.errors import BadRequest, Forbidden, NotFound

__all__ = [
    "COMMAND_KINDS",
    "acknowledge",
    "begin_rotation",
    "confirm_message",
    "confirm_rotation",
    "pending",
    "queue_command",
    "read_ack",
    "rotation_message",
]

_COMMAND_ID = re.compile(r"[0-9]{1,18}")

COMMAND_KINDS = ("forget_person", "reconfigure", "rotate_keys", "decommission", "restart")
RESULTS = ("done", "refused")
_ARGS_LIMIT = 16 * 1024


async def queue_command(
    conn: psycopg.AsyncConnection,
    device_id: str,
    kind: str,
    args: Mapping[str, Any] | None = None,
) -> int:
    """Queue one command for one device; returns its id. Raises :class:`BadRequest`."""
    if kind not in COMMAND_KINDS:
        raise BadRequest(f"unknown command kind {kind!r} (known: {', '.join(COMMAND_KINDS)})")
    if kind == "reconfigure" and not isinstance((args or {}).get("config"), Mapping):
        raise BadRequest('reconfigure needs args {"config": {"section": {"key": value}}}')
    if len(json.dumps(dict(args or {}), default=str)) > _ARGS_LIMIT:
        raise BadRequest(f"the command's args are larger than {_ARGS_LIMIT} bytes")
    cur = await conn.execute(
        "INSERT INTO device_commands (device_id, kind, args) VALUES (%s, %s, %s) RETURNING id",
        [device_id, kind, Jsonb(dict(args or {}))],
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def pending(conn: psycopg.AsyncConnection, device: DeviceContext) -> list[dict[str, Any]]:
    """The device's unacknowledged commands, oldest first."""
    cur = await conn.execute(
        "SELECT id, kind, args, created_at FROM device_commands"
        " WHERE device_id = %s AND acknowledged_at IS NULL ORDER BY id",
        [device.id],
    )
    return [
        {"id": cid, "kind": kind, "args": args, "created_at": created.isoformat()}
        for cid, kind, args, created in await cur.fetchall()
    ]


def read_ack(body: Any) -> tuple[str, str | None]:
    """``(result, detail)`` of an acknowledgement's body (``None``: no body, done).
    Raises :class:`BadRequest` naming the field."""
    if body is None:
        return "done", None
    if not isinstance(body, dict) or set(body) - {"result", "detail"}:
        raise BadRequest('an acknowledgement is {"result": "done"|"refused", "detail": "..."}')
    result = body.get("result", "done")
    if result not in RESULTS:
        raise BadRequest(f"field 'result' must be one of {', '.join(RESULTS)}")
    detail = body.get("detail")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 300):
        raise BadRequest("field 'detail' must be a string of at most 300 chars")
    return result, detail


async def acknowledge(
    conn: psycopg.AsyncConnection,
    device: DeviceContext,
    command_id: str,
    result: str = "done",
    detail: str | None = None,
) -> bool:
    """Mark a command carried out (or refused, with ``detail`` saying why); ``False`` if
    it was already acknowledged.

    Raises :class:`NotFound` for an id that is not one of this device's commands.
    """
    # ASCII digits only: str.isdigit() also takes "²" or "٣", which int() refuses
    if not _COMMAND_ID.fullmatch(command_id):
        raise NotFound(f"no command {command_id!a} for this device")
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT acknowledged_at IS NULL, kind FROM device_commands"
            " WHERE id = %s AND device_id = %s FOR UPDATE",
            [int(command_id), device.id],
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no command {command_id} for this device")
        if row[0]:
            await conn.execute(
                "UPDATE device_commands SET acknowledged_at = now(), result = %s,"
                " result_detail = %s WHERE id = %s",
                [result, detail, int(command_id)],
            )
            if row[1] == "decommission" and result == "done":  # it wipes its token next
                await conn.execute(
                    "UPDATE devices SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                    [device.id],
                )
    return bool(row[0])


def rotation_message(device_id: str, new_public_key: bytes) -> bytes:
    """What both keys sign to rotate: the device and its new public key."""
    return b"tapin-rotate-keys\n" + device_id.encode() + b"\n" + new_public_key


def confirm_message(device_id: str, new_public_key: bytes) -> bytes:
    """What the new key signs once the device stored its new identity."""
    return b"tapin-rotate-confirm\n" + device_id.encode() + b"\n" + new_public_key


def _b64_field(body: Any, name: str, size: int | None = None) -> bytes:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or len(value) > 200:
        raise BadRequest(f"field {name!r} must be a base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BadRequest(f"field {name!r} is not valid base64") from None
    if size is not None and len(raw) != size:
        raise BadRequest(f"field {name!r} must be {size} bytes")
    return raw


def _verify(public: bytes, signature: bytes, message: bytes, which: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise Forbidden(f"the signature by the {which} key does not verify") from None


async def begin_rotation(conn: psycopg.AsyncConnection, device: DeviceContext, body: Any) -> str:
    """Step 1 of a key rotation (module docstring); returns the new token.

    Raises :class:`BadRequest` for a malformed body and :class:`Forbidden` when a
    signature does not verify."""
    if not isinstance(body, dict) or set(body) - {"public_key", "old_signature", "new_signature"}:
        raise BadRequest("a rotation is {public_key, old_signature, new_signature} (base64)")
    new_public = _b64_field(body, "public_key", 32)
    old_sig = _b64_field(body, "old_signature", 64)
    new_sig = _b64_field(body, "new_signature", 64)
    message = rotation_message(device.id, new_public)
    token = new_token()
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT public_key FROM devices WHERE id = %s FOR UPDATE", [device.id]
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"there is no device {device.id}")
        _verify(bytes(row[0]), old_sig, message, "current")
        _verify(new_public, new_sig, message, "new")
        await conn.execute(
            "UPDATE devices SET rotating_public_key = %s, rotating_token_hash = %s WHERE id = %s",
            [new_public, hash_secret(token), device.id],
        )
    return token


async def confirm_rotation(conn: psycopg.AsyncConnection, device: DeviceContext, body: Any) -> None:
    """Step 2: switch to the new key and token; the old token is refused from now on.

    Raises :class:`BadRequest` (no rotation under way, malformed body) and
    :class:`Forbidden` (the signature does not verify)."""
    if not isinstance(body, dict) or set(body) - {"signature"}:
        raise BadRequest("a rotation's confirmation is {signature} (base64)")
    signature = _b64_field(body, "signature", 64)
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT rotating_public_key FROM devices WHERE id = %s FOR UPDATE", [device.id]
        )
        row = await cur.fetchone()
        if row is None or row[0] is None:
            raise BadRequest("no key rotation is under way for this device")
        new_public = bytes(row[0])
        _verify(new_public, signature, confirm_message(device.id, new_public), "new")
        await conn.execute(
            "UPDATE devices SET public_key = rotating_public_key,"
            " token_hash = rotating_token_hash, rotating_public_key = NULL,"
            " rotating_token_hash = NULL, key_rotated_at = now() WHERE id = %s",
            [device.id],
        )

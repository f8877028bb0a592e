"""Commands central queues for devices, and their acknowledgements.

Kinds: ``forget_person`` (args ``{"person_id"}``: purge every cached trace),
``reconfigure`` (args: settings to apply), ``rotate_keys`` (make a new key pair and
re-enroll) and ``decommission`` (wipe state and stop). A device polls
``GET /v1/commands`` each sync cycle and acknowledges each one once carried out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from central.auth import DeviceContext
from central.errors import BadRequest, NotFound

__all__ = ["COMMAND_KINDS", "acknowledge", "pending", "queue_command"]

_COMMAND_ID = re.compile(r"[0-9]{1,18}")

COMMAND_KINDS = ("forget_person", "reconfigure", "rotate_keys", "decommission")


async def queue_command(
    conn: psycopg.AsyncConnection,
    device_id: str,
    kind: str,
    args: Mapping[str, Any] | None = None,
) -> int:
    """Queue one command for one device; returns its id. Raises :class:`BadRequest`."""
    if kind not in COMMAND_KINDS:
        raise BadRequest(f"unknown command kind {kind!r} (known: {', '.join(COMMAND_KINDS)})")
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


async def acknowledge(
    conn: psycopg.AsyncConnection, device: DeviceContext, command_id: str
) -> bool:
    """Mark a command carried out; ``False`` if it was already acknowledged.

    Raises :class:`NotFound` for an id that is not one of this device's commands.
    """
    # ASCII digits only: str.isdigit() also takes "²" or "٣", which int() refuses
    if not _COMMAND_ID.fullmatch(command_id):
        raise NotFound(f"no command {command_id!a} for this device")
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT acknowledged_at IS NULL FROM device_commands"
            " WHERE id = %s AND device_id = %s FOR UPDATE",
            [int(command_id), device.id],
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no command {command_id} for this device")
        if row[0]:
            await conn.execute(
                "UPDATE device_commands SET acknowledged_at = now() WHERE id = %s",
                [int(command_id)],
            )
    return bool(row[0])

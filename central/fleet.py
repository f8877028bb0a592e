"""The fleet: each device's latest heartbeat, the device list, removing a ghost.

A device sends ``PUT /v1/heartbeat`` every few minutes (:mod:`tapin.device.health`
builds the body). The body is checked strictly (:func:`read_heartbeat`): a JSON object
of at most :data:`HEARTBEAT_LIMIT` bytes, only the keys of :data:`_FIELDS`, each of its
type and range; an unknown key is refused naming it. Central keeps the latest one per
device (``device_health``); nothing in it is personal.

:func:`list_devices` gives the fleet with two flags (:func:`flags`):

* ``STALE``: not heard from (no request, no heartbeat) for ``stale_after``, or never;
* ``UNHEALTHY``: its last heartbeat reports rejected or quarantined events, events
  pending for longer than :data:`PENDING_TOO_OLD`, a sync error, less than
  :data:`DISK_LOW` free on the state dir, a CPU at :data:`TOO_HOT` or more, or a
  presence scanner that does not run or an adapter that is not usable;
* ``REVOKED`` and ``GHOST`` (enrolled but never seen since: it never made a request
  with its token) are shown too.

A ghost can be removed (:func:`remove_ghost`); a device that ever synced is revoked
instead (:func:`central.admin.revoke_device`), so its history keeps its name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from central.auth import DeviceContext
from central.errors import BadRequest, NotFound
from sync.events import HEARTBEAT_ERROR_CODES

__all__ = [
    "DISK_LOW",
    "HEARTBEAT_LIMIT",
    "PENDING_TOO_OLD",
    "TOO_HOT",
    "FleetDevice",
    "flags",
    "list_devices",
    "parse_duration",
    "read_heartbeat",
    "remove_ghost",
    "store_heartbeat",
]

HEARTBEAT_LIMIT = 4096
PENDING_TOO_OLD = timedelta(minutes=30)
DISK_LOW = 100 * 1024 * 1024
TOO_HOT = 80.0
_BIG = 10**15

ERROR_CODES = HEARTBEAT_ERROR_CODES  # the contract devices send by
_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,40}")
_STATES = ("ok", "restarted", "power_cycled", "fault", "stopped")


def _number(low: float, high: float, *, whole: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if whole and not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _choice(options: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return check


def _version(value: Any) -> str:
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise ValueError("must be a version string like 1.2.3")
    return value


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _stamp(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 time")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time") from None
    return value


_PRESENCE: dict[str, Callable[[Any], Any]] = {
    "scanner_running": _flag,
    "adapter_ok": _flag,
    "state": _choice(_STATES),
    "last_advertisement_age_seconds": _optional(_number(0, _BIG)),
}


def _presence(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return _check_object(value, _PRESENCE, "presence.", required=("scanner_running", "adapter_ok"))


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "version": _version,
    "uptime_seconds": _number(0, _BIG),
    "system_uptime_seconds": _optional(_number(0, _BIG)),
    "pending": _number(0, 10**9, whole=True),
    "inflight": _number(0, 10**9, whole=True),
    "oldest_pending_age_seconds": _optional(_number(0, _BIG)),
    "rejected": _number(0, 10**9, whole=True),
    "quarantined": _number(0, 10**9, whole=True),
    "reachable": _optional(_flag),
    "last_error": _optional(_choice(ERROR_CODES)),
    "display": _choice(("on", "off", "unknown")),
    "disk_free_bytes": _optional(_number(0, _BIG, whole=True)),
    "cpu_temp_celsius": _optional(_number(-60, 200)),
    "presence": _presence,
    "taken_at": _stamp,
}
_REQUIRED = ("version", "uptime_seconds", "pending", "rejected", "quarantined")


def _check_object(
    body: dict[str, Any],
    fields: Mapping[str, Callable[[Any], Any]],
    prefix: str,
    *,
    required: tuple[str, ...],
) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in body.items():
        check = fields.get(key)
        if check is None:
            raise BadRequest(
                f"unknown heartbeat field {prefix}{str(key)[:40]!r}; known: {', '.join(fields)}"
            )
        try:
            clean[key] = check(value)
        except ValueError as exc:
            raise BadRequest(f"heartbeat field {prefix}{key}: {exc}") from None
    missing = [k for k in required if k not in clean]
    if missing:
        raise BadRequest(f"heartbeat lacks {', '.join(prefix + k for k in missing)}")
    return clean


def read_heartbeat(body: Any) -> dict[str, Any]:
    """The checked facts of a heartbeat body. Raises :class:`BadRequest` naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("a heartbeat is a JSON object (see /v1/openapi.yaml)")
    return _check_object(body, _FIELDS, "", required=_REQUIRED)


async def store_heartbeat(
    conn: psycopg.AsyncConnection, device: DeviceContext, facts: Mapping[str, Any]
) -> None:
    """Keep ``facts`` (from :func:`read_heartbeat`) as the device's latest."""
    await conn.execute(
        "INSERT INTO device_health (device_id, received_at, version, pending,"
        " oldest_pending_age_seconds, rejected, quarantined, last_error, facts)"
        " VALUES (%s, now(), %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (device_id) DO UPDATE SET received_at = now(),"
        " version = EXCLUDED.version, pending = EXCLUDED.pending,"
        " oldest_pending_age_seconds = EXCLUDED.oldest_pending_age_seconds,"
        " rejected = EXCLUDED.rejected, quarantined = EXCLUDED.quarantined,"
        " last_error = EXCLUDED.last_error, facts = EXCLUDED.facts",
        [
            device.id,
            facts["version"],
            facts["pending"],
            facts.get("oldest_pending_age_seconds"),
            facts["rejected"],
            facts["quarantined"],
            facts.get("last_error"),
            Jsonb(dict(facts)),
        ],
    )


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """One row of ``tapin central devices``."""

    id: str
    site_id: str
    kind: str
    """``panel`` or ``kiosk``."""
    scope: str
    """``room:aurora``, ``lobby:main``."""
    enrolled_at: datetime
    last_seen: datetime | None
    revoked: bool
    version: str | None = None
    pending: int | None = None
    oldest_pending_age_seconds: float | None = None
    last_error: str | None = None
    heartbeat_at: datetime | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site_id,
            "kind": self.kind,
            "scope": self.scope,
            "enrolled_at": self.enrolled_at.isoformat(),
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "revoked": self.revoked,
            "version": self.version,
            "pending": self.pending,
            "oldest_pending_age_seconds": self.oldest_pending_age_seconds,
            "last_error": self.last_error,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "health": dict(self.facts),
            "flags": list(self.flags),
        }


def flags(
    *,
    seen: datetime | None,
    ever_seen: bool,
    revoked: bool,
    facts: Mapping[str, Any] | None,
    now: datetime,
    stale_after: timedelta,
) -> tuple[str, ...]:
    """The device's flags by the rules of the module docstring."""
    found: list[str] = []
    if revoked:
        found.append("REVOKED")
    if not ever_seen:
        found.append("GHOST")
    if not revoked and (seen is None or now - seen > stale_after):
        found.append("STALE")
    if facts and not revoked and _unhealthy(facts):
        found.append("UNHEALTHY")
    return tuple(found)


def _unhealthy(facts: Mapping[str, Any]) -> bool:
    oldest = facts.get("oldest_pending_age_seconds")
    disk = facts.get("disk_free_bytes")
    temp = facts.get("cpu_temp_celsius")
    presence = facts.get("presence")
    return bool(
        facts.get("rejected")
        or facts.get("quarantined")
        or facts.get("last_error")
        or (oldest is not None and oldest > PENDING_TOO_OLD.total_seconds())
        or (disk is not None and disk < DISK_LOW)
        or (temp is not None and temp >= TOO_HOT)
        or (
            isinstance(presence, dict)
            and not (presence.get("scanner_running") and presence.get("adapter_ok"))
        )
    )


_LIST = """
SELECT d.id, d.site_id, d.role, d.scope_kind, d.scope_id, d.enrolled_at, d.last_seen_at,
       d.revoked_at IS NOT NULL, h.version, h.pending, h.oldest_pending_age_seconds,
       h.last_error, h.received_at, h.facts
FROM devices d LEFT JOIN device_health h ON h.device_id = d.id
WHERE (%(site)s::text IS NULL OR d.site_id = %(site)s)
ORDER BY d.site_id, d.scope_kind, d.scope_id, d.id
"""


async def list_devices(
    pool: AsyncConnectionPool,
    *,
    now: datetime,
    site: str | None = None,
    stale_after: timedelta = timedelta(minutes=15),
) -> list[FleetDevice]:
    """The fleet (every device, revoked included), flagged. Raises :class:`NotFound` for
    an unknown ``site``."""
    async with pool.connection() as conn:
        if site is not None:
            cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site])
            if await cur.fetchone() is None:
                raise NotFound(f"there is no site {site!r}")
        cur = await conn.execute(_LIST, {"site": site})
        rows = await cur.fetchall()
    fleet: list[FleetDevice] = []
    for (
        device_id,
        site_id,
        role,
        scope_kind,
        scope_id,
        enrolled_at,
        last_seen_at,
        revoked,
        version,
        pending,
        oldest,
        last_error,
        heartbeat_at,
        facts,
    ) in rows:
        seen = max((t for t in (last_seen_at, heartbeat_at) if t is not None), default=None)
        fleet.append(
            FleetDevice(
                id=device_id,
                site_id=site_id,
                kind=role,
                scope=f"{scope_kind}:{scope_id}",
                enrolled_at=enrolled_at,
                last_seen=seen,
                revoked=revoked,
                version=version,
                pending=pending,
                oldest_pending_age_seconds=oldest,
                last_error=last_error,
                heartbeat_at=heartbeat_at,
                facts=facts or {},
                flags=flags(
                    seen=seen,
                    ever_seen=seen is not None,
                    revoked=revoked,
                    facts=facts,
                    now=now,
                    stale_after=stale_after,
                ),
            )
        )
    return fleet


async def remove_ghost(pool: AsyncConnectionPool, device_id: str) -> None:
    """Delete a device that never made a request with its token (a ghost of a failed
    enrollment). Raises :class:`NotFound` for an unknown id and :class:`BadRequest` for a
    device that did sync (revoke that one instead)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT d.last_seen_at IS NULL AND h.device_id IS NULL"
            " FROM devices d LEFT JOIN device_health h ON h.device_id = d.id"
            " WHERE d.id = %s FOR UPDATE OF d",
            [device_id],
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"there is no device {device_id!r}")
        if not row[0]:
            raise BadRequest(
                f"device {device_id} has synced, so it is not a ghost; "
                f"revoke it instead: tapin central revoke {device_id}"
            )
        await conn.execute("DELETE FROM devices WHERE id = %s", [device_id])


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
_UNITS = {"s": 1, "": 60, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` (a bare number is minutes). Raises ``ValueError``
    with a message naming the text."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 15m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])

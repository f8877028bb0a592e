"""What every event applier shares: the item it works on, rejections, field checks.

An applier handles one event type in two steps:

``check(item, ctx)``
    Pure: validates the payload and the device's right to act on the resource, and
    stores the validated values in ``item.values``. Raises :class:`Rejection`.
``apply(conn, ctx, items)``
    Writes the effects of a run of consecutive events of its type, inside the batch's
    transaction, and returns the rejections (by item index) that only the database can
    decide (a booking that lost the race, an unknown booking id...). It must not leave
    the transaction in an error state: expected constraint violations are avoided with
    ``ON CONFLICT DO NOTHING`` or caught inside a savepoint.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import psycopg

from central.auth import DeviceContext
from sync.events import MAX_ID, Code

__all__ = [
    "MAX_DURATION",
    "Applier",
    "Context",
    "EarlyApplier",
    "Item",
    "Rejection",
    "b64_field",
    "bool_field",
    "each_alone",
    "first_of_each",
    "id_field",
    "int_field",
    "parse_time",
    "require_kind",
    "require_own_scope",
    "require_role",
    "span",
    "storable",
    "text_field",
]

MAX_DURATION = timedelta(hours=24)


class Rejection(Exception):
    """Why central refuses one event: ``code`` (a :class:`sync.events.Code`) is
    machine-readable, ``reason`` English for logs and technicians, ``detail`` what the
    device needs to say it in its own language (see :mod:`sync.events`)."""

    def __init__(self, code: str, reason: str, detail: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.code = str(code)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Context:
    """One attempt at applying one batch (a retry gets a fresh one)."""

    device: DeviceContext
    now: datetime
    max_photo_bytes: int
    locked_rooms: set[str] = field(default_factory=set)
    """Rooms this transaction already holds ``FOR SHARE`` (locks last until commit)."""


@dataclass(slots=True)
class Item:
    """One new event being applied: clear fields parsed, payload opened."""

    index: int
    id: str
    seq: int
    type: str
    resource: str
    kind: str
    rid: str
    created: datetime
    starts: datetime | None
    ends: datetime | None
    payload: dict[str, Any] = field(repr=False)
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    actor: str | None = field(default=None, repr=False)
    """A person id whose activity this event shows (keeps them from inactivity purge)."""

    def time_range(self, max_duration: timedelta = MAX_DURATION) -> tuple[datetime, datetime]:
        if self.starts is None or self.ends is None:
            raise Rejection(Code.INVALID, f"{self.type} needs both starts_at and ends_at")
        if self.ends <= self.starts:
            raise Rejection(Code.INVALID, "ends_at must be after starts_at")
        if self.ends - self.starts > max_duration:
            raise Rejection(Code.INVALID, f"the time range is longer than {_hours(max_duration)}")
        return self.starts, self.ends


class Applier(Protocol):
    type: ClassVar[str]

    def check(self, item: Item, ctx: Context) -> None: ...

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]: ...


class EarlyApplier(Applier, Protocol):
    """An applier whose effects commute with every other event's and take one statement
    with nothing to wait for in between: central sends it in pipeline mode while it is
    still opening the rest of the batch (``apply`` is ``send`` then ``answer``)."""

    async def send(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> Any: ...

    async def answer(self, sent: Any, items: Sequence[Item]) -> dict[int, Rejection]: ...


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} hours"


def storable(text: str) -> bool:
    """Can PostgreSQL store this text? (No NUL, no lone surrogates from JSON escapes.)"""
    if "\x00" in text:
        return False
    if text.isascii():  # a flag of the string, not a scan: ASCII always encodes
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with an offset, or ``None``. Raises :class:`Rejection`."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Rejection(Code.INVALID, f"{name} is not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Rejection(Code.INVALID, f"{name} must carry a UTC offset")
    return moment


def text_field(payload: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    """A string field (``""`` when optional and absent). No NUL characters."""
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Rejection(Code.INVALID, f"payload field {name!r} must be a non-empty string")
    if len(value) > limit:
        raise Rejection(Code.INVALID, f"payload field {name!r} is longer than {limit} characters")
    if not storable(value):
        raise Rejection(Code.INVALID, f"payload field {name!r} contains unstorable characters")
    return value


def id_field(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """An identifier: 1-100 printable characters without spaces."""
    value = payload.get(name)
    if value is None and not required:
        return None
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ID
        or not value.isprintable()
        or not storable(value)
        or " " in value
    ):
        raise Rejection(
            Code.INVALID, f"payload field {name!r} must be an id (1-{MAX_ID} characters)"
        )
    return value


def bool_field(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name)
    if not isinstance(value, bool):
        raise Rejection(Code.INVALID, f"payload field {name!r} must be true or false")
    return value


def int_field(payload: dict[str, Any], name: str, low: int, high: int) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Rejection(
            Code.INVALID, f"payload field {name!r} must be an integer from {low} to {high}"
        )
    return value


def b64_field(payload: dict[str, Any], name: str, limit: int) -> bytes | None:
    """Optional base64 bytes, at most ``limit`` bytes once decoded."""
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > (limit * 4) // 3 + 4:
        raise Rejection(
            Code.INVALID, f"payload field {name!r} is not base64 or exceeds {limit} bytes"
        )
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise Rejection(Code.INVALID, f"payload field {name!r} is not valid base64") from None
    if len(data) > limit:
        raise Rejection(Code.INVALID, f"payload field {name!r} exceeds {limit} bytes")
    return data


def require_role(item: Item, ctx: Context, role: str) -> None:
    if ctx.device.role != role:
        what = "room panels" if role == "panel" else "lobby kiosks"
        raise Rejection(Code.FORBIDDEN, f"only {what} may send {item.type} events")


def require_kind(item: Item, kinds: Sequence[str]) -> None:
    if item.kind not in kinds:
        allowed = " or ".join(f"{k}:<id>" for k in kinds)
        raise Rejection(Code.INVALID, f"{item.type} needs a resource of the form {allowed}")


def require_own_scope(item: Item, ctx: Context) -> None:
    """The event must concern the device's own room (panel) or lobby (kiosk)."""
    if item.resource != ctx.device.scope_resource:
        raise Rejection(
            Code.FORBIDDEN,
            f"this device may send {item.type} only for {ctx.device.scope_resource}, "
            f"not {item.resource}",
        )


def span(start: datetime, end: datetime, ctx: Context) -> str:
    """``10:00 to 11:00`` in the site's time; with dates when not today."""
    zone = ctx.device.timezone
    lo, hi = start.astimezone(zone), end.astimezone(zone)
    today = ctx.now.astimezone(zone).date()
    if lo.date() == today and (hi.date() == today or hi.time() == hi.time().min):
        return f"{lo:%H:%M} to {hi:%H:%M}"
    return f"{lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M}"


def first_of_each(
    items: Sequence[Item], used: Callable[[Item], Rejection]
) -> tuple[list[Item], dict[int, Rejection]]:
    """Split a run into the first item per ``values["id"]`` and rejections for repeats.

    Bulk inserts then write each id once, so ``RETURNING id`` says which item it was.
    """
    seen: set[str] = set()
    fresh: list[Item] = []
    rejected: dict[int, Rejection] = {}
    for item in items:
        if item.values["id"] in seen:
            rejected[item.index] = used(item)
        else:
            seen.add(item.values["id"])
            fresh.append(item)
    return fresh, rejected


async def each_alone(
    conn: psycopg.AsyncConnection,
    ctx: Context,
    items: Sequence[Item],
    one: Callable[[psycopg.AsyncConnection, Context, Item], Awaitable[None]],
) -> dict[int, Rejection]:
    """Apply ``one`` to each item in turn (for events whose effect depends on the rows
    the ones before them changed); a :class:`Rejection` rejects that item alone."""
    rejected: dict[int, Rejection] = {}
    for item in items:
        try:
            await one(conn, ctx, item)
        except Rejection as rejection:
            rejected[item.index] = rejection
    return rejected

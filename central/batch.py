"""Parsing an uploaded batch and opening its events: the pure half of ``POST /v1/events``.

Nothing here touches the database. A body that is not a batch at all is a
:class:`BadRequest` (400) or :class:`PayloadTooLarge` (413); an event that is malformed
but has a usable id is answered on its own, as ``rejected`` with code ``malformed``,
and is not recorded (a corrected resend can still apply).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central.appliers import APPLIERS, Item, Rejection
from central.appliers.base import parse_time, storable
from central.auth import DeviceContext
from central.errors import BadRequest, PayloadTooLarge
from central.jsonread import loads
from sync.events import Code
from sync.wire import (
    AD_UNBOUND,
    SealedEvent,
    UnsealError,
    WireError,
    canonical_uuid,
    open_epoch_key,
    open_payload,
)

__all__ = [
    "EpochKeys",
    "Incoming",
    "Limits",
    "Pending",
    "Result",
    "open_pending",
    "parse_envelope",
    "parse_events",
]

log = logging.getLogger(__name__)

RESOURCE_KINDS = ("room", "desk", "lobby")
EVENT_MAX_AGE = timedelta(days=90)
"""Older events are refused: central has purged the dedup rows that would catch a resend."""
CLOCK_AHEAD = timedelta(days=1)
"""An event made further in the future than this comes from a device with a wrong clock."""
TIMES_BEHIND = EVENT_MAX_AGE + timedelta(days=1)
TIMES_AHEAD = timedelta(days=366)
"""Every booking, sample or visit lies in this window around central's clock: nothing
stays past retention and everything stored can be read back."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024
    max_events: int = 1000
    max_photo_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    id: str
    outcome: str
    reason: str | None = None
    code: str | None = None
    detail: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "outcome": self.outcome}
        if self.reason is not None:  # never let a quoted device value break the answer
            out["reason"] = self.reason.encode("utf-8", "backslashreplace").decode("utf-8")
        if self.code is not None:
            out["code"] = self.code
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class Pending:
    """A well-formed, first-seen event of the batch, to be recorded in the ledger."""

    index: int
    key: str
    """The event id in canonical UUID form (the ledger's key)."""
    event: SealedEvent
    item: Item | None
    """Set once the payload is open and its fields parsed (:func:`open_pending`)."""
    rejection: Rejection | None
    created: datetime | None = None
    """The clear ``created_at``, when central takes it (the ledger row's)."""


class EpochKeys:
    """Opened epoch data keys, per device, in a bounded LRU (one HPKE open per epoch)."""

    def __init__(self, private_key: X25519PrivateKey, size: int = 4096) -> None:
        self._private_key = private_key
        self._size = size
        self._keys: OrderedDict[tuple[str, str, bytes], bytes] = OrderedDict()

    def open(self, device_id: str, epoch_id: str, sealed: bytes) -> bytes:
        """The data key of an epoch. Raises :class:`UnsealError`."""
        slot = (device_id, epoch_id, sealed)
        key = self._keys.get(slot)
        if key is None:
            key = open_epoch_key(epoch_id, sealed, self._private_key)
            self._keys[slot] = key
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(slot)
        return key


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 4096:
        raise BadRequest(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BadRequest(f"{what} is not valid base64") from None


def _usable_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    return value


def parse_envelope(body: Any, limits: Limits) -> tuple[dict[str, bytes], list[Any]]:
    """The batch's sealed epoch keys and its events, still as sent (each checked by
    :func:`parse_events`)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with 'epochs' and 'events'")
    epochs, events = body.get("epochs"), body.get("events")
    if not isinstance(epochs, dict):
        raise BadRequest("'epochs' must be an object mapping epoch ids to sealed keys")
    if not isinstance(events, list):
        raise BadRequest("'events' must be a list")
    if len(events) > limits.max_events:
        raise PayloadTooLarge(f"a batch of {len(events)} events", limits.max_events)
    if len(epochs) > limits.max_events:
        raise PayloadTooLarge(f"a batch with {len(epochs)} epochs", limits.max_events)
    sealed: dict[str, bytes] = {}
    for epoch_id, value in epochs.items():
        if not epoch_id or len(epoch_id) > 200:
            raise BadRequest("epoch ids must be 1 to 200 characters")
        sealed[epoch_id] = _b64(value, f"epochs[{epoch_id!r}]")
    return sealed, events


def parse_events(
    events: list[Any], start: int = 0, end: int | None = None
) -> list[SealedEvent | Result]:
    """``events[start:end]`` parsed (or their ``malformed`` answers). Raises
    :class:`BadRequest` for an event without a usable id: nothing could answer it."""
    parsed: list[SealedEvent | Result] = []
    for index in range(start, len(events) if end is None else end):
        raw = events[index]
        try:
            parsed.append(SealedEvent.from_wire(raw))
        except (WireError, ValueError, TypeError) as exc:
            event_id = _usable_id(raw)
            if event_id is None:
                raise BadRequest(f"events[{index}]: {exc}") from None
            parsed.append(Result(event_id, "rejected", str(exc), Code.MALFORMED))
    return parsed


class Incoming:
    """A batch parsed and recorded chunk by chunk (:meth:`chunks`), so the ledger rows
    of the first events can be written while the later ones are still being parsed.
    Afterwards :attr:`parsed` holds every event (or its ``malformed`` answer),
    :attr:`pending` the first-seen ones to record (each with ``created``: its clear
    ``created_at`` when central takes it, for the ledger row) and :attr:`answers` the
    answers of those not recorded. Their payloads are opened by :func:`open_pending`,
    which may run while the ledger rows are being written."""

    def __init__(self, events: list[Any], epochs: dict[str, bytes], now: datetime) -> None:
        self.events = events
        self.epochs = epochs
        self.now = now
        self.parsed: list[SealedEvent | Result] = []
        self.pending: list[Pending] = []
        self.answers: dict[int, Result] = {}
        self._seen: set[str] = set()

    @property
    def complete(self) -> bool:
        return len(self.parsed) == len(self.events)

    def chunks(self, size: int) -> Iterator[list[Pending]]:
        """The events to record, in batch order: first those parsed before (by an
        earlier attempt), then the rest, ``size`` events parsed at a time. Raises
        :class:`BadRequest` (from :func:`parse_events`)."""
        if self.pending:
            yield list(self.pending)
        while not self.complete:
            start = len(self.parsed)
            chunk = parse_events(self.events, start, min(start + size, len(self.events)))
            self.parsed.extend(chunk)
            before = len(self.pending)
            _record(chunk, start, self.epochs, self.now, self.pending, self.answers, self._seen)
            if len(self.pending) > before:
                yield self.pending[before:]


_MAX_SEQ = 2**63 - 1


def _unstorable(event: SealedEvent) -> str | None:
    """Why the clear fields cannot be recorded as they are, if they cannot."""
    if event.seq > _MAX_SEQ:
        return "event field 'seq' is larger than 2**63 - 1"
    clear = "".join(
        (
            event.type,
            event.resource,
            event.starts_at or "",
            event.ends_at or "",
            event.created_at,
            event.epoch,
        )
    )
    if clear.isascii() and "\x00" not in clear:  # the usual case: storable as it is
        return None
    for name in ("type", "resource", "starts_at", "ends_at", "created_at", "epoch"):
        value = getattr(event, name)
        if value is not None and not storable(value):
            return f"event field {name!r} contains unstorable characters"
    return None


def _made_before(event: SealedEvent, moment: datetime | None) -> bool:
    """Was ``event`` made before ``moment`` (``None``: not bound yet, always)?"""
    if moment is None:
        return True
    try:
        made = datetime.fromisoformat(event.created_at)
        return made.tzinfo is not None and made < moment
    except (ValueError, OverflowError):
        return False


def _within(moment: datetime, low: datetime | None, high: datetime | None) -> bool:
    """``low <= moment <= high``; a moment too far out to compare is outside."""
    try:
        return (low is None or low <= moment) and (high is None or moment <= high)
    except OverflowError:
        return False


def _item(
    index: int,
    event: SealedEvent,
    payload: dict[str, Any],
    now: datetime,
    created: datetime | None = None,
) -> Item:
    """The event's item; ``created``, when given, is its ``created_at`` already parsed
    and found within what central takes (:func:`_created`). Raises :class:`Rejection`."""
    if event.type not in APPLIERS:
        raise Rejection(Code.UNKNOWN_TYPE, f"central does not know event type {event.type!r}")
    kind, _, rid = event.resource.partition(":")
    if kind not in RESOURCE_KINDS or not rid:
        raise Rejection(Code.INVALID, "resource must be room:<id>, desk:<id> or lobby:<id>")
    if created is None:
        created = parse_time(event.created_at, "created_at")
        assert created is not None
        if not _within(created, now - EVENT_MAX_AGE, None):
            raise Rejection(Code.EXPIRED, "the event is older than the 90-day retention")
        if not _within(created, None, now + CLOCK_AHEAD):
            raise Rejection(
                Code.INVALID,
                "created_at is more than a day ahead of central's clock; check the device's clock",
            )
    starts, ends = parse_time(event.starts_at, "starts_at"), parse_time(event.ends_at, "ends_at")
    low, high = now - TIMES_BEHIND, now + TIMES_AHEAD
    for name, moment in (("starts_at", starts), ("ends_at", ends)):
        if moment is not None and not _within(moment, low, high):
            raise Rejection(
                Code.INVALID,
                f"{name} is outside what central takes: from {TIMES_BEHIND.days} days before "
                f"to {TIMES_AHEAD.days} days after central's clock",
            )
    return Item(
        index=index,
        id=event.id,
        seq=event.seq,
        type=event.type,
        resource=event.resource,
        kind=kind,
        rid=rid,
        created=created,
        starts=starts,
        ends=ends,
        payload=payload,
    )


def _record(
    parsed: list[SealedEvent | Result],
    offset: int,
    epochs: dict[str, bytes],
    now: datetime,
    pending: list[Pending],
    answers: dict[int, Result],
    seen: set[str],
) -> None:
    """From the clear fields alone, which of ``parsed`` (the events from batch index
    ``offset`` on) to record, added to ``pending``, and the answers of those not
    recorded, added to ``answers``; ``seen``: the keys recorded so far."""
    for index, event in enumerate(parsed, offset):
        if isinstance(event, Result):
            answers[index] = event
            continue
        key = canonical_uuid(event.id)
        if key in seen:
            continue  # answered like its first occurrence
        problem = _unstorable(event)
        if problem:
            answers[index] = Result(event.id, "rejected", problem, Code.MALFORMED)
            continue
        if epochs.get(event.epoch) is None:
            reason = f"epoch {event.epoch!a} is not in the batch's 'epochs'"
            answers[index] = Result(event.id, "rejected", reason, Code.MALFORMED)
            continue
        seen.add(key)
        pending.append(Pending(index, key, event, None, None, _created(event, now)))


def _created(event: SealedEvent, now: datetime) -> datetime | None:
    """The event's ``created_at`` when :func:`_item` would take it, else ``None``."""
    try:
        created = parse_time(event.created_at, "created_at")
    except Rejection:
        return None
    if created is None or not _within(created, now - EVENT_MAX_AGE, now + CLOCK_AHEAD):
        return None
    return created


def open_pending(
    pending: list[Pending],
    epochs: dict[str, bytes],
    keys: EpochKeys,
    device: DeviceContext,
    now: datetime,
) -> None:
    """Open every event of ``pending`` as the authenticated ``device`` (an event bound to
    another device does not open): each gets its ``item`` or its ``rejection``. An
    unbound event (sealed before the device was upgraded) opens only when it was made
    before the device's first bound event. Never raises for one event: what the checks
    did not foresee is that event's rejection."""
    opened: dict[str, bytes] = {}
    for p in pending:
        event = p.event
        try:
            data_key = opened.get(event.epoch)
            if data_key is None:  # once per epoch and batch, not per event
                sealed = epochs[event.epoch]
                data_key = opened[event.epoch] = keys.open(device.id, event.epoch, sealed)
            payload = open_payload(event, data_key, device.id, loads=loads)
            if event.ad == AD_UNBOUND and not _made_before(event, device.binds_since):
                raise UnsealError("an unbound event made after this device began binding")
            p.item = _item(p.index, event, payload, now, p.created)
        except UnsealError:
            p.rejection = Rejection(
                Code.UNSEALABLE, "the payload does not open: tampered clear fields or a wrong key"
            )
        except WireError as exc:  # opened, but not a payload central can read
            p.rejection = Rejection(Code.INVALID, str(exc))
        except Rejection as exc:
            p.rejection = exc
        except Exception as exc:  # a value nothing foresaw: this event only
            log.warning("event %s could not be opened (%s)", event.id, type(exc).__name__)
            p.rejection = Rejection(Code.INVALID, "central could not read this event")

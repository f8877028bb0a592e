"""The queue's per-event work before the write: checking, ids and sealing, made cheap.

An enqueue costs one fsync'd commit (~0.2 ms on an SSD, milliseconds on an SD card)
plus this CPU work, so every microsecond here is a measurable share of the rate
(``benchmarks/queue.py`` holds it against raw SQLite doing the same durable write).
It produces exactly what :func:`sync.wire.seal_payload` and
:func:`sync.wire.new_event_id` produce — the same UUIDv7 layout, the same plaintext,
the same associated data (``tests/sync/test_queue_seal.py`` checks it byte for byte) —
without their per-call set-up:

* the associated data is formatted directly: the queue's own checks guarantee that no
  clear field needs JSON escaping (type and resource are restricted ids, times are UTC
  ISO strings, ids are hex), and the device id, which may need it, is encoded once;
* one ``os.urandom(22)`` gives both the nonce and the id's random bits;
* the JSON encoder and the AES-GCM context are built once per queue / epoch.
"""

from __future__ import annotations

import json
import json.encoder
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sync._queue_types import InvalidEventError, PayloadError
from sync.wire import AD_BOUND, AD_UNBOUND, EpochKey, SealedEvent

__all__ = ["Checked", "NewEvent", "Sealer", "as_utc", "check_event"]

_TYPE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
# No "@" and no spaces: a resource is an id ("room:aurora"), never a person's address.
_RESOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,127}")
_MASK48 = (1 << 48) - 1
_NONCE_BYTES = 12
# Types and resources already found well formed (a device uses a handful of each).
_GOOD_TYPES: set[str] = set()
_GOOD_RESOURCES: set[str] = set()
_REMEMBER = 4096


class NewEvent(NamedTuple):
    """One event to enqueue, as :meth:`SealedQueue.enqueue_many` takes it."""

    type: str
    resource: str
    payload: Mapping[str, Any]
    starts_at: datetime | None = None
    ends_at: datetime | None = None


Checked = tuple[str, str, Mapping[str, Any], str | None, str | None]
"""An event that passed :func:`check_event`: type, resource, payload, and its times as
UTC ISO strings (a plain tuple: this is on every enqueue's path)."""


def as_utc(moment: object, what: str) -> datetime:
    """``moment`` in UTC; raises :class:`InvalidEventError` unless an aware datetime."""
    if not isinstance(moment, datetime):
        raise InvalidEventError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEventError(f"{what} must be timezone-aware (naive datetimes are ambiguous)")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def check_event(
    type: str,
    resource: str,
    payload: Mapping[str, Any],
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> Checked:
    """The event's clear fields checked; raises :class:`InvalidEventError` or
    :class:`PayloadError` (payload not a mapping)."""
    if type.__class__ is not str or type not in _GOOD_TYPES:
        if type.__class__ is not str or not _TYPE.fullmatch(type):
            raise InvalidEventError(
                "type must be 1-64 characters: a lowercase letter, then a-z 0-9 _ . : -"
            )
        if len(_GOOD_TYPES) < _REMEMBER:
            _GOOD_TYPES.add(type)
    if resource.__class__ is not str or resource not in _GOOD_RESOURCES:
        if resource.__class__ is not str or not _RESOURCE.fullmatch(resource):
            raise InvalidEventError(
                "resource must be an id of 1-128 characters (letters, digits, _ . : / + -)"
            )
        if len(_GOOD_RESOURCES) < _REMEMBER:
            _GOOD_RESOURCES.add(resource)
    if payload.__class__ is not dict and not isinstance(payload, Mapping):
        raise PayloadError(f"payload must be a mapping, not {payload.__class__.__name__}")
    if starts_at is None and ends_at is None:
        return (type, resource, payload, None, None)
    starts = None if starts_at is None else as_utc(starts_at, "starts_at")
    ends = None if ends_at is None else as_utc(ends_at, "ends_at")
    if starts is not None and ends is not None and ends < starts:
        raise InvalidEventError("ends_at is before starts_at")
    return (
        type,
        resource,
        payload,
        None if starts is None else starts.isoformat(),
        None if ends is None else ends.isoformat(),
    )


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``,
    with the C encoder built once instead of on every call.

    It skips the circular-reference check, whose bookkeeping would outlive a failed
    call: a cycle ends in ``RecursionError`` instead. Raises ``TypeError`` (not a JSON
    type, or a non-string key), ``ValueError`` (NaN, infinities) or ``RecursionError``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard encoder
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    encode = make(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    join = "".join
    return lambda value: join(encode(value, 0))


class Sealer:
    """Seals checked events under one epoch at a time, as :func:`sync.wire.seal_payload`
    would, for one queue (``device_id`` set: events bound to that device)."""

    def __init__(self, device_id: str | None, max_payload_bytes: int) -> None:
        self._ad = AD_UNBOUND if device_id is None else AD_BOUND
        # The associated data's head: its version, and the device id JSON-encoded once.
        self._head = "[1," if device_id is None else f"[2,{json.dumps(device_id)},"
        self._max_payload = max_payload_bytes
        self._json = _json_encoder()
        self.epoch_id = ""
        self._encrypt: Any = None

    def use(self, epoch: EpochKey) -> None:
        """Seal under ``epoch`` from now on."""
        self.epoch_id = epoch.id
        self._encrypt = AESGCM(epoch.key).encrypt

    def seal(
        self, seq: int, event: Checked, created: datetime
    ) -> tuple[SealedEvent, tuple[Any, ...]]:
        """The sealed event and its ``events`` row (for ``_queue_store._INSERT_EVENT``).

        ``created`` is an aware UTC datetime. Raises :class:`PayloadError` when the
        payload is not JSON or is over the size limit.
        """
        type_, resource, payload, starts, ends = event
        try:
            plaintext = self._json(payload).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise PayloadError(f"payload of a {type_} event is not JSON: {exc}") from None
        if len(plaintext) > self._max_payload:
            raise PayloadError(
                f"payload of a {type_} event is {len(plaintext)} bytes; "
                f"the limit is {self._max_payload}"
            )
        created_ms = int(created.timestamp() * 1000)
        rand = os.urandom(_NONCE_BYTES + 10)
        nonce = rand[:_NONCE_BYTES]
        # UUIDv7 (RFC 9562), as wire.new_event_id: 48-bit ms, version 7, 12 random
        # bits, variant 0b10, 62 random bits.
        h = (
            (created_ms & _MASK48).to_bytes(6, "big")
            + bytes((0x70 | (rand[12] & 0x0F), rand[13], 0x80 | (rand[14] & 0x3F)))
            + rand[15:]
        ).hex()
        event_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        created_at = created.isoformat()
        epoch_id = self.epoch_id
        # wire._associated_data's JSON, formatted directly: no field needs escaping.
        starts_json = "null" if starts is None else f'"{starts}"'
        ends_json = "null" if ends is None else f'"{ends}"'
        aad = (
            f'{self._head}"{event_id}",{seq},"{type_}","{resource}",{starts_json},{ends_json},'
            f'"{created_at}","{epoch_id}"]'
        ).encode()
        ciphertext = self._encrypt(nonce, plaintext, aad)
        sealed = SealedEvent(
            event_id,
            seq,
            type_,
            resource,
            starts,
            ends,
            created_at,
            epoch_id,
            nonce,
            ciphertext,
            self._ad,
        )
        row = (
            seq,
            event_id,
            type_,
            resource,
            starts,
            ends,
            created_at,
            created_ms,
            epoch_id,
            nonce,
            ciphertext,
            self._ad,
        )
        return sealed, row

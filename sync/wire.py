"""The wire format shared by devices (``sync/``) and central (``central/``).

Sealing
-------
A device never holds a key that opens its own backlog. For each *epoch* (a process
lifetime, or a bounded number of events) it draws a random 256-bit data key, keeps it
in memory only, and stores the key HPKE-sealed (RFC 9180: DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, AES-128-GCM) to central's public key. Each event payload is encrypted
with AES-256-GCM under the epoch's data key; the associated data is the canonical
encoding of the event's clear routing fields, so altering any of them on disk (id,
sequence, type, resource, time range, epoch) makes the payload fail to open.

One HPKE operation per epoch rather than per event keeps sealing off the throughput
path; AES-GCM per event costs microseconds.

Binding to the device
---------------------
An event sealed by an enrolled device (``ad = 2``) also puts the device's id in the
associated data, so a copy uploaded under another device's token does not open
(``unsealable``). Events sealed before devices did this (``ad = 1``, no ``"ad"`` on the
wire) still open; central takes them only when they were made before it started
requiring the binding (see ``docs/central.md``).

Clear fields carry no personal data: ids, a type, a resource id ("room:aurora"), a
time range and when the event was made.

Batch upload (``POST /v1/events``)::

    {"epochs": {"<epoch id>": "<b64 HPKE enc||ct of the data key>"},
     "events": [<SealedEvent.to_wire()>...]}

Answer::

    {"results": [{"id": "<event id>", "outcome": "applied"|"duplicate"|"rejected",
                  "reason": "<human reason, for rejected>"}]}
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "AD_BOUND",
    "AD_UNBOUND",
    "OUTCOMES",
    "SUITE",
    "WIRE_VERSION",
    "EpochKey",
    "SealedEvent",
    "UnsealError",
    "WireError",
    "canonical_uuid",
    "new_event_id",
    "open_epoch_key",
    "open_payload",
    "seal_payload",
]

WIRE_VERSION = 1
AD_UNBOUND = 1
"""Associated data of the clear fields only (events sealed before device binding)."""
AD_BOUND = 2
"""Associated data that also names the device that sealed the event."""
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
OUTCOMES = ("applied", "duplicate", "rejected")
_EPOCH_INFO = b"tapin/epoch-key/v1"
_json_string = json.encoder.encode_basestring_ascii
_NONCE_BYTES = 12


class WireError(ValueError):
    """A message on the wire (or a queue row) is not in the expected shape."""


class UnsealError(WireError):
    """A sealed epoch key or payload did not open: wrong key, or tampered fields."""


def new_event_id(now: datetime | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits.

    Time-ordered ids keep the queue and central's dedup index append-mostly.
    """
    millis = int((now.timestamp() if now else time.time()) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise WireError(f"{what} must be a base64 string")
    try:  # what b64decode(text.encode("ascii"), validate=True) does, without the layers
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or a character that is not ASCII
        raise WireError(f"{what} is not valid base64") from exc


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(text: str) -> str:
    """``text`` as ``str(uuid.UUID(text))`` writes it (lowercase, hyphenated); ``text``
    itself, without parsing, when it is already in that form. Raises ``ValueError``
    when it is not a UUID."""
    if _CANONICAL_UUID.fullmatch(text):
        return text
    return str(uuid.UUID(text))


def _text(data: Mapping[str, Any], name: str, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise WireError(f"event field {name!r} must be a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class EpochKey:
    """The in-memory data key of one epoch, with its sealed form for storage."""

    id: str
    key: bytes
    sealed: bytes

    @classmethod
    def generate(cls, central_public_key: X25519PublicKey) -> EpochKey:
        epoch_id = new_event_id()
        key = AESGCM.generate_key(bit_length=256)
        sealed = SUITE.encrypt(key, central_public_key, info=_EPOCH_INFO + epoch_id.encode())
        return cls(id=epoch_id, key=key, sealed=sealed)

    def __repr__(self) -> str:
        return f"EpochKey(id={self.id!r})"


def open_epoch_key(epoch_id: str, sealed: bytes, private_key: X25519PrivateKey) -> bytes:
    """Central side: recover an epoch's data key. Raises :class:`UnsealError`."""
    try:
        return SUITE.decrypt(sealed, private_key, info=_EPOCH_INFO + epoch_id.encode())
    except Exception as exc:  # cryptography raises InvalidTag or ValueError here
        raise UnsealError(f"epoch key {epoch_id} does not open with central's key") from exc


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """One event as it is queued and sent: clear routing fields plus a sealed payload."""

    id: str
    seq: int
    type: str
    resource: str
    starts_at: str | None
    ends_at: str | None
    created_at: str
    epoch: str
    nonce: bytes
    ciphertext: bytes
    ad: int = AD_UNBOUND
    """:data:`AD_BOUND` when the device's id is part of the associated data."""
    _wire: str | None = field(default=None, init=False, repr=False, compare=False)
    """:meth:`wire_json`, once made (the queue makes it on its own thread)."""

    def associated_data(self, device_id: str | None = None) -> bytes:
        """Canonical bytes of every clear field (and, for a bound event, the id of the
        device that sealed it); tampering with one breaks the seal. Raises
        :class:`WireError` when a bound event is opened without a device id."""
        if self.ad == AD_BOUND and not device_id:
            raise WireError(f"event {self.id} is bound to its device: give the device id")
        return _associated_data(
            device_id if self.ad == AD_BOUND else None,
            self.id,
            self.seq,
            self.type,
            self.resource,
            self.starts_at,
            self.ends_at,
            self.created_at,
            self.epoch,
        )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "resource": self.resource,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_at": self.created_at,
            "epoch": self.epoch,
            "nonce": _b64(self.nonce),
            "ciphertext": _b64(self.ciphertext),
        }
        if self.ad != AD_UNBOUND:
            wire["ad"] = self.ad
        return wire

    def wire_json(self) -> str:
        """``json.dumps(self.to_wire(), separators=(",", ":"))``, written out directly
        (a batch encodes hundreds of these) and kept with the event."""
        if self._wire is None:
            object.__setattr__(self, "_wire", self._encode())
        assert self._wire is not None
        return self._wire

    def _encode(self) -> str:
        q = _json_string
        starts = "null" if self.starts_at is None else q(self.starts_at)
        ends = "null" if self.ends_at is None else q(self.ends_at)
        bound = "" if self.ad == AD_UNBOUND else f',"ad":{int.__repr__(self.ad)}'
        return (
            f'{{"id":{q(self.id)},"seq":{int.__repr__(self.seq)},"type":{q(self.type)},'
            f'"resource":{q(self.resource)},"starts_at":{starts},"ends_at":{ends},'
            f'"created_at":{q(self.created_at)},"epoch":{q(self.epoch)},'
            f'"nonce":"{_b64(self.nonce)}","ciphertext":"{_b64(self.ciphertext)}"{bound}}}'
        )

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SealedEvent:
        """Parse one event object. Raises :class:`WireError` naming the bad field."""
        if not isinstance(data, Mapping):
            raise WireError("an event must be a JSON object")
        event = cls._usual(data)
        if event is not None:
            return event
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise WireError("event field 'seq' must be a non-negative integer")
        event_id = _text(data, "id")
        if not _CANONICAL_UUID.fullmatch(event_id):  # the usual form needs no parsing
            try:
                uuid.UUID(event_id)
            except ValueError:
                raise WireError("event field 'id' must be a UUID") from None
        ad = data.get("ad", AD_UNBOUND)
        if ad not in (AD_UNBOUND, AD_BOUND) or isinstance(ad, bool):
            raise WireError("event field 'ad' must be 1 or 2")
        return cls(
            id=event_id,
            seq=seq,
            type=_text(data, "type"),
            resource=_text(data, "resource"),
            starts_at=_text(data, "starts_at", optional=True),
            ends_at=_text(data, "ends_at", optional=True),
            created_at=_text(data, "created_at"),
            epoch=_text(data, "epoch"),
            nonce=_unb64(data.get("nonce"), "event field 'nonce'"),
            ciphertext=_unb64(data.get("ciphertext"), "event field 'ciphertext'"),
            ad=ad,
        )

    @classmethod
    def _usual(cls, data: Mapping[str, Any]) -> SealedEvent | None:
        """The event, when every clear field has its usual form (plain ``str``/``int``,
        a canonical id) and so passes :meth:`from_wire`'s checks as they are written
        there; ``None`` otherwise, for those checks to find and name the problem."""
        get = data.get
        seq, event_id, ad = get("seq"), get("id"), get("ad", AD_UNBOUND)
        type_, resource, created, epoch = (
            get("type"),
            get("resource"),
            get("created_at"),
            get("epoch"),
        )
        starts, ends = get("starts_at"), get("ends_at")
        if not (
            seq.__class__ is int
            and seq >= 0
            and ad.__class__ is int
            and ad in (AD_UNBOUND, AD_BOUND)
            and event_id.__class__ is str
            and _CANONICAL_UUID.fullmatch(event_id)
            and type_.__class__ is str
            and 0 < len(type_) <= 200
            and resource.__class__ is str
            and 0 < len(resource) <= 200
            and created.__class__ is str
            and 0 < len(created) <= 200
            and epoch.__class__ is str
            and 0 < len(epoch) <= 200
            and (starts is None or (starts.__class__ is str and 0 < len(starts) <= 200))
            and (ends is None or (ends.__class__ is str and 0 < len(ends) <= 200))
        ):
            return None
        return cls(
            id=event_id,
            seq=seq,
            type=type_,
            resource=resource,
            starts_at=starts,
            ends_at=ends,
            created_at=created,
            epoch=epoch,
            nonce=_unb64(get("nonce"), "event field 'nonce'"),
            ciphertext=_unb64(get("ciphertext"), "event field 'ciphertext'"),
            ad=ad,
        )


def _associated_data(
    device_id: str | None,
    event_id: str,
    seq: int,
    type: str,
    resource: str,
    starts_at: str | None,
    ends_at: str | None,
    created_at: str,
    epoch: str,
) -> bytes:
    # The bytes of json.dumps([AD_UNBOUND or AD_BOUND, (device_id,) event_id, seq, ...],
    # separators=(",", ":")), written out: each string through the very function the
    # json encoder uses (ASCII, escaped), without building an encoder per event.
    q = _json_string
    head = f"[{AD_UNBOUND}," if device_id is None else f"[{AD_BOUND},{q(device_id)},"
    return (
        f"{head}{q(event_id)},{int.__repr__(seq)},{q(type)},{q(resource)},"
        f"{'null' if starts_at is None else q(starts_at)},"
        f"{'null' if ends_at is None else q(ends_at)},{q(created_at)},{q(epoch)}]"
    ).encode("ascii")


@functools.lru_cache(maxsize=4)
def _cipher(key: bytes) -> AESGCM:
    """One AES-GCM context per epoch key (building one costs as much as a seal)."""
    return AESGCM(key)


def seal_payload(
    epoch: EpochKey,
    *,
    event_id: str,
    seq: int,
    type: str,
    resource: str,
    payload: Mapping[str, Any],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    created_at: datetime | None = None,
    device_id: str | None = None,
) -> SealedEvent:
    """Device side: build a sealed event. The payload never exists on disk in clear.

    With ``device_id`` (every enrolled device) the event is bound to that device: only
    an upload authenticated as it opens the payload.

    Raises ``ValueError`` (or ``TypeError``) when the payload is not JSON: NaN and
    Infinity are refused (RFC 8259), since central could never store them.
    """
    starts = starts_at.isoformat() if starts_at else None
    ends = ends_at.isoformat() if ends_at else None
    created = (created_at or datetime.now(UTC)).isoformat()
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    aad = _associated_data(
        device_id, event_id, seq, type, resource, starts, ends, created, epoch.id
    )
    ciphertext = _cipher(epoch.key).encrypt(nonce, plaintext, aad)
    return SealedEvent(
        id=event_id,
        seq=seq,
        type=type,
        resource=resource,
        starts_at=starts,
        ends_at=ends,
        created_at=created,
        epoch=epoch.id,
        nonce=nonce,
        ciphertext=ciphertext,
        ad=AD_UNBOUND if device_id is None else AD_BOUND,
    )


def open_payload(
    event: SealedEvent,
    epoch_key: bytes,
    device_id: str | None = None,
    *,
    loads: Callable[[bytes], Any] = json.loads,
) -> dict[str, Any]:
    """Central side: decrypt and parse a payload; ``device_id`` is the authenticated
    uploader (a bound event opens only with the id of the device that sealed it);
    ``loads`` parses the JSON as :func:`json.loads` does (``ValueError`` for what is not
    JSON, ``RecursionError`` for too deep).
    Raises :class:`UnsealError` when it does not open, :class:`WireError` when it opens
    to something no payload can be."""
    try:
        plaintext = _cipher(epoch_key).decrypt(
            event.nonce, event.ciphertext, event.associated_data(device_id)
        )
    except (InvalidTag, ValueError) as exc:
        raise UnsealError(
            f"event {event.id}: payload does not open (tampered clear fields or wrong key)"
        ) from exc
    try:
        payload = loads(plaintext)
    except ValueError as exc:
        raise UnsealError(f"event {event.id}: payload is not JSON") from exc
    except RecursionError:
        raise WireError(f"event {event.id}: payload is nested too deeply") from None
    if not isinstance(payload, dict):
        raise UnsealError(f"event {event.id}: payload must be a JSON object")
    return payload

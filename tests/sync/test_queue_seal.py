"""The queue's fast sealing path makes exactly what :mod:`sync.wire` makes: the same
associated data, plaintext and UUIDv7 layout, so central opens every event."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from sync._queue_seal import Sealer, check_event
from sync.wire import AD_BOUND, AD_UNBOUND, EpochKey, open_payload

CENTRAL = X25519PrivateKey.generate()
EPOCH = EpochKey.generate(CENTRAL.public_key())

types = st.from_regex(r"[a-z][a-z0-9_.:-]{0,63}", fullmatch=True)
resources = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,127}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9000, 1, 1),
    timezones=st.just(UTC) | st.timezones(),
)
device_ids = st.none() | st.text(min_size=1, max_size=40)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    type_=types,
    resource=resources,
    device_id=device_ids,
    created=moments,
    starts=st.none() | moments,
    length=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    seq=st.integers(min_value=0, max_value=2**62),
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)
def test_a_sealed_event_opens_with_wire_s_associated_data(
    type_: str,
    resource: str,
    device_id: str | None,
    created: datetime,
    starts: datetime | None,
    length: timedelta | None,
    seq: int,
    payload: dict[str, Any],
) -> None:
    ends = None if starts is None or length is None else starts + length
    sealer = Sealer(device_id, 4 * 1024 * 1024)
    sealer.use(EPOCH)
    created_utc = created.astimezone(UTC)
    event, row = sealer.seal(seq, check_event(type_, resource, payload, starts, ends), created_utc)

    # byte for byte what wire's own sealing authenticates and encrypts
    plaintext = AESGCM(EPOCH.key).decrypt(
        event.nonce, event.ciphertext, event.associated_data(device_id)
    )
    assert (
        plaintext
        == json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    )
    assert open_payload(event, EPOCH.key, device_id) == json.loads(plaintext)
    assert event.ad == (AD_UNBOUND if device_id is None else AD_BOUND)
    # the clear fields, in UTC
    assert event.created_at == created_utc.isoformat()
    assert event.starts_at == (None if starts is None else starts.astimezone(UTC).isoformat())
    assert event.ends_at == (None if ends is None else ends.astimezone(UTC).isoformat())
    assert (event.seq, event.type, event.resource, event.epoch) == (seq, type_, resource, EPOCH.id)
    # a UUIDv7 carrying the creation millisecond
    parsed = uuid.UUID(event.id)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == event.id
    millis = int(created_utc.timestamp() * 1000) & ((1 << 48) - 1)
    assert parsed.int >> 80 == millis
    # and the row the queue stores is that event
    assert row == (
        event.seq,
        event.id,
        event.type,
        event.resource,
        event.starts_at,
        event.ends_at,
        event.created_at,
        int(created_utc.timestamp() * 1000),
        event.epoch,
        event.nonce,
        event.ciphertext,
        event.ad,
    )


def test_every_event_has_its_own_nonce_and_id() -> None:
    sealer = Sealer("dev-1", 1000)
    sealer.use(EPOCH)
    now = datetime.now(UTC)
    checked = check_event("issue.report", "room:aurora", {"n": 1}, None, None)
    events = [sealer.seal(i, checked, now)[0] for i in range(2000)]
    assert len({e.nonce for e in events}) == len({e.id for e in events}) == 2000
    assert len({e.id[:13] for e in events}) == 1  # one millisecond: the random bits differ

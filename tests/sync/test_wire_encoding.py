"""The wire's hand-written encoders and fast paths say exactly what the generic code says.

The associated data is what a seal is bound to: one byte of difference and no event
opens. The upload body and the event parser's usual-form path are written out for
speed; each is held here to the generic code it replaces, over hostile values (quotes,
control characters, lone surrogates, huge numbers, wrong types).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.wire import (
    AD_BOUND,
    AD_UNBOUND,
    SealedEvent,
    WireError,
    _associated_data,
    canonical_uuid,
)

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
"""Any code point, lone surrogates included (they reach central from JSON escapes)."""
SEQ = st.one_of(st.integers(0, 10**6), st.sampled_from([0, 2**63 - 1, 2**63, 2**70]))


@settings(max_examples=300)
@given(
    device=st.one_of(st.none(), ANY_TEXT),
    fields=st.tuples(ANY_TEXT, SEQ, ANY_TEXT, ANY_TEXT),
    times=st.tuples(st.one_of(st.none(), ANY_TEXT), st.one_of(st.none(), ANY_TEXT)),
    tail=st.tuples(ANY_TEXT, ANY_TEXT),
)
def test_associated_data_is_the_json_of_the_clear_fields(
    device: str | None,
    fields: tuple[str, int, str, str],
    times: tuple[str | None, str | None],
    tail: tuple[str, str],
) -> None:
    clear = [*fields, *times, *tail]
    head: list[Any] = [AD_UNBOUND] if device is None else [AD_BOUND, device]
    expected = json.dumps(head + clear, separators=(",", ":")).encode()
    assert _associated_data(device, *clear) == expected  # type: ignore[arg-type]


def _events() -> st.SearchStrategy[SealedEvent]:
    return st.builds(
        SealedEvent,
        id=ANY_TEXT,
        seq=SEQ,
        type=ANY_TEXT,
        resource=ANY_TEXT,
        starts_at=st.one_of(st.none(), ANY_TEXT),
        ends_at=st.one_of(st.none(), ANY_TEXT),
        created_at=ANY_TEXT,
        epoch=ANY_TEXT,
        nonce=st.binary(max_size=16),
        ciphertext=st.binary(max_size=64),
        ad=st.sampled_from([AD_UNBOUND, AD_BOUND]),
    )


@settings(max_examples=300)
@given(event=_events())
def test_an_event_on_the_wire_is_the_json_of_to_wire(event: SealedEvent) -> None:
    expected = json.dumps(event.to_wire(), separators=(",", ":"))
    assert event.wire_json() == expected
    assert event.wire_json() == expected, "kept with the event, unchanged"


def _field_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 3),
        st.just(1.0),
        st.text(max_size=3),
        st.just("x" * 201),
        st.just(str(uuid.uuid4())),
        st.just(str(uuid.uuid4()).upper()),
        st.just(base64.b64encode(b"twelve bytes").decode()),
        st.just("not base64!"),
        st.just("é"),
    )


def _slow_from_wire(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patched:
        patched.setattr(SealedEvent, "_usual", classmethod(lambda cls, data: None))
        return _outcome(data)


def _outcome(data: dict[str, Any]) -> object:
    try:
        return SealedEvent.from_wire(data)
    except WireError as exc:
        return ("refused", str(exc))


NAMES = ("id", "seq", "type", "resource", "starts_at", "ends_at", "created_at", "epoch", "ad")


@settings(max_examples=400)
@given(
    values=st.fixed_dictionaries(
        {name: _field_values() for name in NAMES},
        optional={"nonce": _field_values(), "ciphertext": _field_values()},
    ),
    valid=st.sets(st.sampled_from(NAMES)),
)
def test_the_usual_form_path_parses_as_the_field_by_field_checks(
    values: dict[str, Any], valid: set[str]
) -> None:
    usual = {
        "id": str(uuid.uuid4()),
        "seq": 7,
        "type": "presence.sample",
        "resource": "room:aurora",
        "starts_at": "2026-12-01T10:00:00+00:00",
        "ends_at": None,
        "created_at": "2026-12-01T10:05:00+00:00",
        "epoch": str(uuid.uuid4()),
        "ad": AD_BOUND,
    }
    data = {**values, **{name: usual[name] for name in valid}}
    data.setdefault("nonce", base64.b64encode(b"n" * 12).decode())
    data.setdefault("ciphertext", base64.b64encode(b"c" * 20).decode())
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _outcome(data) == _slow_from_wire(data, monkeypatch)


def test_canonical_uuid_is_what_uuid_writes() -> None:
    value = uuid.uuid4()
    for form in (str(value), str(value).upper(), value.hex, f"{{{value}}}", f"urn:uuid:{value}"):
        assert canonical_uuid(form) == str(value)
    with pytest.raises(ValueError):
        canonical_uuid("not-a-uuid")

"""Central reads JSON (event payloads) with orjson where orjson reads it as the json
module does, and with the json module everywhere else: the same values, the same
refusals, whatever a device sends (duplicate keys, integers beyond 64 bits, NaN, lone
surrogates, a BOM, nesting too deep)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.jsonread import loads

JSON_TEXTS = [
    b'{"a":1,"a":2}',
    b"18446744073709551616",
    b"-9223372036854775809",
    b'{"n": 123456789012345678901234567890}',
    b"NaN",
    b"[1e400]",
    b'"\\ud800"',
    b"\xef\xbb\xbf{}",
    b'{"text": "phone 1234567890123456789"}',
    b'{"x": [0.1, -0.0, 5e-324, 1.7976931348623157e308]}',
    b'"\\u0000"',
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_central_reads_json_as_the_json_module_does(text: bytes) -> None:
    expected = json.loads(text)
    got = loads(text)
    assert repr(got) == repr(expected) and type(got) is type(expected)


@pytest.mark.parametrize("text", [b"", b"[1,]", b'{"a":1}x', b'"a\x01b"', b"\xff"])
def test_central_refuses_what_the_json_module_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads(text)


def test_a_payload_nested_too_deeply_is_a_recursion_error_as_before() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        loads(deep)


@settings(max_examples=300)
@given(
    value=st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(st.characters(codec="utf-8")),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_central_reads_any_document_as_the_json_module(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert repr(loads(text)) == repr(json.loads(text))

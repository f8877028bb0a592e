"""Beacon frames: iBeacon and Eddystone-UID keys, None for other data, BeaconError only."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presence.beacons import (
    APPLE,
    EDDYSTONE_UUID,
    BeaconError,
    BeaconId,
    beacon_key,
    normalise_key,
    parse,
)

SITE = uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e")
NAMESPACE = bytes.fromhex("edd1ebeac04e5defa017")
INSTANCE = bytes.fromhex("0badc0ffee01")


def ibeacon(major: int = 1, minor: int = 7, power: int = 0xC5, ident: uuid.UUID = SITE) -> bytes:
    return (
        b"\x02\x15"
        + ident.bytes
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + bytes([power])
    )


def uid_frame(rfu: bool = True) -> bytes:
    return b"\x00\xee" + NAMESPACE + INSTANCE + (b"\x00\x00" if rfu else b"")


def test_ibeacon_key_and_power() -> None:
    found = parse({APPLE: ibeacon(major=258, minor=65535)}, {})
    assert found == BeaconId("ibeacon", f"ibeacon:{SITE}:258:65535")
    assert found is not None and found.tx_power == -59 and str(found) == found.key


def test_eddystone_uid_with_and_without_rfu_bytes() -> None:
    key = f"eddystone:{NAMESPACE.hex()}:{INSTANCE.hex()}"
    for frame in (uid_frame(True), uid_frame(False)):
        found = parse({}, {EDDYSTONE_UUID: frame})
        assert found is not None and found.kind == "eddystone" and found.key == key
        assert found.tx_power == -18


def test_service_uuid_in_upper_case_is_found() -> None:
    found = parse({}, {EDDYSTONE_UUID.upper(): uid_frame()})
    assert found is not None and found.kind == "eddystone"


@pytest.mark.parametrize(
    ("manufacturer", "service"),
    [
        ({}, {}),
        ({APPLE: bytes([0x10, 0x05, 0x01, 0x18, 0x44, 0x00, 0x00])}, {}),  # Apple nearby
        ({APPLE: b""}, {}),
        ({0x0006: ibeacon()}, {}),  # iBeacon bytes under another company: not an iBeacon
        ({}, {EDDYSTONE_UUID: b"\x10\xee\x03example"}),  # Eddystone-URL
        ({}, {EDDYSTONE_UUID: b"\x20\x00" + bytes(12)}),  # Eddystone-TLM
        ({}, {"0000fe9f-0000-1000-8000-00805f9b34fb": uid_frame()}),  # another service
    ],
)
def test_other_data_is_not_a_beacon(
    manufacturer: dict[int, bytes], service: dict[str, bytes]
) -> None:
    assert parse(manufacturer, service) is None
    assert beacon_key(manufacturer, service, {}) is None


@pytest.mark.parametrize(
    ("manufacturer", "service", "kind"),
    [
        ({APPLE: ibeacon()[:10]}, {}, "ibeacon"),  # truncated
        ({APPLE: b"\x02"}, {}, "ibeacon"),
        ({APPLE: b"\x02\x14" + bytes(21)}, {}, "ibeacon"),  # wrong length byte
        ({APPLE: ibeacon() + b"\x00"}, {}, "ibeacon"),  # trailing byte
        ({}, {EDDYSTONE_UUID: b""}, "eddystone"),
        ({}, {EDDYSTONE_UUID: uid_frame()[:12]}, "eddystone"),
        ({}, {EDDYSTONE_UUID: uid_frame() + b"\x00"}, "eddystone"),
    ],
)
def test_malformed_frames_raise_beacon_error(
    manufacturer: dict[int, bytes], service: dict[str, bytes], kind: str
) -> None:
    with pytest.raises(BeaconError) as caught:
        parse(manufacturer, service)
    assert caught.value.kind == kind and isinstance(caught.value, ValueError)
    assert "malformed" in str(caught.value)
    with pytest.raises(BeaconError):
        beacon_key(manufacturer, service, {})


def test_a_valid_frame_wins_over_a_malformed_one() -> None:
    found = parse({APPLE: ibeacon()[:5]}, {EDDYSTONE_UUID: uid_frame()})
    assert found is not None and found.kind == "eddystone"


def test_the_cache_gives_the_same_answers_and_stays_bounded() -> None:
    cache: dict[object, str | None] = {}
    for minor in range(5000):
        data = {APPLE: ibeacon(minor=minor)}
        expected = parse(data, {})
        assert expected is not None
        assert beacon_key(data, {}, cache) == beacon_key(data, {}, cache) == expected.key
    assert len(cache) <= 4096
    eddy = {EDDYSTONE_UUID: uid_frame()}
    expected = parse({}, eddy)
    assert expected is not None
    assert beacon_key({}, eddy, cache) == beacon_key({}, eddy, cache) == expected.key
    with pytest.raises(BeaconError):  # errors are not cached away
        beacon_key({APPLE: b"\x02\x15"}, {}, cache)
    with pytest.raises(BeaconError):
        beacon_key({APPLE: b"\x02\x15"}, {}, cache)


def _check_never_raises_other(manufacturer: dict[int, bytes], service: dict[str, bytes]) -> None:
    try:
        found = parse(manufacturer, service)
    except BeaconError:
        found = None
        with pytest.raises(BeaconError):
            beacon_key(manufacturer, service, {})
    else:
        assert beacon_key(manufacturer, service, {}) == (None if found is None else found.key)
    if found is not None:
        assert found.key == normalise_key(found.key)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from([APPLE, 0x0006, 0x0075, 0xFFFF]), st.binary(max_size=40)),
    st.dictionaries(
        st.sampled_from(
            [EDDYSTONE_UUID, EDDYSTONE_UUID.upper(), "0000fd6f-0000-1000-8000-00805f9b34fb"]
        ),
        st.binary(max_size=40),
    ),
)
def test_arbitrary_bytes_never_raise_anything_else(
    manufacturer: dict[int, bytes], service: dict[str, bytes]
) -> None:
    _check_never_raises_other(manufacturer, service)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=30), st.integers(0, 1))
def test_beacon_prefixes_with_arbitrary_tails(tail: bytes, which: int) -> None:
    if which:
        _check_never_raises_other({APPLE: b"\x02\x15" + tail}, {})
    else:
        _check_never_raises_other({}, {EDDYSTONE_UUID: b"\x00" + tail})


@given(st.sampled_from([None, 12, "text", 3.5, [1, 2]]))
def test_data_of_the_wrong_type_is_malformed_not_a_crash(value: object) -> None:
    with contextlib.suppress(BeaconError):
        parse({APPLE: value}, {EDDYSTONE_UUID: value})  # type: ignore[dict-item]


def test_normalise_key() -> None:
    assert normalise_key(f" IBEACON:{str(SITE).upper()}:01:7 ") == f"ibeacon:{SITE}:1:7"
    key = f"Eddystone:{NAMESPACE.hex().upper()}:{INSTANCE.hex()}"
    assert normalise_key(key) == key.lower()
    for bad in (
        "ibeacon:nope:1:2",
        f"ibeacon:{SITE}:65536:1",
        f"ibeacon:{SITE}:-1:1",
        f"ibeacon:{SITE}:1",
        "eddystone:abc:0badc0ffee01",
        f"eddystone:{NAMESPACE.hex()}:xyz",
        "aa:bb:cc:dd:ee:ff",
    ):
        with pytest.raises(ValueError):
            normalise_key(bad)

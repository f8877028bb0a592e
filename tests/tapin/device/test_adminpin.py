"""The admin PIN: scrypt hashes, the lockout (kept across restarts), the config key, the CLI."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tapin.config import ConfigError, load_config
from tapin.demo.clock import ManualClock
from tapin.device import adminpin
from tapin.device.adminpin import (
    LOCKOUT,
    MAX_FAILURES,
    PinGuard,
    PinHashError,
    PinLocked,
    describe_wait,
    hash_pin,
    parse_pin_hash,
)

PIN = "204816"
STORED = hash_pin(PIN)


@pytest.fixture
def clock() -> ManualClock[datetime]:
    return ManualClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / adminpin.PIN_STATE_FILE


# hashing -------------------------------------------------------------------------------


def test_hash_format_and_salt() -> None:
    parts = STORED.split("$")
    assert parts[:4] == ["scrypt", "16384", "8", "1"]
    parsed = parse_pin_hash(STORED)
    assert len(parsed.salt) == 16 and len(parsed.key) == 32
    assert hash_pin(PIN) != STORED  # a fresh salt every time
    assert PIN not in STORED


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        ("123", "4 to 8 digits long, not 3"),
        ("123456789", "4 to 8 digits long, not 9"),
        ("12a4", "digits 0-9 only"),
        ("١٢٣٤", "digits 0-9 only"),  # Arabic-Indic digits are digits, but not ASCII
        ("", "4 to 8 digits"),
    ],
)
def test_pin_rules(pin: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        hash_pin(pin)
    if pin:
        assert pin not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("bcrypt$x", "must look like scrypt"),
        ("scrypt$16384$8$1$AAAA", "must look like scrypt"),
        ("scrypt$abc$8$1$AAAA$AAAA", "whole numbers"),
        ("scrypt$1000$8$1$AAAA$AAAA", "power of two"),
        ("scrypt$4194304$8$1$AAAA$AAAA", "power of two"),
        ("scrypt$16384$99$1$AAAA$AAAA", "scrypt r"),
        ("scrypt$16384$8$0$AAAA$AAAA", "scrypt p"),
        ("scrypt$16384$8$1$!!!!$AAAA", "salt is not valid base64"),
        ("scrypt$16384$8$1$AAAA$AAAA", "salt must be at least 16 bytes"),
    ],
)
def test_bad_stored_hashes_are_refused(text: str, words: str) -> None:
    with pytest.raises(PinHashError, match=words):
        parse_pin_hash(text)


def test_short_key_is_refused() -> None:
    salt, _ = STORED.rsplit("$", 1)
    with pytest.raises(PinHashError, match="32 bytes"):
        parse_pin_hash(salt + "$AAAA")


# the guard -----------------------------------------------------------------------------


def test_right_and_wrong_pins(clock: ManualClock[datetime], state_file: Path) -> None:
    guard = PinGuard(STORED, state_file, clock)
    assert guard.check(PIN)
    assert not guard.check("000000")
    assert not guard.check("12")  # not even a PIN: wrong, counted
    assert guard.tries_left == MAX_FAILURES - 2
    assert guard.check(PIN)  # a right PIN resets the count
    assert guard.tries_left == MAX_FAILURES


def test_five_wrong_tries_lock_for_five_minutes(
    clock: ManualClock[datetime], state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tapin.device.adminpin")
    guard = PinGuard(STORED, state_file, clock)
    for _ in range(MAX_FAILURES):
        assert guard.check("111111") is False
    assert guard.locked_until == clock.now + LOCKOUT
    clock.now += timedelta(seconds=28)
    with pytest.raises(PinLocked) as caught:
        guard.check(PIN)  # even the right PIN
    assert caught.value.remaining == timedelta(minutes=4, seconds=32)
    assert "4 min 32 s" in str(caught.value)
    assert isinstance(caught.value, PermissionError)
    assert guard.tries_left == 0
    clock.now += timedelta(minutes=4, seconds=32)
    assert not guard.locked
    assert guard.check(PIN)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == MAX_FAILURES + 1  # each failure, the lock's, the try while locked
    assert any("locked for 5 min" in r.getMessage() for r in warnings)
    for record in caplog.records:
        assert PIN not in record.getMessage() and "111111" not in record.getMessage()


def test_the_lock_survives_a_restart(clock: ManualClock[datetime], state_file: Path) -> None:
    guard = PinGuard(STORED, state_file, clock)
    for _ in range(3):
        guard.check("999999")
    again = PinGuard(STORED, state_file, clock)  # power-cycled
    assert again.tries_left == MAX_FAILURES - 3
    again.check("999999")
    again.check("999999")
    clock.now += timedelta(minutes=1)
    third = PinGuard(STORED, state_file, clock)
    with pytest.raises(PinLocked):
        third.check(PIN)
    assert third.remaining() == timedelta(minutes=4)


def test_state_file_is_private_json_without_the_pin(
    clock: ManualClock[datetime], state_file: Path
) -> None:
    guard = PinGuard(STORED, state_file, clock)
    guard.check("123456")
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    data = json.loads(state_file.read_text())
    assert data == {"failures": 1, "locked_until": None}
    assert [p.name for p in state_file.parent.iterdir()] == [state_file.name]  # no temp left


def test_a_tampered_state_file_locks_once_then_heals(
    clock: ManualClock[datetime], state_file: Path
) -> None:
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{not json")
    guard = PinGuard(STORED, state_file, clock)
    assert guard.locked
    clock.now += LOCKOUT
    assert guard.check(PIN)


def test_a_clock_that_went_back_never_locks_longer_than_a_lockout(
    clock: ManualClock[datetime], state_file: Path
) -> None:
    guard = PinGuard(STORED, state_file, clock)
    for _ in range(MAX_FAILURES):
        guard.check("000000")
    clock.now -= timedelta(days=365)  # before NTP, a Pi boots in the past
    assert guard.remaining() == LOCKOUT


def test_unwritable_state_keeps_the_lock_in_memory(
    clock: ManualClock[datetime], state_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    guard = PinGuard(STORED, state_file, clock)

    def read_only(*_: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("sync.files.os.replace", read_only)
    for _ in range(MAX_FAILURES):
        guard.check("000000")
    assert guard.locked
    assert any("cannot save" in r.getMessage() for r in caplog.records)


def test_describe_wait() -> None:
    assert describe_wait(timedelta(minutes=5)) == "5 min"
    assert describe_wait(timedelta(minutes=4, seconds=31, microseconds=1)) == "4 min 32 s"
    assert describe_wait(timedelta(seconds=0.2)) == "1 s"
    assert describe_wait(timedelta(0)) == "0 s"


# configuration -------------------------------------------------------------------------

CONFIG = """
[device]
role = "panel"
room = "aurora"

[site]
timezone = "Europe/Stockholm"

[paths]
state_dir = "{state}"
"""


def test_config_pin_hash(tmp_path: Path, clock: ManualClock[datetime]) -> None:
    path = tmp_path / "tapin.toml"
    path.write_text(CONFIG.format(state=tmp_path) + f'\n[admin]\npin_hash = "{STORED}"\n')
    config = load_config(path)
    assert config.admin_pin_hash == STORED
    guard = PinGuard.from_config(config, clock)
    assert guard is not None and guard.check(PIN)
    assert guard.state_file == tmp_path / adminpin.PIN_STATE_FILE


def test_config_without_pin_hash_has_no_guard(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tapin.toml"
    path.write_text(CONFIG.format(state=tmp_path))
    config = load_config(path)
    assert config.admin_pin_hash is None
    assert PinGuard.from_config(config) is None
    assert any("pin_hash" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("value", "words"),
    [('"1234"', "must look like scrypt"), ("1234", "non-empty string")],
)
def test_config_refuses_a_bad_pin_hash(tmp_path: Path, value: str, words: str) -> None:
    path = tmp_path / "tapin.toml"
    path.write_text(CONFIG.format(state=tmp_path) + f"\n[admin]\npin_hash = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "admin.pin_hash" and words in str(caught.value)

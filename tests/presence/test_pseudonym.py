"""MAC pseudonyms: stable within a key's day, unlinkable across days, never the MAC."""

from __future__ import annotations

import hashlib
import itertools
import logging

import pytest

from presence.pseudonym import DAY, Pseudonymiser
from tapin.demo.clock import ManualClock

MAC = "C4:7A:11:22:33:44"


def counting_entropy() -> tuple[list[bytes], object]:
    made: list[bytes] = []
    counter = itertools.count(1)

    def entropy(n: int) -> bytes:
        key = bytes([next(counter)]) * n
        made.append(key)
        return key

    return made, entropy


def test_same_mac_same_day_gives_the_same_pseudonym() -> None:
    clock = ManualClock(1000.0)
    names = Pseudonymiser(clock)
    first = names.pseudonym(MAC)
    clock.now += DAY - 1
    assert names.pseudonym(MAC) == first
    assert names.pseudonym(MAC.lower()) == first
    assert names.pseudonym(MAC.replace(":", "-")) == first
    assert len(first) == 16 and int(first, 16) >= 0
    assert names.pseudonym("C4:7A:11:22:33:45") != first


def test_it_is_keyed_blake2b_of_the_mac() -> None:
    made, entropy = counting_entropy()
    names = Pseudonymiser(ManualClock(1000.0), entropy=entropy)  # type: ignore[arg-type]
    expected = hashlib.blake2b(MAC.encode(), key=made[0], digest_size=8).hexdigest()
    assert names.pseudonym(MAC) == expected


def test_after_a_day_the_key_and_the_pseudonym_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(1000.0)
    names = Pseudonymiser(clock)
    first = names.pseudonym(MAC)
    assert names.epoch == 0 and names.rotates_at == clock.now + DAY
    clock.now += DAY
    with caplog.at_level(logging.INFO, logger="presence.pseudonym"):
        second = names.pseudonym(MAC)
    assert second != first and names.epoch == 1
    assert "epoch 1" in caplog.text
    assert not names.rotate_if_due(clock.now + 10)
    assert names.rotate_if_due(clock.now + DAY)
    assert names.pseudonym(MAC) not in (first, second)


def test_rotation_overwrites_the_old_key() -> None:
    names = Pseudonymiser(ManualClock(1000.0), entropy=lambda n: b"\x07" * n)
    old = names._key
    names.rotate()
    assert bytes(old) == bytes(32) and names._key is not old


def test_two_processes_never_share_a_key() -> None:
    assert Pseudonymiser(ManualClock(1000.0)).pseudonym(MAC) != Pseudonymiser(
        ManualClock(1000.0)
    ).pseudonym(MAC)


def test_no_mac_and_no_key_in_repr() -> None:
    names = Pseudonymiser(ManualClock(1000.0), entropy=lambda n: b"\xab" * n)
    names.pseudonym(MAC)
    text = repr(names) + str(names)
    assert MAC not in text and MAC.lower() not in text and "abab" not in text
    assert Pseudonymiser.short(names.pseudonym(MAC)) == names.pseudonym(MAC)[:8]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Pseudonymiser(ManualClock(1000.0), period=0)
    with pytest.raises(ValueError):
        Pseudonymiser(ManualClock(1000.0), entropy=lambda n: b"short")

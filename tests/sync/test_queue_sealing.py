"""Sealing and privacy: central opens what the device cannot; nothing personal on disk."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sync.queue import SEAL_FAILURE_CODE, EventState, SealedQueue
from sync.wire import UnsealError, open_epoch_key, open_payload
from tests.sync.queue_support import START, central_open, db_files, raw_db

VISITORS = [
    {"name": "Ada Lovelace", "email": "ada.lovelace@example.org", "company": "Analytical Ltd"},
    {"name": "Zoë Ångström", "email": "zoe.angstrom@example.se", "phone": "+46 70 123 45 67"},
    {"name": "Grace Hopper", "email": "grace@navy.example", "host": "Margaret Hamilton"},
]
SECRETS = [value for visitor in VISITORS for value in visitor.values()]


@pytest.fixture
def central() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


def _fill(path: Path, central: X25519PrivateKey) -> list[str]:
    with SealedQueue(path, central.public_key()) as q:
        return [
            q.enqueue(
                "visitor.sign_in",
                "lobby:main",
                visitor,
                starts_at=START,
                ends_at=START + timedelta(hours=2),
            ).id
            for visitor in VISITORS
        ]


def _leaks(files: list[Path], needles: list[str]) -> list[tuple[str, str]]:
    found = []
    for file in files:
        data = file.read_bytes().lower()
        for needle in needles:
            for encoding in ("utf-8", "utf-16-le"):
                if needle.lower().encode(encoding) in data:
                    found.append((file.name, needle))
    return found


def test_central_opens_every_untampered_payload(path: Path, central: X25519PrivateKey) -> None:
    ids = _fill(path, central)
    with SealedQueue(path, central.public_key()) as q:
        batch = q.take_batch()
    assert batch.ids == ids
    assert [central_open(batch, event, central) for event in batch.events] == VISITORS
    wire = batch.to_wire()
    assert set(wire) == {"epochs", "events"} and len(wire["events"]) == 3


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("resource", "room:vault"),
        ("type", "visitor.sign_out"),
        ("starts_at", "2026-03-02T08:00:00+00:00"),
        ("ends_at", None),
        ("created_at", "2026-01-01T00:00:00+00:00"),
        ("id", "01900000-0000-7000-8000-000000000000"),
    ],
)
def test_a_clear_field_altered_on_disk_makes_the_payload_fail_to_open_at_central(
    path: Path, central: X25519PrivateKey, column: str, value: str | None
) -> None:
    _fill(path, central)
    with raw_db(path) as conn:  # an attacker with the SD card edits one routing field
        conn.execute(f"UPDATE events SET {column} = ? WHERE seq = 2", (value,))
    with SealedQueue(path, central.public_key()) as q:
        batch = q.take_batch()
        tampered = batch.events[1]
        assert getattr(tampered, column) == value
        with pytest.raises(UnsealError, match="does not open"):
            central_open(batch, tampered, central)
        for event in (batch.events[0], batch.events[2]):
            assert central_open(batch, event, central) in VISITORS
        # central answers "rejected" with the seal-failure code: the event is quarantined
        summary = q.settle(
            [
                {
                    "id": tampered.id,
                    "outcome": "rejected",
                    "code": SEAL_FAILURE_CODE,
                    "reason": "x",
                },
                {"id": batch.events[0].id, "outcome": "applied"},
                {"id": batch.events[2].id, "outcome": "applied"},
            ]
        )
        assert (summary.quarantined, summary.applied) == (1, 2)
        (row,) = q.rows()
        assert (row.id, row.state) == (tampered.id, EventState.QUARANTINED)


def test_a_sealed_epoch_key_altered_on_disk_does_not_open_at_central(
    path: Path, central: X25519PrivateKey
) -> None:
    _fill(path, central)
    with raw_db(path) as conn:
        (sealed,) = conn.execute("SELECT sealed FROM epochs").fetchone()
        flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
        conn.execute("UPDATE epochs SET sealed = ?", (flipped,))
    with SealedQueue(path, central.public_key()) as q:
        batch = q.take_batch()
    (epoch_id,) = batch.epochs
    with pytest.raises(UnsealError):
        open_epoch_key(epoch_id, batch.epochs[epoch_id], central)


def test_the_device_cannot_read_its_own_backlog(path: Path, central: X25519PrivateKey) -> None:
    with SealedQueue(path, central.public_key()) as first:
        first.enqueue("visitor.sign_in", "lobby:main", VISITORS[0])
        old_key = first._epoch.key  # in memory only, gone with the process
    with SealedQueue(path, central.public_key()) as q:  # e.g. after a reboot or a theft
        batch = q.take_batch()
        (event,) = batch.events
        new_epoch = q._epoch
    assert new_epoch.id != event.epoch  # a new process starts a new epoch
    with pytest.raises(InvalidTag):  # the key the device now holds does not open it
        AESGCM(new_epoch.key).decrypt(event.nonce, event.ciphertext, event.associated_data())
    with pytest.raises(UnsealError):  # nor does any key but central's
        open_epoch_key(event.epoch, batch.epochs[event.epoch], X25519PrivateKey.generate())
    with raw_db(path) as conn:  # what the file holds of the epoch is its sealed form only
        assert conn.execute("SELECT id, sealed FROM epochs").fetchall() == [
            (event.epoch, batch.epochs[event.epoch])
        ]
    assert all(old_key not in f.read_bytes() for f in db_files(path))
    key = open_epoch_key(event.epoch, batch.epochs[event.epoch], central)
    assert key == old_key
    assert open_payload(event, key) == VISITORS[0]


def test_no_personal_data_in_the_database_files_or_the_logs(
    path: Path, central: X25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    q = SealedQueue(path, central.public_key())
    try:
        ids = [q.enqueue("visitor.sign_in", "lobby:main", v).id for v in VISITORS * 20]
        open_files = db_files(path)
        assert path.with_name("queue.db-wal") in open_files  # the log holds the fresh rows
        assert _leaks(open_files, SECRETS) == []
        q.take_batch(10)
        q.settle([{"id": ids[0], "outcome": "rejected", "reason": "host is away"}])
        q.purge_expired()
    finally:
        q.close()
    assert _leaks(db_files(path), SECRETS) == []  # after the checkpoint into the main file
    assert _leaks(db_files(path), ["lobby:main"]) != []  # the check does find clear text
    assert not any(secret.lower() in caplog.text.lower() for secret in SECRETS)

"""Events sealed by an enrolled device are bound to it; a queue written before binding
existed still delivers what it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import SealedQueue
from sync.wire import AD_BOUND, AD_UNBOUND, UnsealError, WireError, open_epoch_key, open_payload
from tests.sync.queue_support import raw_db

CENTRAL = X25519PrivateKey.generate()


def _open(queue: SealedQueue, device_id: str | None) -> list[dict[str, object]]:
    batch = queue.take_batch(100)
    opened = []
    for event in batch.events:
        key = open_epoch_key(event.epoch, batch.epochs[event.epoch], CENTRAL)
        opened.append(open_payload(event, key, device_id))
    queue.settle([{"id": e.id, "outcome": "applied"} for e in batch.events])
    return opened


def test_a_bound_event_opens_only_as_its_device(tmp_path: Path) -> None:
    with SealedQueue(tmp_path / "q.db", CENTRAL.public_key(), device_id="dev-a") as queue:
        queue.enqueue("issue.report", "room:aurora", {"report_id": "r1", "category": "other"})
        batch = queue.take_batch(10)
    (event,) = batch.events
    assert event.ad == AD_BOUND and event.to_wire()["ad"] == AD_BOUND
    key = open_epoch_key(event.epoch, batch.epochs[event.epoch], CENTRAL)
    assert open_payload(event, key, "dev-a")["report_id"] == "r1"
    with pytest.raises(UnsealError):
        open_payload(event, key, "dev-b")  # a copy uploaded by another device
    with pytest.raises(WireError):
        open_payload(event, key)  # no device: it cannot even be tried


def test_a_queue_from_before_binding_delivers_its_events(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with SealedQueue(path, CENTRAL.public_key()) as old:  # what the old version sealed
        old.enqueue("issue.report", "room:aurora", {"report_id": "old", "category": "other"})
    with raw_db(path) as db:  # and the old version's schema (1: no ``ad`` column)
        db.execute("ALTER TABLE events DROP COLUMN ad")
        db.execute("PRAGMA user_version = 1")
        db.commit()
    with SealedQueue(path, CENTRAL.public_key(), device_id="dev-a") as upgraded:
        upgraded.enqueue("issue.report", "room:aurora", {"report_id": "new", "category": "other"})
        batch = upgraded.take_batch(10)
        assert [e.ad for e in batch.events] == [AD_UNBOUND, AD_BOUND]  # left in flight
    with SealedQueue(path, CENTRAL.public_key(), device_id="dev-a") as again:
        assert [p["report_id"] for p in _open(again, "dev-a")] == ["old", "new"]
    with raw_db(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2

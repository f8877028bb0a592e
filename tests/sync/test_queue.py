"""The sealed queue's states, ordering, sequence numbers, settling and errors."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import (
    SEAL_FAILURE_CODE,
    AsyncSealedQueue,
    EventState,
    InvalidArgumentError,
    InvalidEventError,
    PayloadError,
    QueueClosedError,
    QueueCorruptError,
    QueueError,
    QueueLockedError,
    QueueStorageError,
    SealedQueue,
)
from tapin.demo.clock import ManualClock
from tests.sync.queue_support import START, central_open, queue_clock, raw_db


@pytest.fixture
def central() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def clock() -> ManualClock[datetime]:
    return queue_clock()


@pytest.fixture
def queue(
    path: Path, central: X25519PrivateKey, clock: ManualClock[datetime]
) -> Iterator[SealedQueue]:
    with SealedQueue(path, central.public_key(), clock=clock) as q:
        yield q


def _enqueue(q: SealedQueue, n: int, type: str = "booking.create") -> list[str]:
    return [q.enqueue(type, "room:aurora", {"n": i}).id for i in range(n)]


def test_enqueue_returns_the_sealed_event_with_clear_routing_fields(queue: SealedQueue) -> None:
    starts = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    event = queue.enqueue(
        "booking.create",
        "room:aurora",
        {"who": "p-1"},
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    assert uuid.UUID(event.id).version == 7
    assert (event.seq, event.type, event.resource) == (1, "booking.create", "room:aurora")
    assert event.starts_at == "2026-03-02T11:00:00+00:00"
    assert event.ends_at == "2026-03-02T12:00:00+00:00"
    assert event.created_at == START.isoformat()
    assert b"p-1" not in event.ciphertext


def test_times_are_stored_in_utc(queue: SealedQueue) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    event = queue.enqueue("booking.create", "room:aurora", {}, starts_at=local)
    assert event.starts_at == "2026-03-02T11:00:00+00:00"


def test_take_batch_is_oldest_first_and_marks_events_in_flight(queue: SealedQueue) -> None:
    ids = _enqueue(queue, 5)
    first = queue.take_batch(2)
    assert [e.id for e in first.events] == ids[:2]
    assert [e.seq for e in first.events] == [1, 2]
    counts = queue.counts()
    assert (counts.pending, counts.inflight, counts.waiting) == (3, 2, 5)
    assert queue.take_batch(10).ids == ids[2:]
    assert len(queue.take_batch()) == 0
    assert [row.state for row in queue.rows()] == [EventState.INFLIGHT] * 5


def test_sequence_numbers_never_repeat_across_reopen_and_deletes(
    path: Path, central: X25519PrivateKey
) -> None:
    seen: list[int] = []
    for _ in range(3):
        with SealedQueue(path, central.public_key()) as q:
            seen += [q.enqueue("booking.create", "room:aurora", {}).seq for _ in range(3)]
            batch = q.take_batch()
            q.settle([{"id": i, "outcome": "applied"} for i in batch.ids])  # all deleted
            assert q.counts().waiting == 0
    assert seen == list(range(1, 10))


def test_sequence_floor_survives_rows_deleted_by_hand(
    path: Path, central: X25519PrivateKey
) -> None:
    with SealedQueue(path, central.public_key()) as q:
        _enqueue(q, 3)
    with raw_db(path) as conn:
        conn.execute("DELETE FROM events")
    with SealedQueue(path, central.public_key()) as q:
        assert q.enqueue("booking.create", "room:aurora", {}).seq == 4


def test_events_in_flight_at_a_crash_are_pending_again_on_open(
    path: Path, central: X25519PrivateKey
) -> None:
    q = SealedQueue(path, central.public_key())
    ids = _enqueue(q, 3)
    assert q.take_batch().ids == ids
    q.close()  # the upload never settled: as after a crash, the rows say "inflight"
    with raw_db(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE state = 'inflight'").fetchone() == (
            3,
        )
    with SealedQueue(path, central.public_key()) as again:
        counts = again.counts()
        assert (counts.pending, counts.inflight) == (3, 0)
        assert again.take_batch().ids == ids


def test_settle_deletes_applied_and_duplicate_keeps_rejected_and_quarantines_unsealable(
    queue: SealedQueue,
) -> None:
    ids = _enqueue(queue, 6)
    queue.take_batch()
    summary = queue.settle(
        [
            {"id": ids[0], "outcome": "applied"},
            {"id": ids[1], "outcome": "duplicate"},
            {"id": ids[2], "outcome": "rejected", "reason": "Room is booked 10:00-11:00"},
            {"id": ids[3], "outcome": "rejected", "code": SEAL_FAILURE_CODE, "reason": "no"},
            {"id": ids[4], "outcome": "lost"},  # malformed: back to pending
            # ids[5] not mentioned: back to pending
            {"id": str(uuid.uuid4()), "outcome": "applied"},  # not ours: ignored
        ]
    )
    assert (summary.applied, summary.duplicate, summary.rejected, summary.quarantined) == (
        1,
        1,
        1,
        1,
    )
    assert (summary.returned, summary.ignored, summary.deleted) == (2, 2, 2)
    rows = {row.id: row for row in queue.rows()}
    assert set(rows) == set(ids[2:])
    assert rows[ids[2]].state == EventState.REJECTED
    assert rows[ids[2]].reason == "Room is booked 10:00-11:00"
    assert rows[ids[3]].state == EventState.QUARANTINED
    assert rows[ids[3]].reason == "central cannot open the seal: no"
    assert rows[ids[4]].state == rows[ids[5]].state == EventState.PENDING
    assert queue.take_batch().ids == [ids[4], ids[5]]  # rejected ones are never resent


@pytest.mark.parametrize(
    "results",
    [
        None,
        "applied",
        42,
        {"results": []},
        [None, 1, "x", [], {}, {"id": None, "outcome": "applied"}],
        [{"id": "?", "outcome": "applied", "reason": 7}, {"outcome": "applied"}],
    ],
)
def test_malformed_results_never_raise_and_send_everything_back(
    queue: SealedQueue, results: object
) -> None:
    _enqueue(queue, 3)
    queue.take_batch()
    summary = queue.settle(results)  # type: ignore[arg-type]
    assert summary.returned == 3 and summary.deleted == 0
    assert queue.counts().pending == 3


def test_malformed_entry_for_an_event_sends_it_back(queue: SealedQueue) -> None:
    ids = _enqueue(queue, 2)
    queue.take_batch()
    summary = queue.settle(
        [{"id": ids[0], "outcome": "applied", "reason": ["x"]}, {"id": ids[1], "outcome": 1}]
    )
    assert (summary.returned, summary.ignored) == (2, 2)


def test_the_first_well_formed_result_for_an_id_wins(queue: SealedQueue) -> None:
    (event_id,) = _enqueue(queue, 1)
    queue.take_batch()
    summary = queue.settle(
        [{"id": event_id, "outcome": "rejected"}, {"id": event_id, "outcome": "applied"}]
    )
    assert (summary.rejected, summary.applied, summary.ignored) == (1, 0, 1)
    assert queue.rows()[0].reason == "rejected by central without a reason"


def test_release_inflight_after_a_network_failure(queue: SealedQueue) -> None:
    ids = _enqueue(queue, 3)
    queue.take_batch(2)
    assert queue.release_inflight() == 2
    assert queue.counts().pending == 3
    assert queue.take_batch().ids == ids
    assert queue.settle([]).returned == 3


def test_rows_show_routing_state_and_reason_never_the_payload(queue: SealedQueue) -> None:
    ids = _enqueue(queue, 3)
    queue.take_batch(1)
    queue.settle([{"id": ids[0], "outcome": "rejected", "reason": "desk\x00 closed\n"}])
    rejected = queue.rows(EventState.REJECTED)
    assert [(r.id, r.reason) for r in rejected] == [(ids[0], "desk  closed")]
    assert [r.seq for r in queue.rows(["pending"], limit=1)] == [2]
    assert {field.name for field in dataclasses.fields(queue.rows()[0])} == {
        "seq",
        "id",
        "type",
        "resource",
        "starts_at",
        "ends_at",
        "created_at",
        "state",
        "reason",
    }
    with pytest.raises(InvalidArgumentError, match="states must be among"):
        queue.rows(["delivered"])


def test_counts_name_the_oldest_pending_event(
    queue: SealedQueue, clock: ManualClock[datetime]
) -> None:
    assert queue.counts().oldest_pending is None
    _enqueue(queue, 1)
    clock.advance(timedelta(minutes=5))
    _enqueue(queue, 1)
    assert queue.counts().oldest_pending == START


def test_purge_deletes_undelivered_events_older_than_90_days_and_logs_the_count(
    queue: SealedQueue, clock: ManualClock[datetime], caplog: pytest.LogCaptureFixture
) -> None:
    old = [
        queue.enqueue("visitor.sign_in", "lobby:main", {"name": "Ada Lovelace"}).id
        for _ in range(3)
    ]
    queue.take_batch(1)
    queue.settle([{"id": old[0], "outcome": "rejected", "reason": "host unknown"}])
    clock.advance(timedelta(days=60))
    recent = _enqueue(queue, 2)
    clock.advance(timedelta(days=31))  # the first three are now 91 days old
    caplog.set_level("INFO", logger="sync.queue")
    assert queue.purge_expired() == 3
    assert [row.id for row in queue.rows()] == recent
    assert "queue purge: 3 undelivered event(s)" in caplog.text
    assert "older than 90 days (2 pending, 1 rejected)" in caplog.text
    assert "Ada" not in caplog.text
    assert queue.purge_expired() == 0


def test_purge_leaves_events_in_flight_to_their_upload(
    queue: SealedQueue, clock: ManualClock[datetime]
) -> None:
    _enqueue(queue, 2)
    queue.take_batch(1)
    clock.advance(timedelta(days=100))
    assert queue.purge_expired(timedelta(days=90)) == 1
    assert queue.counts().inflight == 1
    with pytest.raises(InvalidArgumentError):
        queue.purge_expired(timedelta(0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"type": ""}, InvalidEventError, "type must be"),
        ({"type": "Booking Create"}, InvalidEventError, "type must be"),
        ({"type": None}, InvalidEventError, "type must be"),
        ({"resource": "person:ada@example.org"}, InvalidEventError, "resource must be"),
        ({"resource": "room aurora"}, InvalidEventError, "resource must be"),
        ({"resource": "r" * 129}, InvalidEventError, "resource must be"),
        ({"starts_at": datetime(2026, 1, 1)}, InvalidEventError, "timezone-aware"),
        ({"starts_at": "2026-01-01"}, InvalidEventError, "must be a datetime"),
        ({"starts_at": START, "ends_at": START - timedelta(1)}, InvalidEventError, "before"),
        ({"payload": ["not", "a", "mapping"]}, PayloadError, "mapping"),
        ({"payload": {"tags": {"a", "b"}}}, PayloadError, "not JSON"),
        ({"payload": {"score": float("nan")}}, PayloadError, "not JSON"),
        ({"payload": {"photo": "x" * 2000}}, PayloadError, "limit is 1000"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    path: Path, central: X25519PrivateKey, kwargs: dict, error: type[Exception], match: str
) -> None:
    with SealedQueue(path, central.public_key(), max_payload_bytes=1000) as q:
        args = {"type": "booking.create", "resource": "room:aurora", "payload": {}} | kwargs
        with pytest.raises(error, match=match):
            q.enqueue(args.pop("type"), args.pop("resource"), args.pop("payload"), **args)
        assert issubclass(error, ValueError) and issubclass(error, QueueError)
        assert q.counts().waiting == 0
        assert q.enqueue("booking.create", "room:aurora", {}).seq == 1


def test_the_epoch_rotates_after_max_events_and_spent_epochs_are_dropped(
    path: Path, central: X25519PrivateKey
) -> None:
    with SealedQueue(path, central.public_key(), epoch_max_events=3) as q:
        payloads = [{"n": i} for i in range(7)]
        for payload in payloads:
            q.enqueue("booking.create", "room:aurora", payload)
        batch = q.take_batch()
        assert len(batch.epochs) == 3
        assert [central_open(batch, e, central) for e in batch.events] == payloads
        q.settle([{"id": i, "outcome": "applied"} for i in batch.ids])
        current = q._epoch.id  # the epoch still in use is kept
    with raw_db(path) as conn:
        assert conn.execute("SELECT id FROM epochs").fetchall() == [(current,)]


def test_queue_is_durable_by_configuration(queue: SealedQueue) -> None:
    assert queue._store is not None
    conn = queue._store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_an_enqueue_never_writes_into_a_transaction_left_open(queue: SealedQueue) -> None:
    queue.enqueue("booking.create", "room:aurora", {})
    assert queue._store is not None
    conn = queue._store.conn
    conn.execute("BEGIN")  # as if a ROLLBACK after an I/O error had failed
    with pytest.raises(QueueStorageError, match="within a transaction"):
        queue.enqueue("booking.create", "room:aurora", {})  # would not be committed
    conn.execute("ROLLBACK")
    assert queue.enqueue("booking.create", "room:aurora", {}).seq == 2


# Storage errors ----------------------------------------------------------------------


def test_a_second_open_is_refused_while_the_queue_is_open(queue: SealedQueue, path: Path) -> None:
    with pytest.raises(QueueLockedError, match=str(path)):
        SealedQueue(path, X25519PrivateKey.generate().public_key())
    assert queue.enqueue("booking.create", "room:aurora", {}).seq == 1


def test_unusable_paths_name_the_file(tmp_path: Path, central: X25519PrivateKey) -> None:
    key = central.public_key()
    with pytest.raises(QueueStorageError, match="is a directory") as error:
        SealedQueue(tmp_path, key)
    assert error.value.path == str(tmp_path)
    assert isinstance(error.value, OSError)
    missing = tmp_path / "nope" / "queue.db"
    with pytest.raises(QueueStorageError, match="does not exist"):
        SealedQueue(missing, key)


def test_a_file_that_is_not_a_database_is_reported_as_corrupt(
    path: Path, central: X25519PrivateKey
) -> None:
    path.write_bytes(b"this is not SQLite" * 500)
    with pytest.raises(QueueCorruptError, match=f"{path}.*move it aside"):
        SealedQueue(path, central.public_key())


def test_another_sqlite_database_or_a_newer_schema_is_refused(
    tmp_path: Path, central: X25519PrivateKey
) -> None:
    other = tmp_path / "other.db"
    with raw_db(other) as conn:
        conn.execute("CREATE TABLE photos (id)")
    with pytest.raises(QueueCorruptError, match="not a Tapin queue"):
        SealedQueue(other, central.public_key())
    newer = tmp_path / "newer.db"
    with raw_db(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(QueueCorruptError, match="newer Tapin"):
        SealedQueue(newer, central.public_key())


def test_a_closed_queue_says_so(path: Path, central: X25519PrivateKey) -> None:
    q = SealedQueue(path, central.public_key())
    q.close()
    q.close()  # idempotent
    with pytest.raises(QueueClosedError, match="closed"):
        q.enqueue("booking.create", "room:aurora", {})
    with pytest.raises(QueueClosedError):
        q.counts()


def test_an_unreadable_row_is_quarantined_not_sent(path: Path, central: X25519PrivateKey) -> None:
    with SealedQueue(path, central.public_key()) as q:
        ids = _enqueue(q, 3)
    with raw_db(path) as conn:
        conn.execute("UPDATE events SET nonce = x'00' WHERE seq = 2")
    with SealedQueue(path, central.public_key()) as q:
        assert q.take_batch().ids == [ids[0], ids[2]]
        (row,) = q.rows(EventState.QUARANTINED)
        assert (row.id, row.reason) == (ids[1], "unreadable on this device: bad nonce")


# The asyncio wrapper -------------------------------------------------------------------


async def test_async_queue_runs_every_call_on_one_worker_thread(
    path: Path, central: X25519PrivateKey, clock: ManualClock[datetime]
) -> None:
    async with AsyncSealedQueue(path, central.public_key(), clock=clock) as q:
        events = await asyncio.gather(
            *(q.enqueue("booking.create", "room:aurora", {"n": i}) for i in range(10))
        )
        assert sorted(e.seq for e in events) == list(range(1, 11))
        batch = await q.take_batch(4)
        summary = await q.settle([{"id": i, "outcome": "applied"} for i in batch.ids])
        assert summary.applied == 4
        assert (await q.counts()).pending == 6
        assert len(await q.rows("pending")) == 6
        assert await q.release_inflight() == 0
        assert await q.purge_expired() == 0
    assert len(set(clock.calls)) == 1
    assert clock.calls[0] != threading.get_ident()
    with pytest.raises(QueueClosedError):
        await q.counts()
    await q.close()  # idempotent


async def test_async_queue_raises_the_same_errors(
    tmp_path: Path, central: X25519PrivateKey
) -> None:
    q = AsyncSealedQueue(tmp_path, central.public_key())  # constructing does no I/O
    with pytest.raises(QueueStorageError, match="is a directory"):
        await q.open()
    await q.close()

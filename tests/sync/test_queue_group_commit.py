"""Group commit in :class:`AsyncSealedQueue`: concurrent enqueues share one transaction
(one fsync), and every caller returns only once its event is in the file.

The worker is held inside a call with a clock that blocks on demand (the queue reads
its clock on the worker for every event), so the enqueues made meanwhile are known to
wait together; everything else is the real queue on real files.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import sync._queue_store as queue_store
from sync.queue import (
    AsyncSealedQueue,
    GroupCommits,
    NewEvent,
    PayloadError,
    QueueStorageError,
    SealedQueue,
)
from sync.wire import SealedEvent
from tests.sync.queue_support import START, central_open, raw_db

ROOT = Path(__file__).resolve().parents[2]
CENTRAL = X25519PrivateKey.generate()


class HeldClock:
    """The queue's clock; after :meth:`hold` its next call blocks until :meth:`release`."""

    def __init__(self) -> None:
        self.now: datetime = START
        self._armed = False
        self._blocked = threading.Event()
        self._go = threading.Event()

    def __call__(self) -> datetime:
        if self._armed:
            self._armed = False
            self._blocked.set()
            assert self._go.wait(10), "the test never released the clock"
        return self.now

    def hold(self) -> None:
        self._armed = True
        self._blocked.clear()
        self._go.clear()

    async def blocked(self) -> None:
        """Wait until the worker is stuck in the held call."""
        assert await asyncio.to_thread(self._blocked.wait, 10), "the worker never got there"

    def release(self) -> None:
        self._go.set()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def clock() -> HeldClock:
    return HeldClock()


@pytest.fixture
def committed(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Ids of the events whose group transaction's COMMIT has returned."""
    done: set[str] = set()
    real = queue_store.QueueStore.append_many

    def append_many(store: Any, rows: Any, epochs: Any) -> None:
        real(store, rows, epochs)
        done.update(row[1] for row in rows)

    monkeypatch.setattr(queue_store.QueueStore, "append_many", append_many)
    yield done


async def _held_then(
    q: AsyncSealedQueue, clock: HeldClock, resources: list[str], payloads: list[Any] | None = None
) -> tuple[SealedEvent, list[asyncio.Task[SealedEvent]]]:
    """Hold the worker on a first event, make one enqueue per resource meanwhile, release.

    Returns the first event and the tasks of the others, in the order they were made.
    """
    clock.hold()
    first = asyncio.ensure_future(q.enqueue("issue.report", "room:first", {"n": -1}))
    await clock.blocked()
    tasks = [
        asyncio.ensure_future(
            q.enqueue("issue.report", resource, payloads[i] if payloads else {"n": i})
        )
        for i, resource in enumerate(resources)
    ]
    await asyncio.sleep(0)  # every task has run up to its await: they wait together
    clock.release()
    return await first, tasks


def _stored(path: Path) -> list[tuple[int, str, str]]:
    """``(seq, id, resource)`` of every row, read with plain sqlite3 (queue closed)."""
    with raw_db(path) as conn:
        return conn.execute("SELECT seq, id, resource FROM events ORDER BY seq").fetchall()


async def test_concurrent_enqueues_are_one_transaction_each_caller_released_after_commit(
    path: Path, clock: HeldClock, committed: set[str]
) -> None:
    resources = [f"room:r{i}" for i in range(8)]
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock) as q:
        first, tasks = await _held_then(q, clock, resources)
        events = []
        for task in tasks:  # each one, the moment it returns: its transaction committed
            event = await task
            assert event.id in committed
            events.append(event)
        assert q.group_commits == GroupCommits(transactions=2, events=9, largest=8)
    # in the order the calls were made, numbered consecutively after the first
    assert [e.resource for e in events] == resources
    assert [e.seq for e in events] == list(range(first.seq + 1, first.seq + 9))
    assert _stored(path) == [(e.seq, e.id, e.resource) for e in [first, *events]]


async def test_one_by_one_when_group_commit_is_off(path: Path, clock: HeldClock) -> None:
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock, max_group=1) as q:
        _, tasks = await _held_then(q, clock, [f"room:r{i}" for i in range(4)])
        await asyncio.gather(*tasks)
        assert q.group_commits == GroupCommits(transactions=5, events=5, largest=1)


async def test_a_group_is_at_most_max_group_events(path: Path, clock: HeldClock) -> None:
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock, max_group=3) as q:
        _, tasks = await _held_then(q, clock, [f"room:r{i}" for i in range(8)])
        seqs = [event.seq for event in await asyncio.gather(*tasks)]
        assert q.group_commits == GroupCommits(transactions=4, events=9, largest=3)
    assert seqs == list(range(2, 10))


async def test_a_disk_error_mid_group_fails_exactly_its_callers_and_stores_none_of_them(
    path: Path, clock: HeldClock
) -> None:
    # Events small enough fit in the file's last page; a large one needs new pages.
    # With the file capped at its current size, the group fails at its third insert.
    payloads: list[Any] = [{"n": 0}, {"n": 1}, {"photo": "x" * 20_000}]
    payloads += [{"n": i} for i in range(3, 7)]
    # 7 events, 2 per epoch: the group ends in an epoch of its own, half used
    resources = [f"room:r{i}" for i in range(7)]
    opened = AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock, epoch_max_events=2)
    async with opened as q:
        before = await q.enqueue("issue.report", "room:before", {"n": -2})

        def cap(queue: SealedQueue, pages: int | None) -> None:
            assert queue._store is not None
            conn = queue._store.conn
            size = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages or size}")

        await q._run(lambda queue: cap(queue, None))
        first, tasks = await _held_then(q, clock, resources, payloads)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, QueueStorageError) for o in outcomes), outcomes
        assert all("the disk is full" in str(o) for o in outcomes)
        # the group was not the only transaction: the first event, alone, went in
        assert first.seq == before.seq + 1
        await q._run(lambda queue: cap(queue, 1_000_000))
        after = await q.enqueue("issue.report", "room:after", {"n": 9})
        assert after.seq == first.seq + 1  # no seq of the failed group was ever stored
        assert q.group_commits == GroupCommits(transactions=3, events=3, largest=1)
        batch = await q.take_batch()
    stored = _stored(path)
    assert [row[2] for row in stored] == ["room:before", "room:first", "room:after"]
    assert [row[0] for row in stored] == [before.seq, first.seq, after.seq]
    # epochs stayed right: the failed group rotated epochs in memory only, and every
    # event stored still opens at central
    assert [central_open(batch, e, CENTRAL)["n"] for e in batch.events] == [-2, -1, 9]


async def test_an_invalid_event_fails_only_its_own_caller(path: Path, clock: HeldClock) -> None:
    payloads: list[Any] = [{"n": 0}, {"tags": {"a", "b"}}, {"n": 2}, {"n": 3}]
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock) as q:
        first, tasks = await _held_then(q, clock, [f"room:r{i}" for i in range(4)], payloads)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(outcomes[1], PayloadError)
        good = [o for o in outcomes if isinstance(o, SealedEvent)]
        assert [e.seq for e in good] == [first.seq + 1, first.seq + 2, first.seq + 3]
        assert q.group_commits == GroupCommits(transactions=2, events=4, largest=3)
    assert [row[2] for row in _stored(path)] == ["room:first", "room:r0", "room:r2", "room:r3"]


async def test_other_calls_keep_their_place_between_enqueues(path: Path, clock: HeldClock) -> None:
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock) as q:
        clock.hold()
        first = asyncio.ensure_future(q.enqueue("issue.report", "room:first", {}))
        await clock.blocked()
        before = asyncio.ensure_future(q.enqueue("issue.report", "room:before", {}))
        batch = asyncio.ensure_future(q.take_batch())
        after = asyncio.ensure_future(q.enqueue("issue.report", "room:after", {}))
        await asyncio.sleep(0)
        clock.release()
        await asyncio.gather(first, before, after)
        taken = await batch
        assert [e.resource for e in taken.events] == ["room:first", "room:before"]
        assert [row.resource for row in await q.rows("pending")] == ["room:after"]


async def test_a_cancelled_caller_s_event_is_stored_once(path: Path, clock: HeldClock) -> None:
    async with AsyncSealedQueue(path, CENTRAL.public_key(), clock=clock) as q:

        def enqueue_all(prefix: str) -> list[asyncio.Task[SealedEvent]]:
            return [
                asyncio.ensure_future(q.enqueue("issue.report", f"room:{prefix}{i}", {"n": i}))
                for i in range(4)
            ]

        # cancelled while its group waits for the worker
        clock.hold()
        first = asyncio.ensure_future(q.enqueue("issue.report", "room:first", {}))
        await clock.blocked()
        waiting = enqueue_all("w")
        await asyncio.sleep(0)
        waiting[1].cancel()
        clock.release()
        await first
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert isinstance(outcomes[1], asyncio.CancelledError)
        # cancelled while its group's transaction is under way
        clock.hold()
        sealing = enqueue_all("t")
        await clock.blocked()  # the worker is sealing this group
        sealing[2].cancel()
        await asyncio.sleep(0)
        clock.release()
        outcomes = await asyncio.gather(*sealing, return_exceptions=True)
        assert isinstance(outcomes[2], asyncio.CancelledError)
        later = await q.enqueue("issue.report", "room:later", {})
        assert q.group_commits == GroupCommits(transactions=4, events=10, largest=4)
    stored = _stored(path)
    resources = [row[2] for row in stored]
    assert resources.count("room:w1") == 1 and resources.count("room:t2") == 1
    assert len(resources) == len(set(resources)) == 10
    assert [row[0] for row in stored] == list(range(1, 11))
    assert stored[-1][1] == later.id


def test_enqueue_many_numbers_the_good_events_and_reports_the_bad(path: Path) -> None:
    with SealedQueue(path, CENTRAL.public_key()) as q:
        assert q.enqueue_many([]) == []
        outcomes = q.enqueue_many(
            [
                NewEvent("issue.report", "room:a", {"n": 1}),
                NewEvent("Bad Type", "room:a", {}),
                NewEvent("issue.report", "room:b", {"n": float("nan")}),
                NewEvent("issue.report", "room:c", {"n": 3}, starts_at=START, ends_at=START),
            ]
        )
        assert [type(o).__name__ for o in outcomes] == [
            "SealedEvent",
            "InvalidEventError",
            "PayloadError",
            "SealedEvent",
        ]
        assert [o.seq for o in outcomes if isinstance(o, SealedEvent)] == [1, 2]
        assert q.enqueue("issue.report", "room:d", {}).seq == 3
        batch = q.take_batch()
    assert [central_open(batch, e, CENTRAL).get("n") for e in batch.events] == [1, 3, None]


# A real process killed at random moments ------------------------------------------------

# Eight producers enqueue forever through the asyncio queue; each prints an event only
# once its enqueue() returned. Every 25 acknowledgements: the group-commit tally.
CHILD = """
import asyncio, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sync.queue import AsyncSealedQueue

async def main():
    key = X25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[2]))
    queue = AsyncSealedQueue(Path(sys.argv[1]), key, epoch_max_events=40)
    await queue.open()
    print("open", flush=True)
    acks = 0

    async def produce(k):
        nonlocal acks
        n = 0
        while True:
            event = await queue.enqueue("visitor.sign_in", f"lobby:p{k}", {"n": n})
            print("ack", event.id, event.seq, flush=True)
            n += 1
            acks += 1
            if acks % 25 == 0:
                commits = queue.group_commits
                print("groups", commits.transactions, commits.events, flush=True)

    await asyncio.gather(*(produce(k) for k in range(8)))

asyncio.run(main())
"""


def _run_child(path: Path, key_hex: str, seconds: float) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), key_hex],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if raw.endswith(b"\n"):  # a line cut by the kill was never acknowledged
                lines.append(raw.decode().strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while "open" not in lines:
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail(f"child died: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "the child did not open the queue in time"
        time.sleep(0.005)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    reader.join(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    return lines


@pytest.mark.slow
def test_kill_9_during_group_commits_loses_nothing_acknowledged(path: Path) -> None:
    rng = random.Random(os.environ.get("TAPIN_CRASH_SEED"))
    key_hex = CENTRAL.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    acknowledged: dict[str, int] = {}
    grouped = 0
    rounds = 6
    for _ in range(rounds):
        for line in _run_child(path, key_hex, rng.uniform(0.05, 0.4)):
            word, *rest = line.split()
            if word == "ack":
                assert rest[0] not in acknowledged, "an event was acknowledged twice"
                acknowledged[rest[0]] = int(rest[1])
            elif word == "groups":
                transactions, events = map(int, rest)
                grouped = max(grouped, events - transactions)
    assert len(acknowledged) > 200, "the child barely ran; the test proves little"
    assert grouped > 0, "no transaction ever held more than one event"
    stored = {event_id: seq for seq, event_id, _ in _stored(path)}
    lost = {i: s for i, s in acknowledged.items() if stored.get(i) != s}
    assert lost == {}, f"{len(lost)} acknowledged event(s) lost"
    seqs = sorted(stored.values())
    assert seqs == sorted(set(seqs))
    # a kill interrupts at most one group: at most 8 stored events were never acknowledged
    assert len(stored) - len(acknowledged) <= 8 * rounds
    opened = 0
    with SealedQueue(path, CENTRAL.public_key()) as queue:  # and all of it opens at central
        while batch := queue.take_batch(2000):
            assert all("n" in central_open(batch, event, CENTRAL) for event in batch.events)
            opened += len(batch)
    assert opened == len(stored)


# The fsyncs themselves, counted by strace ------------------------------------------------

# One event, then 20 one by one, then 8 in one enqueue_many, then a first event holding
# the asyncio queue's worker while 8 more arrive: a marker write between the phases.
FSYNC_CHILD = """
import asyncio, os, sys, threading
from datetime import UTC, datetime
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sync.queue import AsyncSealedQueue, NewEvent, SealedQueue

key = X25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[2]))
mark = lambda name: os.write(2, f"MARK {name}".encode())
with SealedQueue(Path(sys.argv[1]) / "sync.db", key) as queue:
    queue.enqueue("issue.report", "room:a", {"n": 0})
    mark("one-by-one")
    for n in range(20):
        queue.enqueue("issue.report", "room:a", {"n": n})
    mark("enqueue_many")
    queue.enqueue_many([NewEvent("issue.report", "room:b", {"n": n}) for n in range(8)])
    mark("done")

go = threading.Event()
def clock():
    go.wait(10)
    return datetime.now(UTC)

async def main():
    async with AsyncSealedQueue(Path(sys.argv[1]) / "async.db", key, clock=clock) as queue:
        go.set()
        await queue.enqueue("issue.report", "room:c", {"n": -1})
        go.clear()
        mark("group")
        first = asyncio.ensure_future(queue.enqueue("issue.report", "room:c", {"n": 0}))
        await asyncio.sleep(0.05)  # the worker waits in the clock
        group = [queue.enqueue("issue.report", f"room:c{n}", {"n": n}) for n in range(8)]
        tasks = [asyncio.ensure_future(call) for call in group]
        await asyncio.sleep(0)
        go.set()
        await asyncio.gather(first, *tasks)
        mark("done")

asyncio.run(main())
"""


def wal_syncs(child: str, tmp_path: Path) -> dict[str, list[str]]:
    """Run ``child`` under strace; the fsyncs of a WAL file in each of its marked phases."""
    key_hex = CENTRAL.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    trace = tmp_path / "trace"
    strace = ["strace", "-f", "-y", "-e", "trace=fsync,fdatasync,write", "-o", str(trace)]
    done = subprocess.run(
        [*strace, sys.executable, "-c", child, str(tmp_path), key_hex],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0 and b"ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.decode()[-200:]}")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    phases: dict[str, list[str]] = {}
    phase = ""
    for line in trace.read_text().splitlines():
        if "MARK " in line:
            phase = line.split("MARK ", 1)[1].split('"')[0]
        elif "sync(" in line and "-wal>" in line:
            phases.setdefault(phase, []).append(line)
    return phases


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_one_fsync_per_event_one_by_one_and_one_per_group(tmp_path: Path) -> None:
    phases = wal_syncs(FSYNC_CHILD, tmp_path)
    # every event waits for its own fsync of the WAL ...
    assert len(phases["one-by-one"]) == 20, phases.get("one-by-one")
    # ... and a group shares one: the 8 of enqueue_many, and the asyncio queue's first
    # event (alone) then the 8 that arrived while it was being written
    assert len(phases["enqueue_many"]) == 1, phases.get("enqueue_many")
    assert len(phases["group"]) == 2, phases.get("group")


TAKE_CHILD = """
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sync.queue import SealedQueue

key = X25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[2]))
mark = lambda name: os.write(2, f"MARK {name}".encode())
with SealedQueue(Path(sys.argv[1]) / "sync.db", key) as queue:
    for n in range(5):
        queue.enqueue("issue.report", "room:a", {"n": n})
    mark("take")
    batch = queue.take_batch(10)
    mark("after")
    queue.enqueue("issue.report", "room:a", {"n": 99})
    mark("done")
with SealedQueue(Path(sys.argv[1]) / "sync.db", key) as queue:
    assert queue.counts().pending == 6, queue.counts()  # in flight back to pending on open
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_taking_a_batch_does_not_wait_for_the_disk_but_the_next_event_does(
    tmp_path: Path,
) -> None:
    """Marking a batch in flight is redone on open, so it commits without an fsync;
    the event enqueued next still waits for its own (and so makes the mark durable)."""
    phases = wal_syncs(TAKE_CHILD, tmp_path)
    assert phases.get("take", []) == []
    assert len(phases["after"]) == 1, phases.get("after")

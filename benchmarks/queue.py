"""The sealed queue against raw SQLite doing the same durable work, and group commit
against one by one.

Each round opens five subjects on fresh files in one temporary directory (so the same
filesystem) and lets them take turns, ``--turn`` seconds each (40 ms), ``--turns`` times
(8), in a rotating order: a disk that slows down for a moment slows all of them alike,
and every subject starts (cold) as often as the others. Each subject's rate is events
done over time spent; the figures are medians over ``--rounds`` rounds (7, about 15 s
in all, whatever the disk: the time, not the count, is fixed).

``raw``
    Plain ``sqlite3`` doing the same durable work: rows of a sealed event's size
    (clear fields + nonce + ciphertext of the same payload, sealed before the clock
    starts) inserted into a table of the queue's own schema, each INSERT its own
    transaction (autocommit: SQLite commits and fsyncs the WAL before ``execute``
    returns), in WAL mode with ``synchronous=FULL`` — the pragmas that make a row
    durable — and SQLite's defaults otherwise.
``raw-tuned``
    The same with every pragma the queue sets, read back from a queue file
    (``locking_mode=EXCLUSIVE``, the WAL checkpoint size, …): nothing but SQLite's own
    cost per durable row, the strictest baseline.
``sealed``
    ``SealedQueue.enqueue``: check, UUIDv7, seal (AES-GCM under an HPKE-sealed epoch
    key, bound to the device), one fsync'd transaction per event.
``one-by-one``
    ``AsyncSealedQueue.enqueue`` from 8 asyncio tasks at once (``--producers``), each
    awaiting its events in turn, with group commit off (``max_group=1``): one
    transaction per event, queued back to back on the worker.
``group``
    The same 8 producers with group commit: one transaction for all the events that
    arrived while the previous one was committing.

Targets: sealed >= 0.95x raw; group >= 4x one-by-one. ::

    .venv/bin/python -m benchmarks.queue                  # in $TMPDIR
    .venv/bin/python -m benchmarks.queue --rounds 9 --turn 0.1 --dir /var/lib/tapin

The last line is ``queue: sealed X.XX× raw SQLite (target >= 0.95; X.XX× raw-tuned);
group commit Y.Y× one-by-one with 8 producers (target >= 4)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import MAX_GROUP, AsyncSealedQueue, SealedQueue
from sync.wire import EpochKey, new_event_id, seal_payload

CENTRAL = X25519PrivateKey.generate().public_key()
DEVICE = "d-5f2c0a9e"
TYPE, RESOURCE = "visitor.sign_in", "lobby:main"
DURABLE = ("journal_mode", "synchronous")  # what makes a committed row survive a power cut
PRAGMAS = (  # in the order they must be set: page size and locking before WAL
    "page_size",
    "locking_mode",
    "journal_mode",
    "synchronous",
    "wal_autocheckpoint",
    "journal_size_limit",
    "secure_delete",
)
SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
INSERT = (
    "INSERT INTO events (seq, id, type, resource, starts_at, ends_at, created_at,"
    " created_ms, epoch, nonce, ciphertext, ad) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TARGET_RAW, TARGET_GROUP = 0.95, 4.0
NAMES = ("raw", "raw-tuned", "sealed", "one-by-one", "group")
STEP = 64  # events between two looks at the clock (per producer: STEP / producers)


def _payload(i: int) -> dict[str, Any]:
    """A visitor sign-in, the typical kiosk event (names and emails are made up)."""
    return {
        "visitor": {"name": f"Visitor {i}", "company": "Example AB", "email": f"v{i}@example.org"},
        "host_id": "p-0042",
        "terms_version": 3,
    }


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The same for every run: no garbage-collector pauses inside the timed loop."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def queue_settings(directory: Path) -> tuple[str, dict[str, Any]]:
    """The queue's ``events`` DDL and its pragmas, read back from a real queue file."""
    with SealedQueue(directory / "queue.db", CENTRAL, device_id=DEVICE) as queue:
        assert queue._store is not None
        conn = queue._store.conn
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        pragmas = {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}
    return ddl, pragmas


def raw_rows(n: int) -> list[tuple[Any, ...]]:
    """``n`` rows exactly like the queue's: sealed events of the benchmark's payloads."""
    epoch = EpochKey.generate(CENTRAL)
    rows = []
    for i in range(n):
        created = datetime.now(UTC)
        event = seal_payload(
            epoch,
            event_id=new_event_id(created),
            seq=i + 1,
            type=TYPE,
            resource=RESOURCE,
            payload=_payload(i),
            created_at=created,
            device_id=DEVICE,
        )
        rows.append(
            (
                *(event.seq, event.id, event.type, event.resource, None, None),
                *(event.created_at, int(created.timestamp() * 1000), event.epoch),
                *(event.nonce, event.ciphertext, event.ad),
            )
        )
    return rows


class Raw:
    """Plain sqlite3: one autocommit INSERT (one fsync'd transaction) per row."""

    def __init__(self, path: Path, setup: tuple[str, dict[str, Any]], names: tuple[str, ...]):
        ddl, pragmas = setup
        self.conn = sqlite3.connect(path, isolation_level=None)
        for name in names:
            self.conn.execute(f"PRAGMA {name} = {pragmas[name]}")
        self.conn.execute(ddl)
        for name in DURABLE:  # the durability in force is the queue's
            assert self.conn.execute(f"PRAGMA {name}").fetchone()[0] == pragmas[name], name
        self.cursor = self.conn.cursor()
        self.done = 0

    def turn(self, rows: list[tuple[Any, ...]], seconds: float) -> int:
        execute, at = self.cursor.execute, self.done
        end = time.perf_counter() + seconds
        while at + STEP <= len(rows):
            for row in rows[at : at + STEP]:
                execute(INSERT, row)
            at += STEP
            if time.perf_counter() > end:
                break
        count, self.done = at - self.done, at
        return count

    def close(self) -> None:
        self.conn.close()


class Sealed:
    """``SealedQueue.enqueue``, one event per transaction."""

    def __init__(self, path: Path) -> None:
        self.queue = SealedQueue(path, CENTRAL, device_id=DEVICE)

    def turn(self, payloads: list[dict[str, Any]], seconds: float) -> int:
        enqueue, count = self.queue.enqueue, 0
        end = time.perf_counter() + seconds
        while True:
            for payload in payloads[:STEP]:
                enqueue(TYPE, RESOURCE, payload)
            count += STEP
            if time.perf_counter() > end:
                return count

    def close(self) -> None:
        self.queue.close()


class Producers:
    """``producers`` asyncio tasks enqueueing at once on one ``AsyncSealedQueue``, each
    awaiting its own events in turn."""

    def __init__(
        self, path: Path, loop: asyncio.AbstractEventLoop, producers: int, max_group: int
    ) -> None:
        self.loop, self.producers = loop, producers
        self.queue = AsyncSealedQueue(path, CENTRAL, device_id=DEVICE, max_group=max_group)
        loop.run_until_complete(self.queue.open())

    async def _turn(self, payloads: list[dict[str, Any]], seconds: float) -> int:
        end = time.perf_counter() + seconds
        enqueue = self.queue.enqueue

        async def produce(mine: list[dict[str, Any]]) -> int:
            count = 0
            while time.perf_counter() < end:
                for payload in mine:
                    await enqueue(TYPE, RESOURCE, payload)
                count += len(mine)
            return count

        n = self.producers
        return sum(await asyncio.gather(*(produce(payloads[k:STEP:n]) for k in range(n))))

    def turn(self, payloads: list[dict[str, Any]], seconds: float) -> int:
        return self.loop.run_until_complete(self._turn(payloads, seconds))

    def events_per_commit(self) -> float:
        commits = self.queue.group_commits
        return commits.events / max(commits.transactions, 1)

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.close())


Subject = Raw | Sealed | Producers


def one_round(
    directory: Path,
    subjects: dict[str, Callable[[Path], Subject]],
    items: dict[str, list[Any]],
    turns: int,
    seconds: float,
    first: int,
) -> tuple[dict[str, float], float]:
    """Every subject on a fresh file, taking ``turns`` turns of ``seconds`` each in a
    rotating order (so a disk that slows down slows all of them alike, and each one
    starts its turns as often as the others). Returns each one's rate and the group
    run's events per commit."""
    opened = {name: make(directory / f"{name}.db") for name, make in subjects.items()}
    spent = dict.fromkeys(opened, 0.0)
    done = dict.fromkeys(opened, 0)
    names = list(opened)
    try:
        with _no_gc():
            for turn in range(turns):
                k = (first + turn) % len(names)
                for name in names[k:] + names[:k]:
                    began = time.perf_counter()
                    done[name] += opened[name].turn(items[name], seconds)
                    spent[name] += time.perf_counter() - began
        group = opened["group"]
        per_commit = group.events_per_commit() if isinstance(group, Producers) else 1.0
    finally:
        for subject in opened.values():
            subject.close()
    return {name: done[name] / spent[name] for name in names}, per_commit


def describe(pragmas: dict[str, Any]) -> str:
    shown = {**pragmas, "synchronous": SYNC_NAMES.get(pragmas["synchronous"], "?")}
    return " ".join(f"{name}={value}" for name, value in shown.items())


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--turns", type=int, default=8, help="turns per round (8)")
    parser.add_argument("--turn", type=float, default=0.04, help="seconds per turn (0.04)")
    parser.add_argument("--producers", type=int, default=8, help="concurrent producers (8)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp dirs")
    args = parser.parse_args(argv)
    producers = args.producers
    rates: dict[str, list[float]] = {name: [] for name in NAMES}
    per_commit: list[float] = []
    began = time.monotonic()
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="tapin-bench-", dir=args.dir) as tmp:
        setup = queue_settings(Path(tmp))
        # enough rows for the raw runs' turns even on a fast disk (50,000 rows/s)
        rows = raw_rows(max(STEP, int(50_000 * args.turn * args.turns)) // STEP * STEP)
        payloads = [_payload(i) for i in range(STEP)]
        items: dict[str, list[Any]] = {"raw": rows, "raw-tuned": rows, "sealed": payloads}
        items |= {"one-by-one": payloads, "group": payloads}
        subjects: dict[str, Callable[[Path], Subject]] = {
            "raw": lambda path: Raw(path, setup, DURABLE),
            "raw-tuned": lambda path: Raw(path, setup, PRAGMAS),
            "sealed": Sealed,
            "one-by-one": lambda path: Producers(path, loop, producers, 1),
            "group": lambda path: Producers(path, loop, producers, MAX_GROUP),
        }
        print(
            f"queue benchmark: {args.rounds} rounds of {args.turns} turns of "
            f"{args.turn * 1000:.0f} ms per subject, in {tmp}"
        )
        print(f"  the queue's pragmas (raw-tuned too): {describe(setup[1])}")
        print(f"  raw: {describe({name: setup[1][name] for name in DURABLE})}, defaults otherwise")
        for round_no in range(args.rounds):
            directory = Path(tmp) / f"round-{round_no}"
            directory.mkdir()
            got, grouped = one_round(directory, subjects, items, args.turns, args.turn, round_no)
            per_commit.append(grouped)
            for name, rate in got.items():
                rates[name].append(rate)
            print(
                f"  round {round_no + 1}: "
                + ", ".join(f"{name} {rate:.0f}" for name, rate in got.items())
                + " events/s"
            )
    loop.close()
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"raw sqlite3, one fsync'd INSERT per row:         {median['raw']:8.0f} rows/s")
    print(f"raw sqlite3 with the queue's pragmas:            {median['raw-tuned']:8.0f} rows/s")
    print(f"SealedQueue.enqueue, sealed, one fsync each:     {median['sealed']:8.0f} events/s")
    print(
        f"AsyncSealedQueue, {producers} producers, one by one:      "
        f"{median['one-by-one']:8.0f} events/s"
    )
    print(
        f"AsyncSealedQueue, {producers} producers, group commit:    {median['group']:8.0f} "
        f"events/s ({statistics.median(per_commit):.1f} events per fsync)"
    )
    raw_ratio = median["sealed"] / median["raw"]
    tuned_ratio = median["sealed"] / median["raw-tuned"]
    group_ratio = median["group"] / median["one-by-one"]
    print(f"  ({time.monotonic() - began:.0f} s)")
    print(
        f"queue: sealed {raw_ratio:.2f}× raw SQLite (target >= {TARGET_RAW}; "
        f"{tuned_ratio:.2f}× raw-tuned); group commit "
        f"{group_ratio:.1f}× one-by-one with {producers} producers (target >= {TARGET_GROUP:.0f})"
    )
    return raw_ratio, group_ratio


if __name__ == "__main__":
    main()

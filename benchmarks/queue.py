"""Sealed, durable enqueue against persist-queue's ``SQLiteAckQueue.put``, same run.

Target (DESIGN.md): ``SealedQueue.enqueue`` (HPKE epoch key, AES-GCM per event, WAL,
``synchronous=FULL``, one fsync'd transaction per event) at least as fast as
``persistqueue.SQLiteAckQueue(path, auto_commit=True, multithreading=False).put``
(unencrypted; its defaults are WAL and ``synchronous=FULL`` too, one commit per put).

Both run in fresh directories under the same temporary directory (so the same
filesystem), alternately, for several rounds; the median rate of each is compared::

    .venv/bin/python -m benchmarks.queue                 # N=2000, 7 rounds, in $TMPDIR
    .venv/bin/python -m benchmarks.queue --n 5000 --rounds 7 --dir /var/lib/tapin

The last line is ``sealed enqueue / persist-queue put: X.XX (target >= 1.0)``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import persistqueue
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.queue import SealedQueue

SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _payload(i: int) -> dict[str, Any]:
    """A visitor sign-in, the typical kiosk event (names and emails are made up)."""
    return {
        "visitor": {"name": f"Visitor {i}", "company": "Example AB", "email": f"v{i}@example.org"},
        "host_id": "p-0042",
        "terms_version": 3,
    }


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The same for both: no garbage-collector pauses inside the timed loop."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _durability(conn: sqlite3.Connection) -> str:
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = SYNC_NAMES.get(conn.execute("PRAGMA synchronous").fetchone()[0], "?")
    return f"journal_mode={mode} synchronous={sync}"


def bench_persist_queue(directory: Path, n: int) -> tuple[float, str]:
    queue = persistqueue.SQLiteAckQueue(str(directory), auto_commit=True, multithreading=False)
    settings = _durability(cast(sqlite3.Connection, queue._putter))  # put()'s connection
    items = [
        {"type": "visitor.sign_in", "resource": "lobby:main", "payload": _payload(i)}
        for i in range(n)
    ]
    try:
        with _no_gc():
            start = time.perf_counter()
            for item in items:
                queue.put(item)
            elapsed = time.perf_counter() - start
    finally:
        queue.close()
    return n / elapsed, settings


def bench_sealed_queue(directory: Path, n: int) -> tuple[float, str]:
    central = X25519PrivateKey.generate().public_key()
    queue = SealedQueue(directory / "queue.db", central)
    assert queue._store is not None
    settings = _durability(queue._store.conn)  # the settings in use, read back
    payloads = [_payload(i) for i in range(n)]
    try:
        with _no_gc():
            start = time.perf_counter()
            for payload in payloads:
                queue.enqueue("visitor.sign_in", "lobby:main", payload)
            elapsed = time.perf_counter() - start
    finally:
        queue.close()
    return n / elapsed, settings


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="events per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp dirs")
    args = parser.parse_args(argv)

    runs: dict[str, list[float]] = {"persist-queue": [], "sealed": []}
    settings: dict[str, str] = {}
    benches: dict[str, Callable[[Path, int], tuple[float, str]]] = {
        "persist-queue": bench_persist_queue,
        "sealed": bench_sealed_queue,
    }
    with tempfile.TemporaryDirectory(prefix="tapin-bench-", dir=args.dir) as tmp:
        print(f"queue benchmark: N={args.n}, {args.rounds} rounds, in {tmp}")
        for round_no in range(args.rounds):
            order = list(benches) if round_no % 2 == 0 else list(reversed(benches))
            for name in order:
                directory = Path(tmp) / f"{name}-{round_no}"
                directory.mkdir()
                rate, settings[name] = benches[name](directory, args.n)
                runs[name].append(rate)
                print(f"  round {round_no + 1}: {name:13s} {rate:8.0f} events/s")
    pq, sealed = (statistics.median(runs[name]) for name in ("persist-queue", "sealed"))
    print(f"persist-queue SQLiteAckQueue.put ({settings['persist-queue']}): {pq:.0f} events/s")
    print(f"SealedQueue.enqueue, sealed + fsync'd ({settings['sealed']}): {sealed:.0f} events/s")
    ratio = sealed / pq
    print(f"sealed enqueue / persist-queue put: {ratio:.2f} (target >= 1.0)")
    return ratio


if __name__ == "__main__":
    main()

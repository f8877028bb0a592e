"""Drain: 10,000 queued events to the reference central on PostgreSQL, each applied once.

Target (DESIGN.md): at least 3,000 events/s on this class of machine.

What runs is the real thing end to end: a throwaway database on the local PostgreSQL
cluster, a :class:`central.local.LocalCentral` (``tapin central serve`` in its own
process, over TLS), one room panel enrolled with ``tapin enroll``, its real sealed
queue file, and :meth:`sync.agent.SyncAgent.drain` with the real
:class:`sync.client.CentralClient` (httpx, TLS verified against the test CA) in batches
of 500.

Not timed: setting all that up and sealing the events into the queue (the mix a panel
sends: presence samples, issue reports and some bookings at distinct, non-overlapping
future slots). Timed: ``drain`` until nothing is waiting in the queue. Afterwards the
ledger must hold exactly N ``applied`` rows for the device and each effect table the
number of events of its type.

Then, in the same round, the baseline (:mod:`benchmarks.drain_raw`): the very rows
central wrote (ledger and effect rows) are read back and inserted straight into a fresh
database with the same schema, one transaction per drain batch, with ``COPY`` and then
with ``executemany``. The round's ratio compares the drain's events/s with the faster of
the two. A round is a new panel with its own queue; the rounds (3 unless told) run one
after the other against the same central, and the median round is reported: on a shared
2-core machine one round's drain or baseline alone can lose a fifth of its speed to a
neighbour::

    .venv/bin/python -m benchmarks.drain              # N=10000, batches of 500, 3 rounds
    .venv/bin/python -m benchmarks.drain --n 20000 --batch 1000 --rounds 5

Exit status 2 when PostgreSQL is not reachable, 1 when a check fails. The last line is
``drain: N events/s (target >= 3000); raw copy R rows/s = E events/s; drain/raw X
(median of 3; target >= 0.5)``, the events/s the median over the rounds and the raw
figures those of the median round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import drain_raw
from central.local import SERVER_DSN, LocalCentral, server_reachable, throwaway_database
from sync.agent import SyncAgent
from sync.client import CentralClient
from sync.events import EventType
from sync.identity import DeviceIdentity, load_identity
from sync.queue import AsyncSealedQueue, QueueCounts, SealedQueue
from sync.wire import SealedEvent

__all__ = ["main"]

TARGET = 3000.0
RATIO_TARGET = 0.5
ROOM = "aurora"
RESOURCE = f"room:{ROOM}"
QUEUE_FILE = "queue.db"
FIRST_SLOT = (datetime.now(UTC) + timedelta(days=30)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
"""Bookings start a month ahead, inside the window central takes, far from any meeting."""
SLOT = timedelta(minutes=30)
SAMPLE = timedelta(minutes=5)
BANDS = ("0", "1-2", "3-5", "6-9", "10+")
CATEGORIES = ("display", "video", "audio", "climate", "furniture", "cleaning", "other")
TEXTS = (
    "The screen flickers when the projector is on",
    "No sound from the ceiling speakers",
    "Too warm in the afternoon",
    "One chair is missing",
    "HDMI cable is damaged",
)
# event type -> the table its effect lands in
EFFECTS = {
    EventType.PRESENCE_SAMPLE.value: "presence_samples",
    EventType.ISSUE_REPORT.value: "issue_reports",
    EventType.BOOKING_CREATE.value: "bookings",
}


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    uploads: int
    upload_seconds: float
    """Of ``seconds``, how long the device waited on ``upload`` (encoding, TLS, central)."""
    counts: QueueCounts
    outcomes: Counter[str]
    last_error: str | None


def fill(
    state_dir: Path, identity: DeviceIdentity, n: int, *, first_slot: datetime = FIRST_SLOT
) -> Counter[str]:
    """Seal ``n`` events into the device's queue, the mix a panel sends; by type.
    Bookings take consecutive slots from ``first_slot``."""
    kinds: Counter[str] = Counter()
    samples_from = datetime.now(UTC).replace(second=0, microsecond=0) - SAMPLE * n
    with SealedQueue(
        state_dir / QUEUE_FILE, identity.sealing_key(), device_id=identity.device_id
    ) as queue:
        for i in range(n):
            if i % 20 == 0:  # a booking made at the panel, every slot its own
                start = first_slot + SLOT * (i // 20)
                queue.enqueue(
                    EventType.BOOKING_CREATE.value,
                    RESOURCE,
                    {"booking_id": str(uuid.uuid4()), "booked_by": None, "subject": ""},
                    starts_at=start,
                    ends_at=start + SLOT,
                )
                kinds[EventType.BOOKING_CREATE.value] += 1
            elif i % 2:  # occupancy over the last five minutes (counts, never who)
                start = samples_from + SAMPLE * i
                queue.enqueue(
                    EventType.PRESENCE_SAMPLE.value,
                    RESOURCE,
                    {"occupied_minutes": i % 6, "count_band": BANDS[i % len(BANDS)]},
                    starts_at=start,
                    ends_at=start + SAMPLE,
                )
                kinds[EventType.PRESENCE_SAMPLE.value] += 1
            else:
                queue.enqueue(
                    EventType.ISSUE_REPORT.value,
                    RESOURCE,
                    {
                        "report_id": str(uuid.uuid4()),
                        "category": CATEGORIES[i % len(CATEGORIES)],
                        "text": TEXTS[i % len(TEXTS)],
                    },
                )
                kinds[EventType.ISSUE_REPORT.value] += 1
        waiting = queue.counts().waiting
    if waiting != n:
        raise SystemExit(f"the queue holds {waiting} events, not {n}")
    return kinds


class CountingClient(CentralClient):
    """The real client, counting uploads and central's outcomes (nothing else)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploads = 0
        self.upload_seconds = 0.0
        self.outcomes: Counter[str] = Counter()

    async def upload(
        self, epochs: Mapping[str, bytes], events: Sequence[SealedEvent]
    ) -> list[dict[str, Any]]:
        self.uploads += 1
        started = time.perf_counter()
        results = await super().upload(epochs, events)
        self.upload_seconds += time.perf_counter() - started
        self.outcomes.update(result["outcome"] for result in results)
        return results


async def drain(state_dir: Path, identity: DeviceIdentity, batch: int) -> Timed:
    """Open the queue and the client (not timed), then time ``drain`` to empty."""
    queue = AsyncSealedQueue(
        state_dir / QUEUE_FILE, identity.sealing_key(), device_id=identity.device_id
    )
    await queue.open()
    client = CountingClient(identity.central_url, token=identity.token, ca_file=identity.ca_file)
    agent = SyncAgent(queue, client, state_dir, device_id=identity.device_id, batch_size=batch)
    try:
        start = time.perf_counter()
        await agent.drain(force=True)
        counts = await queue.counts()
        tries = 1
        while counts.waiting and tries < 5:  # a failed upload: go again, it is counted
            await agent.drain(force=True)
            counts = await queue.counts()
            tries += 1
        seconds = time.perf_counter() - start
    finally:
        await client.aclose()
        await queue.close()
    return Timed(
        seconds,
        client.uploads,
        client.upload_seconds,
        counts,
        client.outcomes,
        agent.status.last_error,
    )


def verify(dsn: str, device_id: str, kinds: Counter[str], n: int) -> list[str]:
    """What is wrong with central's tables after the drain (nothing, hopefully)."""
    problems: list[str] = []
    with psycopg.connect(dsn) as conn:

        def one(sql: str, *params: object) -> int:
            row = conn.execute(sql, params).fetchone()
            assert row is not None
            return int(row[0])

        ledger = one("SELECT count(*) FROM applied_events WHERE device_id = %s", device_id)
        applied = one(
            "SELECT count(*) FROM applied_events WHERE device_id = %s AND outcome = 'applied'",
            device_id,
        )
        if ledger != n or applied != n:
            problems.append(f"ledger: {ledger} rows, {applied} applied; expected {n} applied")
        for kind, table in EFFECTS.items():
            rows = one(f"SELECT count(*) FROM {table} WHERE device_id = %s", device_id)
            in_ledger = one(
                "SELECT count(*) FROM applied_events WHERE device_id = %s AND type = %s",
                device_id,
                kind,
            )
            if not rows == in_ledger == kinds[kind]:
                problems.append(
                    f"{kind}: {kinds[kind]} queued, {in_ledger} in the ledger, {rows} in {table}"
                )
    return problems


@dataclass(frozen=True, slots=True)
class Round:
    """One round: a fresh panel's queue drained, then its rows written raw."""

    timed: Timed
    rows: int
    transactions: int
    raw: dict[str, float]
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.timed.outcomes.total() / self.timed.seconds

    @property
    def raw_best(self) -> str:
        return min(self.raw, key=lambda method: self.raw[method])

    @property
    def ratio(self) -> float:
        return self.raw[self.raw_best] / self.timed.seconds


def one_round(central: LocalCentral, dsn: str, n: int, batch: int, number: int) -> Round:
    """Enroll a new panel, fill its queue (not timed), drain it (timed), check central's
    tables, then write the very rows central stored straight into fresh databases."""
    device = central.enroll(f"panel-{number + 1}", room=ROOM)
    identity = load_identity(device.state_dir)
    started = time.perf_counter()
    first_slot = FIRST_SLOT + SLOT * (n // 20 + 1) * number  # after the last round's
    kinds = fill(device.state_dir, identity, n, first_slot=first_slot)
    mix = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    took = time.perf_counter() - started
    print(f"  round {number + 1}: queued (not timed) {mix} in {took:.1f} s")
    timed = asyncio.run(drain(device.state_dir, identity, batch))
    problems = verify(dsn, identity.device_id, kinds, n)
    if timed.counts.waiting or timed.counts.rejected or timed.counts.quarantined:
        problems.append(f"the device's queue is not empty: {timed.counts}")
    if timed.outcomes != Counter(applied=n):
        problems.append(f"central answered {dict(timed.outcomes)}, not {n} applied")
    captured = drain_raw.capture(dsn, identity.device_id, batch)
    raw: dict[str, float] = {}
    for method in ("copy", "executemany"):
        with throwaway_database("tapin_bench_raw") as raw_dsn:
            drain_raw.prepare(raw_dsn, captured)
            raw[method] = drain_raw.load(raw_dsn, captured, method)
    return Round(timed, captured.rows, len(captured.batches), raw, problems)


def report(number: int, n: int, r: Round) -> None:
    timed = r.timed
    print(
        f"  round {number + 1}: drain {timed.seconds:.3f} s = {n / timed.seconds:.0f} events/s"
        f" ({timed.upload_seconds:.3f} s in upload: JSON, TLS, central; {timed.uploads} uploads)"
    )
    if timed.last_error:
        print(f"    last error: {timed.last_error}")
    for problem in r.problems:
        print(f"    CHECK FAILED: {problem}")
    if not r.problems:
        print(f"    checked: {n} applied exactly once; every effect table matches")
    raws = ", ".join(
        f"{method} {seconds:.3f} s = {r.rows / seconds:.0f} rows/s"
        for method, seconds in r.raw.items()
    )
    print(
        f"    raw: the same {r.rows} rows ({n} ledger + {r.rows - n} effect rows) in"
        f" {r.transactions} transactions: {raws}; drain/raw {r.ratio:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drain", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="events (default 10000)")
    parser.add_argument("--batch", type=int, default=500, help="events per upload (default 500)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="drain/raw pairs, median reported (default 3)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 9 or not 1 <= args.n <= 200_000:
        parser.error("--rounds must be 1 to 9 and --n 1 to 200000")

    reason = server_reachable()
    if reason is not None:
        print(
            f"drain benchmark: PostgreSQL is not reachable at {SERVER_DSN!r} ({reason}).\n"
            "Start the local cluster (.ci/run does) or point TAPIN_TEST_PG at a server.",
            file=sys.stderr,
        )
        return 2

    rounds: list[Round] = []
    with (
        throwaway_database("tapin_bench") as dsn,
        tempfile.TemporaryDirectory(prefix="tapin-bench-") as tmp,
    ):
        central = LocalCentral(dsn, Path(tmp) / "central").prepare().start()
        print(
            f"drain benchmark: N={args.n}, batch {args.batch}, {args.rounds} round(s),"
            f" central {central.url}"
        )
        try:
            for number in range(args.rounds):
                rounds.append(one_round(central, dsn, args.n, args.batch, number))
                report(number, args.n, rounds[-1])
        finally:
            central.stop()

    middle = sorted(rounds, key=lambda r: r.ratio)[len(rounds) // 2]
    rate = statistics.median(r.rate for r in rounds)
    best = middle.raw_best
    raw_rate = args.n / middle.raw[best]
    print(
        f"drain: {rate:.0f} events/s (target >= {TARGET:.0f}); raw {best}"
        f" {middle.rows / middle.raw[best]:.0f} rows/s = {raw_rate:.0f} events/s;"
        f" drain/raw {middle.ratio:.2f} (median of {len(rounds)}; target >= {RATIO_TARGET})"
    )
    return 1 if any(r.problems for r in rounds) else 0


if __name__ == "__main__":
    sys.exit(main())

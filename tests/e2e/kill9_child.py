"""The device half of ``tests/e2e/test_kill9.py``: enqueue and drain until killed.

::

    python -m tests.e2e.kill9_child STATE_DIR [--mode both|drain] [--batch 20] [--producers 8]

It opens the enrolled device's real sealed queue (``<state>/queue.db``, sealed to
central's key from the device identity) and its real client (TLS, bearer token). In
``both`` mode it then, concurrently and forever, enqueues ``issue.report`` events from
several producers at once (so that the queue group-commits them: one transaction for
the events that arrive while the previous one commits) and drains them to central with
:class:`sync.agent.SyncAgent` in small batches, so that a ``kill -9`` lands in a group
commit, an upload, or between central's answer and the settle. In ``drain`` mode it
only drains until nothing is waiting, then exits 0.

It reports on stdout, one flushed line per fact (a line cut by the kill has no newline
and is not a fact)::

    open <attempts>                         the queue is open (after that many tries)
    ack <event_id> <report_id>              enqueue() returned: the event is acknowledged
    groups <transactions> <events>          the queue's group commits so far (every 20 acks)
    up <n>                                  a batch of n events is about to be uploaded
    res <applied> <duplicate> <rejected>    central's answer to that batch
    fail <error class>                      an upload failed (e.g. central is down)
    drained <pending> <inflight> <rejected> <quarantined>    (drain mode) done
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sync.agent import SyncAgent
from sync.backoff import Backoff
from sync.client import CentralClient, CentralError
from sync.identity import load_identity
from sync.queue import AsyncSealedQueue, QueueLockedError
from sync.wire import SealedEvent

__all__ = ["main"]

QUEUE_FILE = "queue.db"
OPEN_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 60.0
RESOURCE = "room:aurora"


def emit(line: str) -> None:
    """One fact on stdout, flushed at once (the parent may kill us right after)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class ReportingClient(CentralClient):
    """The real client, saying on stdout when a batch leaves and what central said."""

    async def upload(
        self, epochs: Mapping[str, bytes], events: Sequence[SealedEvent]
    ) -> list[dict[str, Any]]:
        emit(f"up {len(events)}")
        try:
            results = await super().upload(epochs, events)
        except CentralError as exc:
            emit(f"fail {type(exc).__name__}")
            raise
        tally = dict.fromkeys(("applied", "duplicate", "rejected"), 0)
        for result in results:
            tally[result["outcome"]] += 1
        emit(f"res {tally['applied']} {tally['duplicate']} {tally['rejected']}")
        return results


async def open_queue(state_dir: Path) -> AsyncSealedQueue:
    """The device's queue; retried briefly while a killed predecessor's lock lingers."""
    identity = load_identity(state_dir)
    key = identity.sealing_key()
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    attempts = 0
    while True:
        attempts += 1
        queue = AsyncSealedQueue(state_dir / QUEUE_FILE, key, device_id=identity.device_id)
        try:
            await queue.open()
        except QueueLockedError:
            await queue.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        emit(f"open {attempts}")
        return queue


async def enqueue_forever(queue: AsyncSealedQueue, producers: int) -> None:
    acks = 0

    async def produce(k: int) -> None:
        nonlocal acks
        n = 0
        while True:
            report_id = str(uuid.uuid4())
            event = await queue.enqueue(
                "issue.report",
                RESOURCE,
                {
                    "report_id": report_id,
                    "category": "display",
                    "text": f"Screen flickers #{n} (producer {k})",
                },
            )
            emit(f"ack {event.id} {report_id}")
            n += 1
            acks += 1
            if acks % 20 == 0:
                commits = queue.group_commits
                emit(f"groups {commits.transactions} {commits.events}")

    await asyncio.gather(*(produce(k) for k in range(producers)))


async def drain_forever(agent: SyncAgent) -> None:
    while True:
        settled = await agent.drain(force=True)
        if settled == 0:  # nothing waiting, or central unreachable: do not spin
            await asyncio.sleep(0.02)


async def drain_until_empty(agent: SyncAgent, queue: AsyncSealedQueue) -> int:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        await agent.drain(force=True)
        counts = await queue.counts()
        if counts.waiting == 0:
            emit(
                f"drained {counts.pending} {counts.inflight} {counts.rejected} {counts.quarantined}"
            )
            return 0
        if time.monotonic() > deadline:
            emit(f"fail still {counts.waiting} waiting after {DRAIN_TIMEOUT_S:.0f} s")
            return 1
        await asyncio.sleep(0.1)


async def run(state_dir: Path, mode: str, batch: int, producers: int = 8) -> int:
    identity = load_identity(state_dir)
    queue = await open_queue(state_dir)
    client = ReportingClient(
        identity.central_url, token=identity.token, ca_file=identity.ca_file, timeout=5
    )
    agent = SyncAgent(
        queue,
        client,
        state_dir,
        device_id=identity.device_id,
        batch_size=batch,
        backoff=Backoff(base=0.05, cap=0.5),
    )
    try:
        if mode == "drain":
            return await drain_until_empty(agent, queue)
        await asyncio.gather(enqueue_forever(queue, producers), drain_forever(agent))
        return 0  # not reached: the parent kills us
    finally:
        await client.aclose()
        await queue.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.kill9_child")
    parser.add_argument("state_dir", type=Path, help="the enrolled device's state directory")
    parser.add_argument("--mode", choices=("both", "drain"), default="both")
    parser.add_argument("--batch", type=int, default=20, help="events per upload (default 20)")
    parser.add_argument("--producers", type=int, default=8, help="concurrent enqueuers (default 8)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.state_dir, args.mode, args.batch, args.producers))


if __name__ == "__main__":
    sys.exit(main())

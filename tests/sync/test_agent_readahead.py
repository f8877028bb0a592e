"""SyncAgent keeps the queue's work off the upload path: the next batch is read while
one is at central, and an answer is written while the next batch travels. Batches still
go out one at a time, oldest first; each is settled once, with its own answer; and
whatever fails, nothing stays in flight.

The queue is a real sealed queue file; central is an ``httpx.MockTransport`` handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.client import CentralClient
from sync.queue import AsyncSealedQueue, SealedQueue
from tests.sync.test_agent import BASE_URL, Handler, agent_for, applied, sent_ids


async def _until_nothing_pending(queue: AsyncSealedQueue) -> int:
    """Wait (bounded) until the queue has nothing pending; how many are in flight."""
    for _ in range(500):
        counts = await queue.counts()
        if counts.pending == 0:
            return counts.inflight
        await asyncio.sleep(0.01)
    raise AssertionError("the next batch was never read ahead")


async def test_batches_go_in_order_the_next_read_ahead_each_settled_once(
    state_dir: Path,
) -> None:
    sent: list[list[str]] = []
    in_flight_at_central: list[int] = []
    told: list[list[str]] = []

    async def central(request: httpx.Request) -> httpx.Response:
        sent.append(sent_ids(request))
        if len(sent) == 2:  # batch 2 is at central: batch 3 has been read meanwhile
            in_flight_at_central.append(await _until_nothing_pending(agent.queue))
        return applied(request)

    def on_settled(results: Sequence[Mapping[str, Any]]) -> None:
        told.append([r["id"] for r in results])

    handler = cast(Handler, central)  # MockTransport takes async handlers too
    async with agent_for(
        state_dir, handler, events=25, batch_size=10, on_settled=on_settled
    ) as agent:
        order = [row.id for row in await agent.queue.rows()]
        assert await agent.drain() == 25
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight, counts.rejected) == (0, 0, 0)
        assert agent.status.applied_total == 25
        assert agent.status.last_error is None
    assert sent == [order[:10], order[10:20], order[20:]]
    assert in_flight_at_central == [15], "batch 2 and the batch read ahead"
    assert told == sent, "each batch's answer settled once, in order"


async def test_a_failure_after_a_batch_was_read_ahead_puts_it_back_too(
    state_dir: Path,
) -> None:
    sent: list[list[str]] = []

    def central(request: httpx.Request) -> httpx.Response:
        sent.append(sent_ids(request))
        return httpx.Response(503) if len(sent) == 2 else applied(request)

    async with agent_for(state_dir, central, events=25, batch_size=10) as agent:
        order = [row.id for row in await agent.queue.rows()]
        assert await agent.drain() == 10
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight) == (15, 0)
        assert not agent.ready()
        assert await agent.drain(force=True) == 15
    assert sent == [order[:10], order[10:20], order[10:20], order[20:]]


async def test_an_answer_missing_events_puts_back_the_batch_read_ahead(
    state_dir: Path,
) -> None:
    def forgetful(request: httpx.Request) -> httpx.Response:
        first = sent_ids(request)[0]
        return httpx.Response(200, json={"results": [{"id": first, "outcome": "applied"}]})

    async with agent_for(state_dir, forgetful, events=25, batch_size=10) as agent:
        assert await agent.drain() == 1
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight) == (24, 0)
        assert agent.status.last_error is not None
        assert "accounted for 1 of 10" in agent.status.last_error


async def test_a_drain_cancelled_with_a_batch_read_ahead_leaves_nothing_in_flight(
    state_dir: Path,
) -> None:
    sent: list[list[str]] = []
    second = asyncio.Event()

    async def central(request: httpx.Request) -> httpx.Response:
        sent.append(sent_ids(request))
        if len(sent) == 1:
            return applied(request)
        second.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with agent_for(state_dir, lambda r: httpx.Response(500), events=25) as agent:
        agent.batch_size = 10
        agent.client = CentralClient(BASE_URL, transport=httpx.MockTransport(central))
        try:
            task = asyncio.create_task(agent.drain())
            await second.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            counts = await agent.queue.counts()
            assert (counts.pending, counts.inflight) == (15, 0)
        finally:
            await agent.client.aclose()


def test_settling_one_batch_leaves_the_next_in_flight(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    with SealedQueue(tmp_path / "queue.db", key.public_key()) as queue:
        for i in range(7):
            queue.enqueue("issue.report", "room:aurora", {"text": f"flicker {i}"})
        first, second = queue.take_batch(4), queue.take_batch(4)
        assert (len(first), len(second)) == (4, 3)
        assert not set(first.ids) & set(second.ids)
        results = [{"id": i, "outcome": "applied"} for i in first.ids]
        summary = queue.settle([*results, {"id": second.ids[0], "outcome": "applied"}], batch=first)
        assert (summary.applied, summary.returned, summary.ignored) == (4, 0, 1)
        counts = queue.counts()
        assert (counts.pending, counts.inflight) == (0, 3)
        summary = queue.settle([{"id": second.ids[0], "outcome": "applied"}], batch=second)
        assert (summary.applied, summary.returned) == (1, 2)
        counts = queue.counts()
        assert (counts.pending, counts.inflight) == (2, 0)
        assert queue.settle([], batch=first).returned == 0, "a settled batch settles nothing"

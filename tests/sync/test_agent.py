"""SyncAgent, one behaviour at a time: batch sizing on 413, refusals, backoff, snapshots
with ETags, a failing snapshot handler, cancellation, and the status file.

The queue is a real sealed queue file; central is an ``httpx.MockTransport`` handler
that plays one scripted part per test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.agent import STATUS_FILE, SyncAgent, SyncStatus, read_status
from sync.backoff import Backoff
from sync.client import CentralClient
from sync.queue import AsyncSealedQueue

CENTRAL_KEY = X25519PrivateKey.generate()
BASE_URL = "http://central.test"

Handler = Callable[[httpx.Request], httpx.Response]


class MaxRandom(random.Random):
    """Jitter pinned to its ceiling, so waits are exact: 1, 2, 4, ... seconds."""

    def uniform(self, a: float, b: float) -> float:
        return b


def sent_ids(request: httpx.Request) -> list[str]:
    return [event["id"] for event in json.loads(request.content)["events"]]


def applied(request: httpx.Request) -> httpx.Response:
    results = [{"id": i, "outcome": "applied"} for i in sent_ids(request)]
    return httpx.Response(200, json={"results": results})


@asynccontextmanager
async def agent_for(
    state_dir: Path, handler: Handler, *, events: int = 0, **options: Any
) -> AsyncIterator[SyncAgent]:
    queue = AsyncSealedQueue(state_dir / "queue.db", CENTRAL_KEY.public_key())
    client = CentralClient(BASE_URL, token="t", transport=httpx.MockTransport(handler))
    try:
        for i in range(events):
            await queue.enqueue("issue.report", "room:aurora", {"text": f"flicker {i}"})
        options.setdefault("backoff", Backoff(_rng=MaxRandom()))
        yield SyncAgent(queue, client, state_dir, device_id="panel-1", **options)
    finally:
        await client.aclose()
        await queue.close()


# Batches too large for central (413) --------------------------------------------


async def test_a_413_halves_the_batch_until_central_accepts_then_restores_it(
    state_dir: Path,
) -> None:
    sizes: list[int] = []

    def at_most_three(request: httpx.Request) -> httpx.Response:
        sizes.append(len(sent_ids(request)))
        if sizes[-1] > 3:
            return httpx.Response(413, json={"error": "payload_too_large"})
        return applied(request)

    async with agent_for(state_dir, at_most_three, events=20, batch_size=16) as agent:
        assert await agent.drain() == 20  # one call: no backoff between the tries

        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight, counts.rejected) == (0, 0, 0)
        assert agent.status.applied_total == 20
        assert agent.status.last_error is None
        assert agent.ready() and agent.backoff.failures == 0
        assert agent.batch_limit == 16, "the configured size is back once drained"
    # 16 -> 8 -> 4 -> 2, then batches of 2 until the queue is empty
    assert sizes == [16, 8, 4] + [2] * 10
    for before, after in itertools.pairwise(sizes):
        assert before <= 3 or after < before, "the same oversized batch was sent again"


async def test_the_reduced_batch_size_holds_until_the_queue_is_drained(
    state_dir: Path,
) -> None:
    sizes: list[int] = []

    def two_then_down(request: httpx.Request) -> httpx.Response:
        sizes.append(len(sent_ids(request)))
        if len(sizes) == 5:  # central fails after two good batches
            return httpx.Response(503)
        if sizes[-1] > 2:
            return httpx.Response(413)
        return applied(request)

    async with agent_for(state_dir, two_then_down, events=10, batch_size=8) as agent:
        assert await agent.drain() == 4
        assert sizes == [8, 4, 2, 2, 2]
        assert (await agent.queue.counts()).pending == 6
        assert agent.batch_limit == 2, "still 2: the backlog is not drained yet"

        sizes.clear()
        assert await agent.drain(force=True) == 6
        assert sizes == [2, 2, 2], "no new round of 413s for the rest of the backlog"
        assert agent.batch_limit == 8


async def test_a_413_for_a_single_event_rejects_it_and_the_queue_moves_on(
    state_dir: Path,
) -> None:
    oversized: list[str] = []

    def central(request: httpx.Request) -> httpx.Response:
        ids = sent_ids(request)
        if oversized[0] in ids:
            return httpx.Response(413, json={"error": "payload_too_large"})
        return applied(request)

    async with agent_for(state_dir, central, events=3) as agent:
        oversized.append((await agent.queue.rows())[0].id)
        await agent.drain()
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight, counts.rejected) == (0, 0, 1)
        (row,) = await agent.queue.rows()
        assert row.id == oversized[0] and row.reason is not None and "413" in row.reason
        assert agent.ready(), "central is fine: no backoff"


# Refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_device_keeps_its_events_and_says_why(
    status: int, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={"error": "unauthorized", "detail": "device revoked"})

    async with agent_for(state_dir, refuse, events=5) as agent:
        assert await agent.drain() == 0
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight, counts.rejected) == (5, 0, 0)
        error = agent.status.last_error
        assert error is not None
        assert f"does not accept this device ({status})" in error
        assert "device revoked" in error and "enrolled" in error
        assert not agent.ready()
        assert agent.status.reachable is None, "central answered: it is not 'offline'"
        assert await agent.drain() == 0 and len(requests) == 1, "no retry while backing off"
        on_disk = read_status(state_dir)
        assert on_disk is not None and on_disk.last_error == error
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_an_answer_that_forgets_events_settles_the_rest_and_backs_off(
    state_dir: Path,
) -> None:
    def forgetful(request: httpx.Request) -> httpx.Response:
        first = sent_ids(request)[0]
        return httpx.Response(200, json={"results": [{"id": first, "outcome": "applied"}]})

    async with agent_for(state_dir, forgetful, events=3) as agent:
        assert await agent.drain() == 1
        counts = await agent.queue.counts()
        assert (counts.pending, counts.inflight) == (2, 0)
        assert agent.status.last_error is not None
        assert "accounted for 1 of 3" in agent.status.last_error
        assert agent.status.reachable is True
        assert not agent.ready()


# Backoff -----------------------------------------------------------------------


async def test_backoff_grows_on_repeated_failures_and_resets_on_success(
    state_dir: Path,
) -> None:
    script = iter([503, 502, 500, 200, 503])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(script)
        return applied(request) if status == 200 else httpx.Response(status)

    async with agent_for(state_dir, handler, events=2, backoff=Backoff(_rng=MaxRandom())) as agent:
        waits = []
        for _ in range(3):
            await agent.drain(force=True)
            waits.append(agent.status.next_attempt_in)
            assert not agent.ready()
            assert agent.status.reachable is False
        assert waits == [1.0, 2.0, 4.0]
        assert agent.backoff.failures == 3

        assert await agent.drain() == 0, "drain without force waits for the backoff"

        assert await agent.drain(force=True) == 2
        assert agent.backoff.failures == 0
        assert agent.status.next_attempt_in == 0.0
        assert agent.ready() and agent.status.last_error is None

        await agent.queue.enqueue("issue.report", "room:aurora", {"text": "again"})
        await agent.drain()
        assert agent.status.next_attempt_in == 1.0, "back to the first step"


# Snapshots ---------------------------------------------------------------------


async def test_refresh_stores_the_etag_and_a_304_does_not_call_the_handler(
    state_dir: Path,
) -> None:
    seen: list[str | None] = []

    def central(request: httpx.Request) -> httpx.Response:
        tag = request.headers.get("if-none-match")
        seen.append(tag)
        if tag == '"r1"':
            return httpx.Response(304, headers={"ETag": '"r1"'})
        return httpx.Response(200, headers={"ETag": '"r1"'}, json={"rooms": []})

    calls: list[tuple[str, Any]] = []
    async with agent_for(state_dir, central, snapshot_requests={"rooms": {}}) as agent:
        agent.on_snapshot = lambda kind, data: calls.append((kind, data))
        assert await agent.refresh(force=True)
        assert calls == [("rooms", {"rooms": []})]
        assert await agent.refresh(force=True)
        assert await agent.refresh(force=True)
        assert calls == [("rooms", {"rooms": []})], "a 304 must not call on_snapshot"
        assert agent.status.last_sync is not None and agent.status.last_error is None
    assert seen == [None, '"r1"', '"r1"']


async def test_a_failing_snapshot_handler_is_logged_and_refresh_goes_on(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, list[str | None]] = {"rooms": [], "directory": []}

    def central(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        seen[kind].append(request.headers.get("if-none-match"))
        return httpx.Response(200, headers={"ETag": f'"{kind}"'}, json={kind: []})

    applied_kinds: list[str] = []

    async def handler(kind: str, data: Any) -> None:
        if kind == "rooms":
            raise KeyError("Greta Hidden <greta@example.org>")
        applied_kinds.append(kind)

    requests = {"rooms": {}, "directory": {}}
    async with agent_for(state_dir, central, snapshot_requests=requests) as agent:
        agent.on_snapshot = handler
        assert await agent.refresh(force=True) is False  # and it did not raise
        assert applied_kinds == ["directory"], "the other snapshots still arrive"
        assert agent.status.reachable is True
        assert agent.ready(), "central is fine: no backoff"
        assert agent.status.last_error is not None and "rooms" in agent.status.last_error

        assert await agent.refresh(force=True) is False
    # the rooms snapshot is fetched in full again (its ETag was not kept)
    assert seen == {"rooms": [None, None], "directory": [None, '"directory"']}
    logged = caplog.text
    assert "rooms snapshot handler failed (KeyError)" in logged
    assert "Greta" not in logged and "example.org" not in logged


async def test_a_sync_snapshot_handler_that_raises_does_not_crash_refresh(
    state_dir: Path,
) -> None:
    def central(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"site": None})

    def handler(kind: str, data: Any) -> None:
        raise TypeError("boom")

    async with agent_for(state_dir, central, snapshot_requests={"rooms": {}}) as agent:
        agent.on_snapshot = handler
        assert await agent.refresh(force=True) is False


# Cancellation ------------------------------------------------------------------


async def test_a_cancelled_drain_leaves_nothing_in_flight(state_dir: Path) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with agent_for(state_dir, lambda r: httpx.Response(500), events=4) as agent:
        agent.client = CentralClient(BASE_URL, transport=httpx.MockTransport(hang))
        try:
            task = asyncio.create_task(agent.drain())
            await started.wait()
            assert (await agent.queue.counts()).inflight == 4
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            counts = await agent.queue.counts()
            assert (counts.pending, counts.inflight) == (4, 0)
        finally:
            await agent.client.aclose()
        agent.client = CentralClient(BASE_URL, transport=httpx.MockTransport(applied))
        try:
            assert await agent.drain() == 4, "the batch is sent again at once"
        finally:
            await agent.client.aclose()


# status.json ---------------------------------------------------------------------


async def test_status_json_is_written_and_read_back(state_dir: Path) -> None:
    assert read_status(state_dir) is None
    async with agent_for(state_dir, lambda r: httpx.Response(503), events=3) as agent:
        await agent.drain()
        back = read_status(state_dir)
        assert back == agent.status
        assert back is not None and back.pending == 3 and back.reachable is False
        assert not (state_dir / "status.tmp").exists()


def test_read_status_tolerates_garbage_and_unknown_fields(state_dir: Path) -> None:
    path = state_dir / STATUS_FILE
    for text in ("", "{", "[]", '"x"', '{"pending": 3}', '{"device_id": "p", "pending": "x"}'):
        path.write_text(text, encoding="utf-8")
        assert read_status(state_dir) is None or isinstance(read_status(state_dir), SyncStatus)
    path.write_text(json.dumps({"device_id": "p", "pending": 2, "from_the_future": 1}))
    status = read_status(state_dir)
    assert status is not None and status.pending == 2 and status.device_id == "p"
    path.write_text('{"pending": 3}')
    assert read_status(state_dir) is None, "no device_id: not a status"


async def test_a_failed_status_write_keeps_the_old_file_and_does_not_crash(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with agent_for(state_dir, applied, events=1) as agent:
        await agent.drain()
        before = (state_dir / STATUS_FILE).read_text(encoding="utf-8")

        def disk_full(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("sync.files.os.replace", disk_full)
        with pytest.raises(OSError):
            agent.write_status()
        assert [p.name for p in state_dir.iterdir() if p.name.endswith(".tmp")] == []
        await agent.queue.enqueue("issue.report", "room:aurora", {"text": "x"})
        assert await agent.drain() == 1  # the status write fails inside: no crash
        assert (state_dir / STATUS_FILE).read_text(encoding="utf-8") == before


def test_readers_never_see_a_half_written_status(state_dir: Path) -> None:
    agent = SyncAgent.__new__(SyncAgent)  # only the status writer is exercised
    agent.state_dir = state_dir
    agent.status = SyncStatus(device_id="panel-1", last_error="x" * 2000)
    agent.write_status()
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            status = read_status(state_dir)
            if status is None or status.device_id != "panel-1":
                bad.append("torn read")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            agent.status.pending = i
            agent.write_status()
    finally:
        stop.set()
        thread.join()
    assert bad == []
    final = read_status(state_dir)
    assert final is not None and asdict(final) == asdict(agent.status)

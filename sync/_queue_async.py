""":class:`AsyncSealedQueue`: the sealed queue for the asyncio loop, one worker thread,
with group commit for concurrent enqueues."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sync._queue_core import SealedQueue, now_utc
from sync._queue_seal import NewEvent
from sync._queue_types import (
    Batch,
    EventState,
    GroupCommits,
    InvalidArgumentError,
    QueueClosedError,
    QueueCounts,
    QueueRow,
    SettleSummary,
)
from sync.wire import SealedEvent

__all__ = ["MAX_GROUP", "AsyncSealedQueue"]

T = TypeVar("T")
MAX_GROUP = 64
"""The most events one group commit writes; more waiting callers form the next group."""

_Waiting = tuple[NewEvent, "asyncio.Future[SealedEvent]"]


def _deliver(group: list[_Waiting], outcomes: list[Any]) -> None:
    """On the loop: release every caller of a group with its event or its error."""
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():  # cancelled: that caller stopped waiting; its event is stored
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class AsyncSealedQueue:
    """:class:`SealedQueue` with coroutine methods that never block the event loop.

    Every call, opening included, runs on one dedicated worker thread, in the order
    the calls were made. Group commit: ``enqueue`` calls made while the worker is busy
    (a commit in progress, or another call) wait together, and the worker seals and
    writes them all in its next single transaction, one fsync for the lot (at most
    ``max_group`` per transaction, :data:`MAX_GROUP` by default; 1 turns it off). Each
    caller is released only once that transaction's COMMIT has returned, so its event
    is on disk when ``enqueue`` returns; if the transaction fails, exactly its callers
    get the error and none of their events is written. An invalid event fails only its
    own caller.

    The file is opened by the first call (or by :meth:`open`, or ``async with``), so
    constructing this object does no I/O. Each method raises what its
    :class:`SealedQueue` counterpart raises (``max_group`` below 1:
    :class:`InvalidArgumentError`). A cancelled ``enqueue`` still completes on the
    worker: its event is stored, once, even though the caller stopped waiting. Other
    calls cancelled before the worker starts them do not run.
    """

    def __init__(
        self,
        path: Path,
        central_public_key: X25519PublicKey,
        *,
        epoch_max_events: int = 10_000,
        clock: Callable[[], datetime] = now_utc,
        max_payload_bytes: int = 4 * 1024 * 1024,
        device_id: str | None = None,
        max_group: int = MAX_GROUP,
    ) -> None:
        if max_group.__class__ is not int or max_group < 1:
            raise InvalidArgumentError("max_group must be a positive integer")
        self._path = Path(path)
        self._max_group = max_group
        self._open_args: dict[str, Any] = {
            "central_public_key": central_public_key,
            "epoch_max_events": epoch_max_events,
            "clock": clock,
            "max_payload_bytes": max_payload_bytes,
            "device_id": device_id,
        }
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tapin-queue")
        self._queue: SealedQueue | None = None
        self._closed = False
        # The group that later enqueue calls join: submitted to the worker, not yet
        # taken by it. Any other call closes it, so that calls keep their order.
        self._group: list[_Waiting] | None = None
        self._group_lock = threading.Lock()
        self._commits = GroupCommits()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def group_commits(self) -> GroupCommits:
        """How many transactions the enqueues took, and how many events they stored."""
        return self._commits

    def _opened(self) -> SealedQueue:
        if self._queue is None:  # calls made before close() still run, in order
            self._queue = SealedQueue(self._path, **self._open_args)
        return self._queue

    def _in_worker(self, call: Callable[[SealedQueue], T]) -> T:
        return call(self._opened())

    async def _run(self, call: Callable[[SealedQueue], T]) -> T:
        if self._closed:
            raise QueueClosedError(f"queue {self._path} is closed")
        loop = asyncio.get_running_loop()
        with self._group_lock:
            self._group = None  # an enqueue made after this call runs after it
            submitted = self._executor.submit(self._in_worker, call)
        return await asyncio.wrap_future(submitted, loop=loop)

    async def open(self) -> None:
        """Open the file now rather than on the first call."""
        await self._run(lambda queue: None)

    async def __aenter__(self) -> AsyncSealedQueue:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def enqueue(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any],
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> SealedEvent:
        """See :meth:`SealedQueue.enqueue`: on disk when the coroutine returns, written
        in one transaction with the other enqueues waiting at the same time."""
        if self._closed:
            raise QueueClosedError(f"queue {self._path} is closed")
        future: asyncio.Future[SealedEvent] = asyncio.get_running_loop().create_future()
        waiting = (NewEvent(type, resource, payload, starts_at, ends_at), future)
        with self._group_lock:
            group = self._group
            if group is not None and len(group) < self._max_group:
                group.append(waiting)
            else:
                group = self._group = [waiting]
                self._executor.submit(self._commit_group, group)
        return await future

    def _commit_group(self, group: list[_Waiting]) -> None:
        """On the worker: take the group (later enqueues start the next one), write it
        in one transaction, then release its callers."""
        with self._group_lock:
            if self._group is group:
                self._group = None
        outcomes: list[Any]
        try:
            outcomes = self._opened().enqueue_many([event for event, _ in group])
        except BaseException as exc:  # storage or closed: every caller of this group
            outcomes = [exc] * len(group)
        else:
            stored = sum(1 for outcome in outcomes if isinstance(outcome, SealedEvent))
            if stored:
                done = self._commits
                self._commits = GroupCommits(
                    done.transactions + 1, done.events + stored, max(done.largest, stored)
                )
        # Each caller is released on its own event loop (there is one in practice).
        loop = group[0][1].get_loop()
        by_loop = {loop: (group, outcomes)}
        if any(future.get_loop() is not loop for _, future in group):
            by_loop = {}
            for waiting, outcome in zip(group, outcomes, strict=True):
                callers, results = by_loop.setdefault(waiting[1].get_loop(), ([], []))
                callers.append(waiting)
                results.append(outcome)
        for loop, (callers, results) in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(_deliver, callers, results)

    async def take_batch(self, limit: int = 500) -> Batch:
        return await self._run(lambda q: q.take_batch(limit))

    async def settle(
        self, results: Iterable[Mapping[str, Any]], *, batch: Batch | None = None
    ) -> SettleSummary:
        return await self._run(lambda q: q.settle(results, batch=batch))

    async def release_inflight(self) -> int:
        return await self._run(lambda q: q.release_inflight())

    async def counts(self) -> QueueCounts:
        return await self._run(lambda q: q.counts())

    async def rows(
        self,
        states: Iterable[EventState | str] | EventState | str | None = None,
        *,
        limit: int | None = None,
    ) -> list[QueueRow]:
        return await self._run(lambda q: q.rows(states, limit=limit))

    async def purge_expired(self, max_age: timedelta = timedelta(days=90)) -> int:
        return await self._run(lambda q: q.purge_expired(max_age))

    async def close(self) -> None:
        """Close the file and stop the worker thread, after every call made before.
        Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        await self._run_last(self._close_in_worker)
        self._executor.shutdown(wait=False)

    async def _run_last(self, call: Callable[[], None]) -> None:
        with self._group_lock:
            self._group = None
            submitted = self._executor.submit(call)
        await asyncio.wrap_future(submitted)

    def _close_in_worker(self) -> None:
        if self._queue is not None:
            self._queue.close()
            self._queue = None

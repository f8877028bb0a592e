""":class:`AsyncSealedQueue`: the sealed queue for the asyncio loop, one worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sync._queue_core import SealedQueue, now_utc
from sync._queue_types import (
    Batch,
    EventState,
    QueueClosedError,
    QueueCounts,
    QueueRow,
    SettleSummary,
)
from sync.wire import SealedEvent

__all__ = ["AsyncSealedQueue"]

T = TypeVar("T")


class AsyncSealedQueue:
    """:class:`SealedQueue` with coroutine methods that never block the event loop.

    Every call, opening included, runs on one dedicated worker thread, in the order
    the calls were made. The file is opened by the first call (or by :meth:`open`, or
    ``async with``), so constructing this object does no I/O. Each method raises what
    its :class:`SealedQueue` counterpart raises. A cancelled call still completes on
    the worker: an event being enqueued is stored even if the caller stops waiting.
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
    ) -> None:
        self._path = Path(path)
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

    @property
    def path(self) -> Path:
        return self._path

    def _in_worker(self, call: Callable[[SealedQueue], T]) -> T:
        if self._queue is None:  # calls made before close() still run, in order
            self._queue = SealedQueue(self._path, **self._open_args)
        return call(self._queue)

    async def _run(self, call: Callable[[SealedQueue], T]) -> T:
        if self._closed:
            raise QueueClosedError(f"queue {self._path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_worker, call)

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
        """See :meth:`SealedQueue.enqueue`: durable when the coroutine returns."""
        return await self._run(
            lambda q: q.enqueue(type, resource, payload, starts_at=starts_at, ends_at=ends_at)
        )

    async def take_batch(self, limit: int = 500) -> Batch:
        return await self._run(lambda q: q.take_batch(limit))

    async def settle(self, results: Iterable[Mapping[str, Any]]) -> SettleSummary:
        return await self._run(lambda q: q.settle(results))

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
        """Close the file and stop the worker thread. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_in_worker)
        self._executor.shutdown(wait=False)

    def _close_in_worker(self) -> None:
        if self._queue is not None:
            self._queue.close()
            self._queue = None

"""The sync loop of a device: drain the sealed queue to central, fetch snapshots.

:class:`SyncAgent` does one unit of work per call (``drain`` / ``refresh``); the
scheduler (APScheduler, in :mod:`tapin.agent`) decides when. It never loses an event:

* a network error, a 5xx or an answer outside the contract puts the batch back to
  pending and backs off (exponential, with jitter);
* a 4xx for the whole batch is not retried blindly: the batch goes back to pending, the
  reason is recorded in the status, and the next try waits for the backoff ceiling;
* per-event outcomes settle the queue: applied/duplicate deleted, rejected kept with the
  reason, unsealable quarantined.

The agent writes ``status.json`` in the state directory (atomically) for
``tapin status`` to read from another process: counts, times, reachability, the last
error. It holds no personal data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.backoff import Backoff
from sync.client import CentralClient, CentralError, NotAuthorised, Refused
from sync.queue import AsyncSealedQueue

__all__ = ["STATUS_FILE", "SnapshotHandler", "SyncAgent", "SyncStatus", "read_status"]

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
SnapshotHandler = Callable[[str, Any], Awaitable[None] | None]
"""Called with (kind, parsed JSON) for every snapshot that changed."""


@dataclass
class SyncStatus:
    device_id: str
    reachable: bool | None = None
    last_contact: str | None = None
    last_sync: str | None = None
    """When the queue was last drained to empty, or snapshots last refreshed."""
    last_error: str | None = None
    pending: int = 0
    inflight: int = 0
    rejected: int = 0
    quarantined: int = 0
    applied_total: int = 0
    next_attempt_in: float = 0.0
    clock_offset_seconds: float | None = None
    updated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def read_status(state_dir: Path) -> SyncStatus | None:
    """The last status an agent wrote, or ``None`` when none ran yet."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    known = {k: v for k, v in data.items() if k in SyncStatus.__dataclass_fields__}
    try:
        return SyncStatus(**known)
    except TypeError:
        return None


class SyncAgent:
    def __init__(
        self,
        queue: AsyncSealedQueue,
        client: CentralClient,
        state_dir: Path,
        *,
        device_id: str,
        snapshot_requests: Mapping[str, Mapping[str, str]] | None = None,
        on_snapshot: SnapshotHandler | None = None,
        batch_size: int = 500,
        backoff: Backoff | None = None,
    ) -> None:
        self.queue = queue
        self.client = client
        self.state_dir = state_dir
        self.snapshot_requests = dict(snapshot_requests or {})
        self.on_snapshot = on_snapshot
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.status = SyncStatus(device_id=device_id)
        self._etags: dict[str, str | None] = {}
        self._not_before = 0.0

    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def ready(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._not_before

    def _failed(self, error: Exception) -> None:
        wait = self.backoff.failed()
        if isinstance(error, Refused):
            wait = max(wait, self.backoff.ceiling)
        self._not_before = time.monotonic() + wait
        self.status.next_attempt_in = round(wait, 1)
        self.status.last_error = str(error)[:300]
        if not isinstance(error, Refused):
            self.status.reachable = False
        log.warning("sync: %s; next try in %.1f s", type(error).__name__, wait)

    def _succeeded(self) -> None:
        self.backoff.succeeded()
        self._not_before = 0.0
        self.status.reachable = True
        self.status.last_contact = self._now()
        self.status.next_attempt_in = 0.0
        self.status.last_error = None
        if self.client.clock_offset is not None:
            self.status.clock_offset_seconds = round(self.client.clock_offset.total_seconds(), 3)

    async def drain(self, *, force: bool = False) -> int:
        """Upload batches until the queue has nothing pending or something fails.

        Returns how many events central accounted for. Never raises for network or
        server trouble: that is recorded in :attr:`status`.
        """
        if not force and not self.ready():
            return 0
        settled = 0
        while True:
            batch = await self.queue.take_batch(self.batch_size)
            if not batch.events:
                self.status.last_sync = self._now()
                break
            try:
                results = await self.client.upload(batch.epochs, batch.events)
            except CentralError as exc:
                await self.queue.release_inflight()
                self._failed(exc)
                if isinstance(exc, NotAuthorised):
                    log.error("sync: central does not accept this device: %s", exc)
                break
            summary = await self.queue.settle(results)
            self._succeeded()
            settled += len(results)
            self.status.applied_total += summary.deleted
            if len(results) < len(batch.events):
                # central did not account for some events: they are pending again;
                # stop here so they are not retried in a tight loop.
                break
        await self._write_counts()
        return settled

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch every configured snapshot; unchanged ones cost a 304. True on success."""
        if not force and not self.ready():
            return False
        try:
            for kind, params in self.snapshot_requests.items():
                key = kind + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
                snap = await self.client.snapshot(kind, etag=self._etags.get(key), params=params)
                if snap.unchanged:
                    continue
                if self.on_snapshot is not None:
                    outcome = self.on_snapshot(kind, snap.data)
                    if outcome is not None:
                        await outcome
                self._etags[key] = snap.etag
        except CentralError as exc:
            self._failed(exc)
            await self._write_counts()
            return False
        self._succeeded()
        self.status.last_sync = self._now()
        await self._write_counts()
        return True

    async def _write_counts(self) -> None:
        counts = await self.queue.counts()
        self.status.pending = counts.pending
        self.status.inflight = counts.inflight
        self.status.rejected = counts.rejected
        self.status.quarantined = counts.quarantined
        self.status.updated_at = self._now()
        await asyncio.to_thread(self.write_status)

    def write_status(self) -> None:
        """Write ``status.json`` atomically (small; done off the UI loop by callers)."""
        path = self.state_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.status), indent=2), encoding="utf-8")
        os.replace(tmp, path)

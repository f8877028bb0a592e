"""The sync loop of a device: drain the sealed queue to central, fetch snapshots.

:class:`SyncAgent` does one unit of work per call (``drain`` / ``refresh``); the
scheduler (APScheduler, in :mod:`tapin.device.services`) decides when. It never loses an event:

* a network error, a 5xx or an answer outside the contract puts the batch back to
  pending and backs off (exponential, with jitter);
* a 4xx for the whole batch is not retried blindly: the batch goes back to pending, the
  reason is recorded in the status, and the next try waits for the backoff ceiling;
* a 413 (batch too large) halves the batch size and retries at once, down to one event;
  the configured size comes back once the queue has been drained;
* per-event outcomes settle the queue: applied/duplicate deleted, rejected kept with the
  reason, unsealable quarantined. An answer that leaves events unaccounted for settles
  what it names, and the rest waits for the backoff like any other failure;
* whatever happens (a bug, a cancelled task), a batch never stays in flight.

A snapshot handler that raises is logged (the kind and the exception type, never the
content); the other snapshots are still fetched, and that snapshot is fetched in full
again next time.

The agent writes ``status.json`` in the state directory (atomically) for
``tapin status`` to read from another process: counts, times, reachability, the last
error. It holds no personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.backoff import Backoff
from sync.client import CentralClient, CentralError, NotAuthorised, Refused, ServerTrouble
from sync.files import write_private
from sync.queue import AsyncSealedQueue, Batch

__all__ = [
    "STATUS_FILE",
    "SnapshotHandler",
    "SyncAgent",
    "SyncStatus",
    "read_status",
    "trouble_code",
]

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
SnapshotHandler = Callable[[str, Any], Awaitable[None] | None]
SettledHandler = Callable[[Sequence[Mapping[str, Any]]], None]
"""Called with central's per-event results after they settled the queue (the UI shows
confirmations and undoes what central rejected)."""
"""Called with (kind, parsed JSON) for every snapshot that changed."""


@dataclass
class SyncStatus:
    device_id: str
    reachable: bool | None = None
    last_contact: str | None = None
    last_sync: str | None = None
    """When an upload last drained the queue to empty, or snapshots were last refreshed."""
    last_success: str | None = None
    """When central last answered an exchange successfully (``tapin status``'s "last
    sync"): an upload, a snapshot refresh."""
    last_error: str | None = None
    last_error_at: str | None = None
    """When the last failure happened (kept after a success, unlike ``last_error``)."""
    trouble: str | None = None
    """What is wrong since the last failure (:func:`trouble_code`), ``None`` after a
    success: ``unreachable``, ``certificate``, ``revoked``, ``not_authorised``,
    ``refused`` or ``server_trouble``."""
    pending: int = 0
    inflight: int = 0
    rejected: int = 0
    quarantined: int = 0
    applied_total: int = 0
    next_attempt_in: float = 0.0
    next_attempt_at: str | None = None
    """When the next try is due while backing off (``None``: not backing off)."""
    clock_offset_seconds: float | None = None
    updated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


_CERTIFICATE_WORDS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSLCertVerif")


def trouble_code(error: Exception) -> str:
    """What a failed exchange says about the device's link to central, as a short code
    (see :attr:`SyncStatus.trouble`). Never raises."""
    if isinstance(error, NotAuthorised):
        return "revoked" if "revoked" in str(error) else "not_authorised"
    if isinstance(error, Refused):
        return "refused"
    if isinstance(error, ServerTrouble):
        return "server_trouble"
    text = str(error)
    if any(word in text for word in _CERTIFICATE_WORDS):
        return "certificate"
    return "unreachable"


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
        on_settled: SettledHandler | None = None,
    ) -> None:
        self.queue = queue
        self.client = client
        self.state_dir = state_dir
        self.snapshot_requests = dict(snapshot_requests or {})
        self.on_snapshot = on_snapshot
        self.on_settled = on_settled
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.status = SyncStatus(device_id=device_id)
        self._carried_over = False
        self._etags: dict[str, str | None] = {}
        self._not_before = 0.0
        self._reduced_batch: int | None = None

    @property
    def batch_limit(self) -> int:
        """How many events the next upload takes: :attr:`batch_size`, or less after a 413."""
        if self._reduced_batch is None:
            return self.batch_size
        return min(self._reduced_batch, self.batch_size)

    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def ready(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._not_before

    def _failed(self, error: Exception, *, reached: bool = False) -> None:
        """Back off after ``error``; ``reached`` when central did answer (badly)."""
        wait = self.backoff.failed()
        if isinstance(error, Refused):
            wait = max(wait, self.backoff.ceiling)
        self._not_before = time.monotonic() + wait
        self.status.next_attempt_in = round(wait, 1)
        self.status.next_attempt_at = (datetime.now(UTC) + timedelta(seconds=wait)).isoformat()
        self.status.last_error = str(error)[:300]
        self.status.last_error_at = self._now()
        self.status.trouble = trouble_code(error)
        if not isinstance(error, Refused) and not reached:
            self.status.reachable = False
        log.warning(  # the cause, as a technician needs it (central's words, bounded)
            "sync failed: %s: %s; next try in %.1f s", type(error).__name__, str(error)[:200], wait
        )

    def _contact(self) -> None:
        """Central answered (in the contract's shape)."""
        self.status.reachable = True
        self.status.last_contact = self._now()
        if self.client.clock_offset is not None:
            self.status.clock_offset_seconds = round(self.client.clock_offset.total_seconds(), 3)

    def _succeeded(self) -> None:
        self.backoff.succeeded()
        self._not_before = 0.0
        self._contact()
        self.status.last_success = self.status.last_contact
        self.status.next_attempt_in = 0.0
        self.status.next_attempt_at = None
        self.status.last_error = None
        self.status.trouble = None

    async def _release(self) -> None:
        """Put the batch in flight back to pending, even while being cancelled."""
        await asyncio.shield(self.queue.release_inflight())

    async def drain(self, *, force: bool = False) -> int:
        """Upload batches until the queue has nothing pending or something fails.

        Batches go out one at a time, in order; the queue's own work is kept off that
        path: the next batch is read from the queue while one is on its way, and a
        batch's answer is written to the queue while the next one travels.

        Returns how many events central accounted for. Never raises for network or
        server trouble: that is recorded in :attr:`status`.
        """
        if not force and not self.ready():
            return 0
        settled = 0
        answered_before = self.status.last_success
        ahead: asyncio.Future[Batch] | None = None
        writing: asyncio.Future[int] | None = None
        try:
            batch = await self.queue.take_batch(self.batch_limit)
            while batch.events:
                ahead = asyncio.ensure_future(self.queue.take_batch(self.batch_limit))
                try:
                    results: list[dict[str, Any]] | None = await self.client.upload(
                        batch.epochs, batch.events
                    )
                    error: CentralError | None = None
                except CentralError as exc:
                    results, error = None, exc
                if writing is not None:  # the answer before this one, written meanwhile
                    settled += await writing
                    writing = None
                following = await ahead
                ahead = None
                if results is None:
                    assert error is not None
                    accounted, taken = await self._upload_failed(batch, following, error)
                    settled += accounted
                    if taken is None:  # failed: recorded in the status, backing off
                        break
                    batch = taken
                    continue
                named = {result["id"] for result in results}
                if any(event.id not in named for event in batch.events):
                    settled += await self._incomplete(batch, results)
                    break
                self._succeeded()
                writing = asyncio.ensure_future(self._settle(batch, results))
                batch = following
            else:  # no break: the queue has nothing pending
                if self.status.last_success != answered_before:  # central took an upload
                    self.status.last_sync = self._now()
                self._reduced_batch = None
            if writing is not None:
                settled += await writing
                writing = None
        except BaseException:
            # a bug below, or the task was cancelled: never leave a batch in flight
            await asyncio.shield(self._abandon(ahead, writing))
            raise
        await self._write_counts()
        return settled

    async def _abandon(
        self, ahead: asyncio.Future[Batch] | None, writing: asyncio.Future[int] | None
    ) -> None:
        """After a bug or a cancellation: let the queue calls under way end (the batch
        read ahead, an answer being written), then put everything in flight back."""
        for call in (ahead, writing):
            if call is not None:
                with contextlib.suppress(BaseException):
                    await call
        await self.queue.release_inflight()

    async def _settle(self, batch: Batch, results: Sequence[Mapping[str, Any]]) -> int:
        """Write central's answer for ``batch`` to the queue; how many events it settled."""
        summary = await self.queue.settle(results, batch=batch)
        self._tell_settled(results)
        self.status.applied_total += summary.deleted
        if summary.rejected or summary.quarantined:  # counts and codes: reasons may name people
            codes = sorted({str(r.get("code")) for r in results if r.get("outcome") == "rejected"})
            log.warning(
                "sync: central refused %d event(s), %d quarantined (%s); "
                "see 'tapin queue --state rejected'",
                summary.rejected,
                summary.quarantined,
                ", ".join(c for c in codes if c != "None")[:200] or "no code",
            )
        return summary.deleted + summary.rejected + summary.quarantined

    async def _incomplete(self, batch: Batch, results: Sequence[Mapping[str, Any]]) -> int:
        """An answer that leaves events of ``batch`` out (outside the contract): settle
        what central named, put the rest (and the batch read ahead) back, back off."""
        summary = await self.queue.settle(results, batch=batch)
        self._tell_settled(results)
        await self._release()
        accounted = summary.deleted + summary.rejected + summary.quarantined
        self.status.applied_total += summary.deleted
        self._contact()
        self._failed(
            ServerTrouble(
                f"central's answer accounted for {accounted} of {len(batch.events)} events; "
                f"{summary.returned} back to pending"
            ),
            reached=True,
        )
        return accounted

    async def _upload_failed(
        self, batch: Batch, following: Batch, exc: CentralError
    ) -> tuple[int, Batch | None]:
        """Deal with a failed upload of ``batch`` (``following`` was read ahead): how many
        events that settled, and the batch to send next (``None``: stop, backing off)."""
        if isinstance(exc, Refused) and exc.status == 413 and len(batch.events) == 1:
            # one event alone is too large for central: it would block the queue
            # forever, so it is settled as rejected, visible to the technician
            verdict = {
                "id": batch.events[0].id,
                "outcome": "rejected",
                "reason": "too large for central (413); not sent again",
            }
            summary = await self.queue.settle([verdict], batch=batch)
            self._tell_settled([verdict])
            self._succeeded()  # central answered, and clearly
            if summary.rejected != 1:
                await self._release()
                return summary.rejected, None
            return summary.rejected, following
        await self._release()  # this batch and the one read ahead
        if isinstance(exc, Refused) and exc.status == 413:
            self._reduced_batch = max(1, len(batch.events) // 2)
            log.warning(
                "sync: central finds a batch of %d too large; trying %d",
                len(batch.events),
                self._reduced_batch,
            )
            return 0, await self.queue.take_batch(self.batch_limit)
        self._failed(exc)
        if isinstance(exc, NotAuthorised):
            log.error("sync: %s", exc)
        return 0, None

    def _tell_settled(self, results: Sequence[Mapping[str, Any]]) -> None:
        if self.on_settled is None or not results:
            return
        try:
            self.on_settled(results)
        except Exception as exc:  # the UI's trouble must not stop delivery
            log.error("sync: the settled-results handler failed: %s", type(exc).__name__)

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch every configured snapshot; unchanged ones cost a 304. True on success.

        A snapshot whose handler raises is not counted as fetched (its ETag is not
        kept) and makes the result ``False``, without backing off: central is fine.
        """
        if not force and not self.ready():
            return False
        not_applied: list[str] = []
        try:
            for kind, params in self.snapshot_requests.items():
                key = kind + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
                snap = await self.client.snapshot(kind, etag=self._etags.get(key), params=params)
                if snap.unchanged:
                    continue
                if await self._apply(kind, snap.data):
                    self._etags[key] = snap.etag
                else:
                    self._etags.pop(key, None)
                    not_applied.append(kind)
        except CentralError as exc:
            self._failed(exc)
            await self._write_counts()
            return False
        self._succeeded()
        if not_applied:
            self.status.last_error = (
                f"snapshot(s) not applied on this device: {', '.join(not_applied)}"
            )
        else:
            self.status.last_sync = self._now()
        await self._write_counts()
        return not not_applied

    async def _apply(self, kind: str, data: Any) -> bool:
        if self.on_snapshot is None:
            return True
        try:
            outcome = self.on_snapshot(kind, data)
            if outcome is not None:
                await outcome
        except Exception as exc:
            # the type only: a message could quote the snapshot (names, subjects)
            log.error(
                "sync: the %s snapshot handler failed (%s); it is fetched again next time",
                kind,
                type(exc).__name__,
            )
            return False
        return True

    async def _carry_over(self) -> None:
        """Once: the times of the last success before a restart, from ``status.json``
        (read in a worker thread), so "last sync" stays true across restarts."""
        self._carried_over = True
        before = await asyncio.to_thread(read_status, self.state_dir)
        if before is None or before.device_id != self.status.device_id:
            return
        for name in ("last_success", "last_sync", "last_contact"):
            if getattr(self.status, name) is None:
                setattr(self.status, name, getattr(before, name))

    async def _write_counts(self) -> None:
        if not self._carried_over:
            await self._carry_over()
        counts = await self.queue.counts()
        self.status.pending = counts.pending
        self.status.inflight = counts.inflight
        self.status.rejected = counts.rejected
        self.status.quarantined = counts.quarantined
        self.status.updated_at = self._now()
        try:
            await asyncio.to_thread(self.write_status)
        except OSError as exc:
            log.warning("sync: status file not written: %s", exc)

    def write_status(self) -> None:
        """Write ``status.json`` atomically (small; done off the UI loop by callers).

        Readers see the old file or the new one, never a part; on failure the old file
        stays and the temporary one is removed. Raises ``OSError``.
        """
        data = json.dumps(asdict(self.status), indent=2).encode("utf-8")
        write_private(self.state_dir / STATUS_FILE, data)

"""The synchronous sealed queue (public through :mod:`sync.queue`)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from sync._queue_seal import NewEvent, Sealer, as_utc, check_event
from sync._queue_store import QueueStore, Row
from sync._queue_types import (
    SEAL_FAILURE_CODE,
    Batch,
    EventState,
    InvalidArgumentError,
    InvalidEventError,
    QueueClosedError,
    QueueCounts,
    QueueRow,
    SettleSummary,
)
from sync.wire import OUTCOMES, EpochKey, SealedEvent

__all__ = ["MAX_BATCH", "NewEvent", "SealedQueue", "now_utc"]

log = logging.getLogger("sync.queue")

MAX_BATCH = 10_000
_MAX_REASON = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def now_utc() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


class _Result(NamedTuple):
    outcome: str
    reason: str | None
    code: str | None


def _parse_result(item: Any) -> tuple[str, _Result] | None:
    """One ``{"id", "outcome", "reason", "code"}`` entry, or ``None`` if malformed."""
    try:
        if not isinstance(item, Mapping):
            return None
        event_id, outcome = item.get("id"), item.get("outcome")
        reason, code = item.get("reason"), item.get("code")
    except Exception:  # a hostile Mapping: treat as malformed, never crash
        return None
    if type(event_id) is not str or type(outcome) is not str or outcome not in OUTCOMES:
        return None
    if (reason is not None and type(reason) is not str) or (
        code is not None and type(code) is not str
    ):
        return None
    if outcome == "rejected":
        reason = _CONTROL.sub(" ", reason or "").strip()[:_MAX_REASON]
        reason = reason or "rejected by central without a reason"
    return event_id, _Result(outcome, reason, code)


def _parse_results(results: Any) -> tuple[dict[str, _Result], int]:
    """The well-formed entries by id (first one wins), and how many were ignored."""
    parsed: dict[str, _Result] = {}
    ignored = 0
    try:
        iterator = iter(results)
    except TypeError:
        return parsed, 1
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            break
        except Exception:
            ignored += 1
            break
        entry = _parse_result(item)
        if entry is None or entry[0] in parsed:
            ignored += 1
        else:
            parsed[entry[0]] = entry[1]
    return parsed, ignored


class SealedQueue:
    """The queue file at ``path``, open for this process only. Thread-safe.

    Opening starts a new epoch and puts events left in flight back to pending. With
    ``device_id`` (an enrolled device) every event is bound to that device: central opens
    it only for an upload authenticated as that device.
    Raises :class:`QueueStorageError` (file not usable), :class:`QueueCorruptError`,
    :class:`QueueLockedError` (open elsewhere) or :class:`InvalidArgumentError`.
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
        if not isinstance(central_public_key, X25519PublicKey):
            raise InvalidArgumentError("central_public_key must be an X25519PublicKey")
        if not isinstance(epoch_max_events, int) or epoch_max_events < 1:
            raise InvalidArgumentError("epoch_max_events must be a positive integer")
        self._path = Path(path)
        self._central_key = central_public_key
        self._epoch_max = epoch_max_events
        self._clock = clock
        self._max_payload = max_payload_bytes
        self._device_id = device_id
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._sealer = Sealer(device_id, max_payload_bytes)
        store = QueueStore(self._path)
        try:
            recovered = store.recover_inflight()
            self._next_seq: int | None = store.next_seq()
        except BaseException:
            store.close()
            raise
        self._store: QueueStore | None = store
        self._new_epoch()
        log.info(
            "queue %s open: next seq %d, %d event(s) left in flight by the last run "
            "back to pending",
            self._path,
            self._next_seq,
            recovered,
        )

    @property
    def path(self) -> Path:
        return self._path

    def __enter__(self) -> SealedQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_epoch(self) -> None:
        self._epoch = EpochKey.generate(self._central_key)
        self._epoch_used = 0
        self._epoch_stored = False
        self._sealer.use(self._epoch)
        log.debug("queue epoch %s started", self._epoch.id)

    def _open_store(self) -> QueueStore:
        if self._store is None:
            raise QueueClosedError(f"queue {self._path} is closed")
        return self._store

    def enqueue(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any],
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> SealedEvent:
        """Seal and store one event in its own transaction; when this returns it is on
        disk (fsync'd) and survives a power cut.

        ``type`` is like ``booking.create``; ``resource`` an id like ``room:aurora``
        (no ``@`` or spaces: clear fields never carry personal data). Raises
        :class:`InvalidEventError` / :class:`PayloadError` (nothing written),
        :class:`QueueStorageError` (nothing written) or :class:`QueueClosedError`.
        """
        checked = check_event(type, resource, payload, starts_at, ends_at)
        with self._lock:
            store = self._open_store()
            created = self._clock()
            if created.__class__ is not datetime or created.tzinfo is not UTC:
                created = as_utc(created, "clock()")
            if self._epoch_used >= self._epoch_max:
                self._new_epoch()
            seq = self._next_seq if self._next_seq is not None else store.next_seq()
            event, row = self._sealer.seal(seq, checked, created)
            try:
                if self._epoch_stored:
                    store.append(row)
                else:
                    epoch = self._epoch
                    store.append_many([row], [(epoch.id, epoch.sealed, event.created_at)])
            except BaseException:
                self._next_seq = None  # the commit may or may not have landed: re-read
                raise
            self._next_seq = seq + 1
            self._epoch_used += 1
            self._epoch_stored = True
        return event

    def enqueue_many(self, events: Iterable[NewEvent]) -> list[SealedEvent | InvalidEventError]:
        """Seal and store several events in one transaction: one fsync for all of them
        (group commit). When this returns, every event it returned is on disk.

        Returns one entry per event, in order: the :class:`SealedEvent` (sequence
        numbers consecutive, in that order), or the :class:`InvalidEventError` /
        :class:`PayloadError` that kept that one out (nothing of it is written; the
        others are). Raises :class:`QueueStorageError` (none of them written) or
        :class:`QueueClosedError`.
        """
        outcomes: list[SealedEvent | InvalidEventError] = []
        rows: list[Row] = []
        epochs: list[Row] = []
        with self._lock:
            store = self._open_store()
            before = (self._epoch, self._epoch_used, self._epoch_stored)
            seq = self._next_seq if self._next_seq is not None else store.next_seq()
            clock, seal = self._clock, self._sealer.seal
            try:
                for new in events:
                    try:
                        checked = check_event(*new)
                        created = clock()
                        if created.__class__ is not datetime or created.tzinfo is not UTC:
                            created = as_utc(created, "clock()")
                        if self._epoch_used >= self._epoch_max:
                            self._new_epoch()
                        event, row = seal(seq, checked, created)
                    except InvalidEventError as exc:
                        outcomes.append(exc)
                        continue
                    if not self._epoch_stored:
                        epoch = self._epoch
                        epochs.append((epoch.id, epoch.sealed, event.created_at))
                        self._epoch_stored = True
                    rows.append(row)
                    outcomes.append(event)
                    seq += 1
                    self._epoch_used += 1
                if len(rows) == 1 and not epochs:
                    store.append(rows[0])
                elif rows:
                    store.append_many(rows, epochs)
            except BaseException:
                # Nothing of this group is stored: back to the epoch it started with.
                self._epoch, self._epoch_used, self._epoch_stored = before
                self._sealer.use(self._epoch)
                self._next_seq = None  # the commit may or may not have landed: re-read
                raise
            self._next_seq = seq
        return outcomes

    def take_batch(self, limit: int = 500) -> Batch:
        """Mark up to ``limit`` pending events in flight and return them, oldest first.

        :meth:`settle` (or :meth:`release_inflight`) closes it; the next batch may be
        taken before (the events in flight are not taken again), and then settled with
        ``settle(results, batch=...)``. Rows that cannot be read here are quarantined
        instead. Each event's upload encoding (:meth:`SealedEvent.wire_json`) is made
        here, on the caller's thread. Raises :class:`InvalidArgumentError`,
        :class:`QueueStorageError`, :class:`QueueClosedError`.
        """
        if limit.__class__ is not int or not 1 <= limit <= MAX_BATCH:
            raise InvalidArgumentError(f"limit must be an integer from 1 to {MAX_BATCH}")
        with self._lock:
            epochs, events, unreadable = self._open_store().take(limit)
            for event in events:
                self._inflight[event.id] = event.seq
                event.wire_json()  # encoded here (the queue's thread), ready for the upload
        for seq, event_id, _ in unreadable:
            log.warning("queue: event %s (seq %d) is unreadable here: quarantined", event_id, seq)
        return Batch(epochs=epochs, events=events)

    def settle(
        self, results: Iterable[Mapping[str, Any]], *, batch: Batch | None = None
    ) -> SettleSummary:
        """Apply central's results to the events in flight, in one transaction.

        ``applied``/``duplicate``: deleted. ``rejected``: kept with the reason, or
        quarantined when ``code`` is :data:`SEAL_FAILURE_CODE`. Events in flight that no
        well-formed entry names go back to pending; malformed entries and unknown ids
        are counted as ignored and never raise. With ``batch`` (one taken by
        :meth:`take_batch`), only that batch's events are settled: a batch taken after
        it stays in flight, so the next batch can be on its way while this one's answer
        is written. Raises :class:`QueueStorageError` (nothing changed; the events stay
        in flight) or :class:`QueueClosedError`.
        """
        parsed, ignored = _parse_results(results)
        delete: list[int] = []
        marks: list[tuple[str, str, int]] = []
        back: list[int] = []
        tally = dict.fromkeys(("applied", "duplicate", "rejected", "quarantined"), 0)
        with self._lock:
            store = self._open_store()
            inflight = self._inflight
            if batch is not None:
                inflight = {e.id: e.seq for e in batch.events if inflight.get(e.id) == e.seq}
            for event_id, seq in inflight.items():
                result = parsed.pop(event_id, None)
                if result is None:
                    back.append(seq)
                elif result.outcome in ("applied", "duplicate"):
                    delete.append(seq)
                    tally[result.outcome] += 1
                elif result.code == SEAL_FAILURE_CODE:
                    reason = f"central cannot open the seal: {result.reason}"[:_MAX_REASON]
                    marks.append((EventState.QUARANTINED.value, reason, seq))
                    tally["quarantined"] += 1
                    log.warning("queue: event %s (seq %d) quarantined by central", event_id, seq)
                else:
                    marks.append((EventState.REJECTED.value, result.reason or "", seq))
                    tally["rejected"] += 1
            ignored += len(parsed)  # ids that are not in flight
            store.settle(delete, marks, back, self._epoch.id)
            if batch is None:
                self._inflight.clear()
            else:
                for event_id in inflight:
                    del self._inflight[event_id]
        summary = SettleSummary(**tally, returned=len(back), ignored=ignored)
        log.info(
            "queue settled: %d applied, %d duplicate, %d rejected, %d quarantined, "
            "%d back to pending, %d result(s) ignored",
            *(tally.values()),
            summary.returned,
            summary.ignored,
        )
        return summary

    def release_inflight(self) -> int:
        """After a failed upload: every event in flight goes back to pending.

        Returns how many. Raises :class:`QueueStorageError` or :class:`QueueClosedError`.
        """
        with self._lock:
            count = self._open_store().recover_inflight()
            self._inflight.clear()
        log.info("queue: %d event(s) in flight back to pending", count)
        return count

    def counts(self) -> QueueCounts:
        """How many events in each state.

        Raises :class:`QueueStorageError` or :class:`QueueClosedError`.
        """
        with self._lock:
            by_state, oldest = self._open_store().counts()
        return QueueCounts(
            pending=by_state.get(EventState.PENDING, 0),
            inflight=by_state.get(EventState.INFLIGHT, 0),
            rejected=by_state.get(EventState.REJECTED, 0),
            quarantined=by_state.get(EventState.QUARANTINED, 0),
            oldest_pending=_parse_time(oldest),
        )

    def rows(
        self,
        states: Iterable[EventState | str] | EventState | str | None = None,
        *,
        limit: int | None = None,
    ) -> list[QueueRow]:
        """Queued events, oldest first: routing fields, state and reason, never payloads.

        Raises :class:`InvalidArgumentError` (unknown state, bad limit),
        :class:`QueueStorageError` or :class:`QueueClosedError`.
        """
        wanted: list[str] | None = None
        if states is not None:
            items = [states] if isinstance(states, str) else list(states)
            try:
                wanted = [EventState(state).value for state in items]
            except ValueError:
                known = ", ".join(s.value for s in EventState)
                raise InvalidArgumentError(f"states must be among: {known}") from None
        if limit is not None and (limit.__class__ is not int or limit < 1):
            raise InvalidArgumentError("limit must be a positive integer or None")
        with self._lock:
            raw = self._open_store().rows(wanted, limit)
        return [_queue_row(row) for row in raw]

    def purge_expired(self, max_age: timedelta = timedelta(days=90)) -> int:
        """Delete undelivered events made more than ``max_age`` ago; log and return how many.

        Events in flight are left to their upload (purged next time if still there).
        Raises :class:`InvalidArgumentError`, :class:`QueueStorageError`,
        :class:`QueueClosedError`.
        """
        if not isinstance(max_age, timedelta) or max_age <= timedelta(0):
            raise InvalidArgumentError("max_age must be a positive timedelta")
        with self._lock:
            store = self._open_store()
            now = as_utc(self._clock(), "clock()")
            cutoff_ms = int((now - max_age).timestamp() * 1000)
            by_state = store.purge(cutoff_ms, self._epoch.id)
        total = sum(by_state.values())
        detail = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items())) or "none"
        level = logging.WARNING if total else logging.INFO
        whole_days = max_age % timedelta(days=1) == timedelta(0)
        age = f"{max_age.days} days" if whole_days else str(max_age)
        log.log(
            level, "queue purge: %d undelivered event(s) older than %s (%s)", total, age, detail
        )
        return total

    def close(self) -> None:
        """Close the file (checkpointing the WAL). Idempotent; never raises."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
                self._inflight.clear()
                log.info("queue %s closed", self._path)


def _queue_row(row: Row) -> QueueRow:
    seq, event_id, type_, resource, starts_at, ends_at, created_at, created_ms, state, reason = row
    created = _parse_time(created_at)
    if created is None:
        millis = created_ms if isinstance(created_ms, int) else 0
        created = datetime.fromtimestamp(millis / 1000, UTC)
    try:
        known_state = EventState(state)
    except ValueError:
        known_state = EventState.QUARANTINED
    return QueueRow(
        seq=seq,
        id=str(event_id),
        type=str(type_),
        resource=str(resource),
        starts_at=_parse_time(starts_at),
        ends_at=_parse_time(ends_at),
        created_at=created,
        state=known_state,
        reason=reason if isinstance(reason, str) else None,
    )

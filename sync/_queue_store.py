"""The SQLite file behind :class:`sync.queue.SealedQueue`: pragmas, schema, statements.

Durability: WAL journal, ``synchronous=FULL`` (the WAL is fsync'd at every commit) and
one transaction per append: a lone event's INSERT in autocommit (the statement is the
transaction), several events (a group commit) or an event with its epoch row in one
``BEGIN IMMEDIATE … COMMIT``. ``locking_mode=EXCLUSIVE`` makes the process that opened
the queue its only user: a second opener gets :class:`QueueLockedError`, the WAL index
lives in heap memory (no ``-shm`` file) and no lock calls are made per transaction.

Every :class:`sqlite3.Error` leaves this module as a :class:`QueueStorageError` (or a
subclass) naming the file and what a technician can do about it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from sync._queue_types import (
    EventState,
    QueueCorruptError,
    QueueLockedError,
    QueueStorageError,
)
from sync.files import write_private
from sync.wire import AD_BOUND, AD_UNBOUND, SealedEvent

__all__ = ["SCHEMA_VERSION", "QueueStore", "Row"]

SCHEMA_VERSION = 2
"""2: each event row records its associated-data version (``ad``: 1 unbound, 2 bound to
the device); rows written by schema 1 are unbound."""
_BUSY_TIMEOUT_S = 0.5
_WAL_CHECKPOINT_PAGES = 200
_WAL_SIZE_LIMIT = 4 * 1024 * 1024
_TABLES = {"events", "epochs", "counters"}
_NONCE_BYTES = 12
_TAG_BYTES = 16

Row = tuple[Any, ...]
_NOT_NULL = [
    "id",
    "type",
    "resource",
    "created_at",
    "created_ms",
    "epoch",
    "nonce",
    "ciphertext",
    "state",
]

_INSERT_EVENT = (
    "INSERT INTO events (seq, id, type, resource, starts_at, ends_at, created_at,"
    " created_ms, epoch, nonce, ciphertext, ad) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Sequence numbers are never reused. The row an insert commits carries its seq, and
# before any row is deleted (settled, purged, or by hand) this trigger raises the
# persisted floor in the same transaction; so the next seq, max(floor, MAX(seq) + 1),
# never goes back, whatever crashes. Inserts thus write one page, not two.
_KEEP_SEQ_FLOOR = """
CREATE TRIGGER IF NOT EXISTS events_keep_seq_floor BEFORE DELETE ON events
BEGIN
    UPDATE counters SET value = MAX(value, OLD.seq + 1) WHERE name = 'next_seq';
END
"""
_INSERT_EPOCH = "INSERT OR IGNORE INTO epochs (id, sealed, created_at) VALUES (?, ?, ?)"
_SELECT_PENDING = (
    "SELECT seq, id, type, resource, starts_at, ends_at, created_at, epoch, nonce,"
    " ciphertext, ad FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?"
)
_SELECT_ROWS = (
    "SELECT seq, id, type, resource, starts_at, ends_at, created_at, created_ms, state,"
    " reason FROM events"
)
_TAKE = "UPDATE events SET state = 'inflight' WHERE state = 'pending' AND seq <= ?"
_EXPIRED = "WHERE created_ms < ? AND state <> 'inflight'"
_DROP_UNUSED_EPOCHS = "DELETE FROM epochs WHERE id <> ? AND id NOT IN (SELECT epoch FROM events)"
_DROP_EPOCH_IF_UNUSED = (
    "DELETE FROM epochs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM events WHERE epoch = ?)"
)
_CHUNK = 500
"""Host parameters per statement (SQLite allows at least 999)."""


def _epochs_of(conn: sqlite3.Connection, seqs: Sequence[int]) -> set[str]:
    """The epochs of the events ``seqs``."""
    found: set[str] = set()
    for start in range(0, len(seqs), _CHUNK):
        part = seqs[start : start + _CHUNK]
        marks = ",".join("?" * len(part))
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT epoch FROM events WHERE seq IN ({marks})", tuple(part)
            )
        )
    return found


def translate(exc: sqlite3.Error, path: Path) -> QueueStorageError:
    """Turn a SQLite error into one a technician can act on."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return QueueLockedError(path)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return QueueCorruptError(
            path, f"is not a readable SQLite database ({exc}); move it aside and restart"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return QueueStorageError(
            path,
            f"is not writable ({exc}); check the owner and mode of the file and its "
            "directory, and that the filesystem is mounted read-write",
        )
    if name.startswith("SQLITE_FULL"):
        return QueueStorageError(path, "the disk is full; free space on the device")
    if name.startswith("SQLITE_CANTOPEN"):
        return QueueStorageError(
            path, f"cannot be opened ({exc}); check that the directory exists and is writable"
        )
    if name.startswith("SQLITE_IOERR"):
        return QueueStorageError(
            path, f"input/output error ({exc}); the SD card or disk may be failing"
        )
    return QueueStorageError(path, f"SQLite error {name or type(exc).__name__}: {exc}")


def _create_file(path: Path) -> None:
    """Create the database file owner-only, and make its directory entry durable."""
    parent = path.parent
    if not parent.is_dir():
        raise QueueStorageError(path, f"directory {parent} does not exist; create it first")
    if path.is_dir():
        raise QueueStorageError(path, "is a directory; the queue needs a file path")
    if path.exists():
        return
    try:
        write_private(path, b"", exclusive=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise QueueStorageError(path, f"cannot be created ({exc.strerror})") from None


class QueueStore:
    """One exclusive connection to the queue file. Not thread-safe: the caller locks."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the queue file.

        Raises :class:`QueueStorageError`, :class:`QueueCorruptError` or
        :class:`QueueLockedError`.
        """
        self.path = path
        _create_file(path)
        try:
            self.conn = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise translate(exc, path) from None
        # One cursor for the hot path: no cursor object made per enqueue.
        self._insert = self.conn.cursor().execute
        try:
            self.db = Database(self.conn, recursive_triggers=False, execute_plugins=False)
            self._configure()
            self._create_schema()
        except BaseException as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, path) from None
            raise

    def _configure(self) -> None:
        self.conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        self.db.enable_wal()
        mode = self.db.journal_mode
        if mode != "wal":
            raise QueueStorageError(
                self.path, f"cannot use a write-ahead log (journal mode {mode!r})"
            )
        self.conn.execute("PRAGMA synchronous = FULL")
        # A small WAL, recycled early: commits then overwrite WAL pages in place instead
        # of growing the file (a growing file costs fdatasync a metadata update), and
        # checkpoints stay cheap because an append-only queue rewrites the same pages.
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
        self.conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        # Deleted (delivered) rows are overwritten, not left in free pages.
        self.conn.execute("PRAGMA secure_delete = ON")

    def _create_schema(self) -> None:
        db = self.db
        with db.atomic():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueCorruptError(
                    self.path,
                    f"was written by a newer Tapin (schema {version}, this one knows "
                    f"{SCHEMA_VERSION}); upgrade Tapin or move the file aside",
                )
            if version == 0 and set(db.table_names()) - _TABLES:
                raise QueueCorruptError(self.path, "is a SQLite database but not a Tapin queue")
            db.create_table(
                "events",
                {
                    "seq": int,
                    "id": str,
                    "type": str,
                    "resource": str,
                    "starts_at": str,
                    "ends_at": str,
                    "created_at": str,
                    "created_ms": int,
                    "epoch": str,
                    "nonce": bytes,
                    "ciphertext": bytes,
                    "state": str,
                    "reason": str,
                    "ad": int,
                },
                pk="seq",
                not_null=[*_NOT_NULL, "ad"],
                defaults={"state": EventState.PENDING.value, "ad": AD_UNBOUND},
                if_not_exists=True,
            )
            if version == 1:  # a queue from before device binding: its rows are unbound
                db.execute(
                    f"ALTER TABLE events ADD COLUMN ad INTEGER NOT NULL DEFAULT {AD_UNBOUND}"
                )
            db.create_table(
                "epochs",
                {"id": str, "sealed": bytes, "created_at": str},
                pk="id",
                not_null=["sealed", "created_at"],
                if_not_exists=True,
            )
            db.create_table(
                "counters",
                {"name": str, "value": int},
                pk="name",
                not_null=["value"],
                if_not_exists=True,
            )
            db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('next_seq', 1)")
            db.execute(_KEEP_SEQ_FLOOR)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # Transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE … COMMIT``; rolled back on any error.

        ``durable=False`` commits without waiting for the disk (``synchronous=NORMAL`` for
        this transaction: in WAL mode the database stays consistent and every earlier
        commit stays durable; only this one may be undone by a power cut). For changes
        the queue redoes by itself on open, e.g. marking a batch in flight.

        Raises :class:`QueueStorageError` (or a subclass) for SQLite errors.
        """
        conn = self.conn
        try:
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Reads; raises :class:`QueueStorageError` (or a subclass) for SQLite errors."""
        try:
            yield self.conn
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from None

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    # Operations --------------------------------------------------------------------

    def append(self, row: Row) -> None:
        """Insert one ``events`` row (``_INSERT_EVENT``'s columns) in its own transaction.

        In autocommit mode the INSERT is a whole transaction: SQLite commits it, fsync
        of the WAL included, before ``execute`` returns, with one statement instead of
        three. Raises :class:`QueueStorageError` (or a subclass); nothing is written then.
        """
        if self.conn.in_transaction:  # a failed ROLLBACK left one open: never join it
            self.append_many([row], [])  # (BEGIN then fails, naming the problem)
            return
        try:
            self._insert(_INSERT_EVENT, row)
        except sqlite3.Error as exc:
            self._rollback()
            raise translate(exc, self.path) from None

    def append_many(self, rows: Sequence[Row], epochs: Sequence[Row]) -> None:
        """Insert ``events`` rows and ``(id, sealed, created_at)`` epoch rows in one
        ``BEGIN IMMEDIATE … COMMIT``: one fsync for all of them.

        Raises :class:`QueueStorageError` (or a subclass); none of them is written then.
        """
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if epochs:
                    conn.executemany(_INSERT_EPOCH, epochs)
                conn.executemany(_INSERT_EVENT, rows)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from None

    def next_seq(self) -> int:
        """The next sequence number: never one already used, even by deleted events."""
        with self.read() as conn:
            (saved,) = conn.execute("SELECT value FROM counters WHERE name = 'next_seq'").fetchone()
            (highest,) = conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return max(int(saved), int(highest or 0) + 1)

    def recover_inflight(self) -> int:
        """After a crash or a failed upload: every event in flight is pending again."""
        with self.write() as conn:
            return conn.execute(
                "UPDATE events SET state = 'pending' WHERE state = 'inflight'"
            ).rowcount

    def take(self, limit: int) -> tuple[dict[str, bytes], list[SealedEvent], list[Row]]:
        """Mark up to ``limit`` pending events in flight, oldest first.

        Returns the sealed keys, the readable events, and ``(seq, id, reason)`` of the
        rows that could not be read here (quarantined in the same transaction). Not waited
        to disk: in-flight marks go back to pending when the queue opens, and a lost
        quarantine is made again at the next take.
        """
        with self.write(durable=False) as conn:
            rows = conn.execute(_SELECT_PENDING, (limit,)).fetchall()
            epoch_ids = sorted({row[7] for row in rows if isinstance(row[7], str)})
            marks = ",".join("?" * len(epoch_ids))
            known: dict[str, bytes] = {
                epoch_id: sealed
                for epoch_id, sealed in conn.execute(
                    f"SELECT id, sealed FROM epochs WHERE id IN ({marks})", epoch_ids
                )
                if isinstance(sealed, bytes) and sealed
            }
            events: list[SealedEvent] = []
            unreadable: list[Row] = []
            for row in rows:
                event, problem = _event_from_row(row, known)
                if event is not None:
                    events.append(event)
                else:
                    unreadable.append(
                        (row[0], str(row[1]), f"unreadable on this device: {problem}")
                    )
            if rows:
                # The rows read are every pending row up to the last one (in seq order, in
                # this same exclusive transaction): one statement marks them all in
                # flight, and the unreadable ones are then quarantined instead.
                conn.execute(_TAKE, (max(row[0] for row in rows),))
            conn.executemany(
                "UPDATE events SET state = 'quarantined', reason = ? WHERE seq = ?",
                [(reason, seq) for seq, _, reason in unreadable],
            )
            used = {event.epoch for event in events}
            return {k: v for k, v in known.items() if k in used}, events, unreadable

    def settle(
        self,
        delete: Sequence[int],
        mark: Sequence[tuple[str, str, int]],
        back: Sequence[int],
        keep_epoch: str,
    ) -> None:
        """Delete, mark ``(state, reason, seq)`` and return to pending, atomically."""
        with self.write() as conn:
            touched = _epochs_of(conn, delete)
            for start in range(0, len(delete), _CHUNK):
                part = delete[start : start + _CHUNK]
                conn.execute(
                    f"DELETE FROM events WHERE seq IN ({','.join('?' * len(part))})"
                    " AND state = 'inflight'",
                    tuple(part),
                )
            conn.executemany(
                "UPDATE events SET state = ?, reason = ? WHERE seq = ? AND state = 'inflight'",
                mark,
            )
            conn.executemany(
                "UPDATE events SET state = 'pending' WHERE seq = ? AND state = 'inflight'",
                [(s,) for s in back],
            )
            # an epoch's sealed key leaves with its last event: only the epochs of the
            # deleted events can have become unused (one probe each, no table scan)
            conn.executemany(
                _DROP_EPOCH_IF_UNUSED, [(e, e) for e in sorted(touched - {keep_epoch})]
            )

    def counts(self) -> tuple[dict[str, int], str | None]:
        with self.read() as conn:
            by_state = dict(conn.execute("SELECT state, COUNT(*) FROM events GROUP BY state"))
            oldest = conn.execute(
                "SELECT created_at FROM events WHERE state = 'pending'"
                " ORDER BY created_ms, seq LIMIT 1"
            ).fetchone()
        return by_state, (oldest[0] if oldest else None)

    def rows(self, states: Iterable[str] | None, limit: int | None) -> list[Row]:
        sql, params = _SELECT_ROWS, list[Any]()
        if states is not None:
            wanted = sorted(set(states))
            sql += f" WHERE state IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.read() as conn:
            return conn.execute(sql, params).fetchall()

    def purge(self, cutoff_ms: int, keep_epoch: str) -> dict[str, int]:
        """Delete events made before ``cutoff_ms``, except those in flight; count by state."""
        with self.write() as conn:
            by_state = dict(
                conn.execute(
                    f"SELECT state, COUNT(*) FROM events {_EXPIRED} GROUP BY state", (cutoff_ms,)
                )
            )
            conn.execute(f"DELETE FROM events {_EXPIRED}", (cutoff_ms,))
            conn.execute(_DROP_UNUSED_EPOCHS, (keep_epoch,))
        return by_state


def _event_from_row(row: Row, epochs: dict[str, bytes]) -> tuple[SealedEvent | None, str]:
    """Rebuild a queued event, or say why the row cannot be sent as it is."""
    seq, event_id, type_, resource, starts_at, ends_at, created_at, epoch, nonce, ct, ad = row
    if not isinstance(seq, int) or seq < 0:
        return None, "bad sequence number"
    for name, value in (
        ("id", event_id),
        ("type", type_),
        ("resource", resource),
        ("created_at", created_at),
        ("epoch", epoch),
    ):
        if not isinstance(value, str) or not value:
            return None, f"bad {name}"
    if starts_at is not None and not isinstance(starts_at, str):
        return None, "bad starts_at"
    if ends_at is not None and not isinstance(ends_at, str):
        return None, "bad ends_at"
    if not isinstance(nonce, bytes) or len(nonce) != _NONCE_BYTES:
        return None, "bad nonce"
    if not isinstance(ct, bytes) or len(ct) < _TAG_BYTES:
        return None, "bad ciphertext"
    if epoch not in epochs:
        return None, "its epoch key is missing"
    if ad not in (AD_UNBOUND, AD_BOUND):
        return None, "bad associated-data version"
    event = SealedEvent(
        id=event_id,
        seq=seq,
        type=type_,
        resource=resource,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=created_at,
        epoch=epoch,
        nonce=nonce,
        ciphertext=ct,
        ad=ad,
    )
    return event, ""

"""The drain benchmark's baseline: the rows central wrote, inserted straight into a fresh
copy of the same tables, with the drain's transaction boundaries.

After a drain, :func:`capture` reads back what central stored for the device, in the
order it stored it: the ledger (``applied_events``) and the effect rows
(``presence_samples``, ``issue_reports``, ``bookings``), cut into the drain's batches
(``batch`` consecutive events by sequence number, each with the effect rows of its
events). :func:`load` then writes exactly those rows into a fresh database on the same
cluster with the same schema (migrations, constraints and indexes included, the
bookings' exclusion constraint too), one transaction per batch, committed as the drain
commits (``synchronous_commit`` as the cluster has it), with ``COPY`` or
``executemany``. No HTTP, no TLS, no JSON, no decryption, no checks: only the writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from central.migrate import init_db

__all__ = ["Captured", "RawBatch", "capture", "load", "prepare"]

LEDGER = (
    "applied_events",
    ("device_id", "event_id", "seq", "type", "outcome", "reason", "code", "detail", "created_at"),
)
# event type -> the table its effect lands in, with the columns central writes
EFFECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "presence.sample": (
        "presence_samples",
        ("site_id", "resource", "during", "occupied_minutes", "count_band", "device_id"),
    ),
    "issue.report": (
        "issue_reports",
        (
            "id",
            "site_id",
            "resource",
            "category",
            "text",
            "photo",
            "photo_type",
            "reporter_id",
            "device_id",
            "reported_at",
        ),
    ),
    "booking.create": (
        "bookings",
        ("id", "site_id", "resource", "during", "booked_by", "subject", "device_id"),
    ),
}


@dataclass(frozen=True, slots=True)
class RawBatch:
    """One drain batch: its ledger rows and, per table, its effect rows."""

    events: int
    tables: tuple[tuple[str, tuple[str, ...], list[tuple[Any, ...]]], ...]

    @property
    def rows(self) -> int:
        return sum(len(rows) for _, _, rows in self.tables)


@dataclass(frozen=True, slots=True)
class Captured:
    site: tuple[Any, ...]
    device: tuple[Any, ...]
    batches: list[RawBatch]

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.batches)


def _jsonable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(Jsonb(v) if isinstance(v, dict) else v for v in row)


def capture(dsn: str, device_id: str, batch: int) -> Captured:
    """What central stored for ``device_id``, cut into batches of ``batch`` events."""
    with psycopg.connect(dsn) as conn:
        device = conn.execute(
            "SELECT id, site_id, scope_kind, scope_id, role, public_key, token_hash, binds_since"
            " FROM devices WHERE id = %s",
            [device_id],
        ).fetchone()
        assert device is not None
        site = conn.execute(
            "SELECT id, name, timezone FROM sites WHERE id = %s", [device[1]]
        ).fetchone()
        assert site is not None
        table, cols = LEDGER
        ledger = conn.execute(
            f"SELECT {', '.join(cols)} FROM {table} WHERE device_id = %s ORDER BY seq",
            [device_id],
        ).fetchall()
        effects: dict[str, list[tuple[Any, ...]]] = {}
        for kind, (name, columns) in EFFECTS.items():
            # these tables are only ever appended to here: ctid order is insertion order
            rows = conn.execute(
                f"SELECT {', '.join(columns)} FROM {name} WHERE device_id = %s ORDER BY ctid",
                [device_id],
            ).fetchall()
            effects[kind] = [_jsonable(r) for r in rows]
    batches: list[RawBatch] = []
    taken = dict.fromkeys(EFFECTS, 0)
    for start in range(0, len(ledger), batch):
        part = ledger[start : start + batch]
        tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = [
            (LEDGER[0], LEDGER[1], [_jsonable(r) for r in part])
        ]
        for kind, (name, columns) in EFFECTS.items():
            n = sum(1 for r in part if r[3] == kind and r[4] == "applied")
            tables.append((name, columns, effects[kind][taken[kind] : taken[kind] + n]))
            taken[kind] += n
        batches.append(RawBatch(len(part), tuple(tables)))
    return Captured(site, device, batches)


def prepare(dsn: str, captured: Captured) -> None:
    """The schema in the empty database at ``dsn``, and the site and device the rows
    refer to (their foreign keys)."""
    init_db(dsn)
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO sites (id, name, timezone) VALUES (%s, %s, %s)", captured.site)
        conn.execute(
            "INSERT INTO devices (id, site_id, scope_kind, scope_id, role, public_key,"
            " token_hash, binds_since) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            captured.device,
        )


def load(dsn: str, captured: Captured, method: str) -> float:
    """Insert every batch, one transaction each, with ``method`` (``copy`` or
    ``executemany``); the seconds it took (connecting excluded)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.perf_counter()
        for batch in captured.batches:
            with conn.transaction(), conn.cursor() as cur:
                for table, columns, rows in batch.tables:
                    if not rows:
                        continue
                    names = ", ".join(columns)
                    if method == "copy":
                        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                    else:
                        marks = ", ".join(["%s"] * len(columns))
                        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return time.perf_counter() - start

"""The schema: ordered SQL files in ``central/migrations/``, applied once each.

``NNNN_name.sql`` files are applied in version order, each in its own transaction,
and recorded in ``schema_migrations``. An advisory lock serialises concurrent runners,
so ``init_db`` is safe to call from every process at start-up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from central.db import unreachable
from central.errors import MigrationError

__all__ = ["Migration", "applied_versions", "init_db", "migrations"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7461_7069_6E00  # "tapin": one advisory lock for every migration runner


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with central, in version order.

    Raises :class:`MigrationError` when two files share a version or a version is missing.
    """
    found: list[Migration] = []
    for entry in resources.files("central").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(migration.version, f"expected version {expected:04d} here")
    return found


def applied_versions(dsn: str) -> list[int]:
    """Versions already applied to the database at ``dsn`` (empty for a new database)."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if exists is None or exists[0] is None:
                return []
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row[0] for row in rows]
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None


def init_db(dsn: str) -> list[int]:
    """Bring the database at ``dsn`` to the newest schema; return the versions applied now.

    Idempotent. Raises :class:`DatabaseUnavailable` when PostgreSQL cannot be reached and
    :class:`MigrationError` when a migration fails (that migration is rolled back).
    """
    todo = migrations()
    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
            try:
                return _apply(conn, todo)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None


def _apply(conn: psycopg.Connection, todo: list[Migration]) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    newest = max((m.version for m in todo), default=0)
    if done and max(done) > newest:
        raise MigrationError(max(done), "the database is newer than this version of central")
    applied: list[int] = []
    for migration in todo:
        if migration.version in done:
            continue
        try:
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    [migration.version, migration.name],
                )
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MigrationError(migration.version, first) from exc
        log.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration.version)
    return applied

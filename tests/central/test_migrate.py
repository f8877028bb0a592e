from __future__ import annotations

import psycopg
import pytest

from central import DatabaseUnavailable, init_db
from central.migrate import applied_versions, migrations


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_init_db_applies_once_and_records_versions(pg_dsn: str) -> None:
    assert applied_versions(pg_dsn) == []
    applied = init_db(pg_dsn)
    assert applied == [m.version for m in migrations()]
    assert init_db(pg_dsn) == []
    assert applied_versions(pg_dsn) == applied
    with psycopg.connect(pg_dsn) as conn:
        tables = {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert {
        "sites",
        "rooms",
        "lobbies",
        "desks",
        "people",
        "meetings",
        "devices",
        "enrollment_codes",
        "applied_events",
        "bookings",
        "checkins",
        "releases",
        "visitor_signins",
        "host_notifications",
        "issue_reports",
        "presence_samples",
        "device_commands",
    } <= tables


def test_init_db_reports_an_unreachable_database() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot reach the database"):
        init_db("host=/nonexistent-socket-dir dbname=nothing connect_timeout=1")

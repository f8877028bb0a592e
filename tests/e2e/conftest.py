"""End-to-end fixtures: a real central (PostgreSQL + TLS + uvicorn process)."""

from __future__ import annotations

import psycopg


def count(dsn: str, sql: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])

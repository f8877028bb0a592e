"""End-to-end fixtures: a real central (PostgreSQL + TLS + uvicorn process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.harness import LocalCentral


@pytest.fixture
def central(pg_dsn: str, tmp_path: Path) -> Iterator[LocalCentral]:
    server = LocalCentral(pg_dsn, tmp_path / "central").prepare().start()
    try:
        yield server
    finally:
        server.stop()


def count(dsn: str, sql: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])

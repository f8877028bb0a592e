"""The test harness itself: the PostgreSQL fixture gives a real, empty, private database."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests import pg


@pytest.mark.pg
def test_throwaway_database_is_real_empty_and_dropped(pg_server: str) -> None:
    with pg.throwaway_database() as dsn:
        with psycopg.connect(dsn) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            assert tables == (0,)
            conn.execute("CREATE TABLE t (during tstzrange)")
            name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
    with psycopg.connect(pg_server) as conn:
        gone = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", name).fetchone()
    assert gone is None


@pytest.mark.pg
async def test_async_connection_on_the_test_loop(pg_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
        cursor = await conn.execute("SELECT now() IS NOT NULL")
        assert await cursor.fetchone() == (True,)
    assert asyncio.get_running_loop().is_running()

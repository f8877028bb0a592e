"""Connections: the async pool the API uses, and mapping connection failures.

Every pooled connection gets a ``lock_timeout`` so that a stuck transaction turns into
a retryable 503 rather than a hung device request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from central.errors import DatabaseUnavailable

__all__ = ["open_pool", "unreachable"]

LOCK_TIMEOUT = "5s"


def unreachable(exc: BaseException) -> DatabaseUnavailable:
    """A :class:`DatabaseUnavailable` naming the first line of the driver's message."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return DatabaseUnavailable(f"cannot reach the database: {first}")


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.commit()


@asynccontextmanager
async def open_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 8, timeout: float = 10.0
) -> AsyncIterator[AsyncConnectionPool]:
    """An open :class:`AsyncConnectionPool` for ``dsn``, closed on exit.

    Raises :class:`DatabaseUnavailable` when no connection can be made within ``timeout``.
    """
    try:  # one direct attempt first: its error says why (the pool only times out)
        probe = await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None
    await probe.close()
    pool = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=False,
        configure=_configure,
        name="central",
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseUnavailable(
            f"cannot reach the database: no connection within {timeout:g} s"
        ) from exc
    try:
        yield pool
    finally:
        await pool.close()

"""A throwaway PostgreSQL database for tests, on the local cluster.

The cluster is the machine's own (``.ci/run`` starts it and makes a superuser role for
the current user). ``TAPIN_TEST_PG`` overrides the server DSN. Each test session gets
a fresh database, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SERVER_DSN = os.environ.get("TAPIN_TEST_PG", "host=/var/run/postgresql dbname=postgres")


class PostgresUnavailable(RuntimeError):
    pass


def server_reachable() -> str | None:
    """``None`` when the server answers, else the reason it does not."""
    try:
        with psycopg.connect(SERVER_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


@contextmanager
def throwaway_database(prefix: str = "tapin_test") -> Iterator[str]:
    """Create an empty database, yield its DSN, drop it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(SERVER_DSN, dbname=name)
    try:
        yield dsn
    finally:
        with psycopg.connect(SERVER_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Shared fixtures: a real PostgreSQL database, an isolated state directory.

The Kivy fixtures live in ``tests/ui/conftest.py`` so that non-UI tests never import
Kivy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The DSN of the local PostgreSQL server; skips (or fails in CI) when it is down."""
    reason = pg.server_reachable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable ({reason}); run .ci/run or start a cluster")
    return pg.SERVER_DSN


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with pg.throwaway_database() as dsn:
        yield dsn


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def central(pg_dsn: str, tmp_path: Path) -> Iterator[Any]:
    """A real central: PostgreSQL, migrations, the demo site, uvicorn over TLS."""
    from central.local import LocalCentral

    server = LocalCentral(pg_dsn, tmp_path / "central").prepare().start()
    try:
        yield server
    finally:
        server.stop()

"""The portal in-process with Starlette's TestClient over ``https://testserver``, on a
real PostgreSQL with the two-site world of ``tests/central/conftest.py``.

Helpers make admins with real argon2 hashes, sign them in through the real forms with a
real TOTP code (pyotp), or open a session row directly for the authorization matrix.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.testclient import TestClient

from central import create_app
from central.portal import store
from tests.central.conftest import NOW, seed_world

T = TypeVar("T")
PASSWORD = "correct horse battery staple 42"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Portal:
    client: TestClient
    pool: AsyncConnectionPool
    app: Starlette

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the app's event loop (where its pool lives)."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(fn, *args)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        async def go() -> list[tuple[Any, ...]]:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []

        return self.run(go)

    def admin(self, email: str, role: str = "global", site: str | None = None) -> int:
        return self.run(store.create_admin, self.pool, email, PASSWORD, role, site)

    def session(self, admin_id: int, stage: str = "full") -> tuple[str, str]:
        """A session row (as a finished sign-in makes): ``(cookie, csrf token)``."""

        async def go() -> tuple[str, str]:
            async with self.pool.connection() as conn:
                cookie = await store.create_session(conn, admin_id, stage)
                found = await store.load_session(conn, cookie, datetime.now(UTC))
                assert found is not None
                return cookie, found.csrf_token

        return self.run(go)

    def use(self, cookie: str | None) -> None:
        """Make the client send only this session cookie (or none)."""
        self.client.cookies.clear()
        self.client.headers.pop("cookie", None)
        if cookie is not None:
            self.client.headers["cookie"] = f"tapin_admin={cookie}"

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Through the real forms: password, then (enrolling if needed) a TOTP code."""
        self.use(None)
        page = self.client.get("/admin/signin")
        response = self.client.post(
            "/admin/signin",
            data={"email": email, "password": password, "csrf": csrf_of(page)},
            follow_redirects=False,
        )
        if response.status_code != 303:
            return response
        page = self.client.get("/admin/totp")
        return self.client.post(
            "/admin/totp",
            data={"code": self.code(email), "csrf": csrf_of(page)},
            follow_redirects=False,
        )

    def code(self, email: str, offset: int = 0) -> str:
        [(secret, pending)] = self.sql(
            "SELECT totp_secret, totp_pending FROM admins WHERE lower(email) = lower(%s)", email
        )
        totp = pyotp.TOTP(secret or pending)
        return totp.at(datetime.now(UTC) + timedelta(seconds=30 * offset))

    def audit_actions(self) -> list[str]:
        return [row[0] for row in self.sql("SELECT action FROM admin_audit ORDER BY id")]


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found[1]


@pytest.fixture
def portal(db: str, central_key: X25519PrivateKey) -> Iterator[Portal]:
    app = create_app(db, central_key, clock=lambda: NOW, pool_min=1, pool_max=4)
    with TestClient(app, base_url="https://testserver") as client:
        pool = app.state.central.pool
        holder = Portal(client, pool, app)
        holder.run(seed_world, pool)
        yield holder

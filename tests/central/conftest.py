"""Central against a real PostgreSQL: a small two-site world and an in-process client.

Site ``alpha`` (Stockholm): rooms ``r1`` (auto-release) and ``r2`` (no auto-release),
desk ``d1``, lobby ``l1``; people ``p-vis`` (visible) and ``p-inv`` (invisible). In
``r1`` today: a meeting 10:00-11:00 organised by ``p-vis`` and a private one
13:00-14:00. Site ``beta``: room ``b1``, lobby ``bl1``. The app's clock is today 09:00
in Stockholm, so "today" is stable whatever time the suite runs.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from psycopg_pool import AsyncConnectionPool

from central import create_app, create_enrollment_code, init_db
from central.directory import (
    upsert_desks,
    upsert_meetings,
    upsert_people,
    upsert_rooms,
    upsert_site,
)
from sync.wire import EpochKey, SealedEvent, new_event_id, seal_payload
from tapin.domain import Desk, Meeting, Person, Room, Visibility

ZONE = ZoneInfo("Europe/Stockholm")
TODAY = datetime.now(ZONE).date()


def at(hour: int, minute: int = 0, day: date = TODAY) -> datetime:
    """A time today (site time)."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


NOW = at(9)


@pytest.fixture(scope="session")
def central_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def db(pg_dsn: str) -> str:
    init_db(pg_dsn)
    return pg_dsn


async def seed_world(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn, conn.transaction():
        await upsert_site(conn, "alpha", "Alpha HQ", "Europe/Stockholm", ["l1"])
        await upsert_site(conn, "beta", "Beta Office", "Europe/London", ["bl1"])
        await upsert_rooms(
            conn,
            "alpha",
            [Room("r1", "One", 1, 6), Room("r2", "Two", 1, 4, auto_release=False)],
        )
        await upsert_rooms(conn, "beta", [Room("b1", "Bee", 0, 8)])
        await upsert_desks(conn, "alpha", [Desk("d1", "1.01", 1)])
        await upsert_people(
            conn,
            "alpha",
            [
                Person("p-vis", "Vera Visible", "vera@example.com", title="Engineer"),
                Person(
                    "p-inv", "Ivan Invisible", "ivan@example.com", visibility=Visibility.INVISIBLE
                ),
            ],
        )
        await upsert_meetings(
            conn,
            [
                Meeting(
                    "m-open",
                    "r1",
                    at(10),
                    at(11),
                    subject="Roadmap",
                    organiser_id="p-vis",
                    attendee_ids=("p-vis", "p-inv"),
                ),
                Meeting(
                    "m-private",
                    "r1",
                    at(13),
                    at(14),
                    subject="Secret merger",
                    organiser_id="p-vis",
                    private=True,
                ),
                Meeting("m-hidden-org", "r1", at(15), at(16), subject="Chat", organiser_id="p-inv"),
            ],
        )


@dataclass
class Device:
    """An enrolled test device: its token and a sealing epoch."""

    id: str
    token: str
    epoch: EpochKey
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def event(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any],
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> SealedEvent:
        return seal_payload(
            self.epoch,
            event_id=new_event_id(),
            seq=next(self.seq),
            type=type,
            resource=resource,
            payload=payload,
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=created_at or datetime.now(UTC),
            device_id=self.id,  # bound to this device, as every enrolled device seals
        )

    def batch(self, *events: SealedEvent) -> dict[str, Any]:
        return {
            "epochs": {self.epoch.id: base64.b64encode(self.epoch.sealed).decode()},
            "events": [e.to_wire() for e in events],
        }


@dataclass
class World:
    client: httpx.AsyncClient
    pool: AsyncConnectionPool
    key: X25519PrivateKey

    async def enroll(self, *, room: str | None = None, lobby: str | None = None) -> Device:
        code = await create_enrollment_code(self.pool, room_id=room, lobby_id=lobby)
        signer = Ed25519PrivateKey.generate()
        response = await self.client.post("/v1/enroll", json=enroll_body(code.code, signer))
        assert response.status_code == 201, response.text
        body = response.json()
        return Device(body["device_id"], body["token"], EpochKey.generate(self.key.public_key()))

    async def send(self, device: Device, *events: SealedEvent) -> list[dict[str, str]]:
        response = await self.client.post(
            "/v1/events", json=device.batch(*events), headers=device.headers
        )
        assert response.status_code == 200, response.text
        results: list[dict[str, str]] = response.json()["results"]
        assert [r["id"] for r in results] == [e.id for e in events]
        return results

    async def count(self, table: str, where: str = "true", *params: Any) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])


def enroll_body(code: str, signer: Ed25519PrivateKey, signed: str | None = None) -> dict[str, str]:
    public = signer.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "code": code,
        "public_key": base64.b64encode(public).decode(),
        "signature": base64.b64encode(signer.sign((signed or code).encode())).decode(),
    }


@pytest.fixture
async def world(db: str, central_key: X25519PrivateKey) -> AsyncIterator[World]:
    app = create_app(db, central_key, clock=lambda: NOW, pool_min=1, pool_max=4)
    async with app.router.lifespan_context(app):
        pool = app.state.central.pool
        await seed_world(pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://central") as client:
            yield World(client, pool, central_key)


def later(days: int = 1, hour: int = 9) -> tuple[datetime, datetime]:
    """A free half hour on a later day."""
    start = at(hour, day=TODAY + timedelta(days=days))
    return start, start + timedelta(minutes=30)

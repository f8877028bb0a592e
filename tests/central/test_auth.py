from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
from psycopg.pq import TransactionStatus

from central import revoke_device
from central.auth import authenticate
from central.errors import NotAuthorised
from tests.central.conftest import World


async def test_requests_without_valid_credentials_get_401_json(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = await world.client.get("/v1/snapshot/rooms", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    response = await world.client.post("/v1/events", json={"epochs": {}, "events": []})
    assert response.status_code == 401
    assert (await world.client.get("/v1/commands")).status_code == 401


async def test_a_revoked_device_is_refused(world: World) -> None:
    device = await world.enroll(room="r1")
    assert (await world.client.get("/v1/snapshot/rooms", headers=device.headers)).status_code == 200
    assert await revoke_device(world.pool, device.id) is True
    assert await revoke_device(world.pool, device.id) is False
    response = await world.client.get("/v1/snapshot/rooms", headers=device.headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def test_last_seen_is_updated(world: World) -> None:
    device = await world.enroll(room="r1")
    assert await world.count("devices", "id = %s AND last_seen_at IS NULL", device.id) == 1
    await world.client.get("/v1/commands", headers=device.headers)
    assert await world.count("devices", "id = %s AND last_seen_at IS NOT NULL", device.id) == 1
    # written at most once a minute: a request right after leaves it, an older one moves it
    stamp = "SELECT last_seen_at FROM devices WHERE id = %s"
    async with world.pool.connection() as conn:
        first = await (await conn.execute(stamp, [device.id])).fetchone()
        await world.client.get("/v1/commands", headers=device.headers)
        assert await (await conn.execute(stamp, [device.id])).fetchone() == first
        await conn.execute(
            "UPDATE devices SET last_seen_at = now() - interval '2 minutes' WHERE id = %s",
            [device.id],
        )
        await conn.commit()
        await world.client.get("/v1/commands", headers=device.headers)
        later = await (await conn.execute(stamp, [device.id])).fetchone()
    assert later is not None and first is not None and later[0] >= first[0]  # moved to now


async def test_every_response_carries_a_date_header(world: World) -> None:
    device = await world.enroll(room="r1")
    responses = [
        await world.client.get("/v1/health"),
        await world.client.get("/v1/snapshot/rooms"),
        await world.client.get("/v1/snapshot/rooms", headers=device.headers),
        await world.client.get("/v1/nothing-here"),
        await world.client.delete("/v1/health"),
    ]
    assert [r.status_code for r in responses] == [200, 401, 200, 404, 405]
    for response in responses:
        assert parsedate_to_datetime(response.headers["date"]).tzinfo is not None
    assert responses[3].json()["error"] == "not_found"
    assert responses[4].json()["error"] == "method_not_allowed"


async def test_health_and_openapi_need_no_credentials(world: World) -> None:
    health = await world.client.get("/v1/health")
    assert health.json() == {"status": "ok"}
    spec = await world.client.get("/v1/openapi.yaml")
    assert spec.status_code == 200
    assert spec.headers["content-type"].startswith("application/yaml")
    assert spec.text.startswith("openapi: 3.")
    for path in ("/v1/enroll:", "/v1/events:", "/v1/snapshot/calendar:", "/v1/commands/{id}/ack:"):
        assert path in spec.text


async def test_the_lookup_commits_alone_and_leaves_the_connection_as_it_was(
    world: World,
) -> None:
    """The lookup runs as one statement in autocommit: its last-seen update is visible
    to every other connection at once, and the pooled connection goes back as it came."""
    device = await world.enroll(room="r1")
    token = device.headers["Authorization"]
    async with world.pool.connection() as conn:
        assert conn.autocommit is False
        found = await authenticate(conn, token)
        assert found.id == device.id and found.scope_resource == "room:r1"
        assert conn.autocommit is False
        assert conn.info.transaction_status == TransactionStatus.IDLE
        async with world.pool.connection() as other:
            cur = await other.execute(
                "SELECT last_seen_at IS NOT NULL FROM devices WHERE id = %s", [device.id]
            )
            assert await cur.fetchone() == (True,)


async def test_inside_a_transaction_the_lookup_is_part_of_it(world: World) -> None:
    device = await world.enroll(room="r1")
    async with world.pool.connection() as conn:
        await conn.execute("SELECT 1")  # a transaction the caller opened
        await authenticate(conn, device.headers["Authorization"])
        await conn.rollback()  # ... and rolled back: the last-seen update with it
    assert await world.count("devices", "id = %s AND last_seen_at IS NULL", device.id) == 1
    with pytest.raises(NotAuthorised):
        async with world.pool.connection() as conn:
            await authenticate(conn, "Bearer not-a-token")

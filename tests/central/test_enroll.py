from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import NotFound, create_enrollment_code
from central.auth import hash_secret
from central.enroll import normalise_code
from tests.central.conftest import World, enroll_body


async def test_enrollment_returns_an_identity_and_stores_only_hashes(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    response = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert response.status_code == 201
    body = response.json()
    assert body["site_id"] == "alpha"
    assert body["scope"] == {"kind": "room", "id": "r1"}
    assert base64.b64decode(body["central_public_key"]) == world.key.public_key().public_bytes_raw()
    assert datetime.fromisoformat(body["server_time"]).tzinfo is not None
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT token_hash, role FROM devices WHERE id = %s", [body["device_id"]]
        )
        device_row = await cur.fetchone()
        cur = await conn.execute("SELECT code_hash, used_at FROM enrollment_codes")
        code_row = await cur.fetchone()
    assert device_row is not None and code_row is not None
    token_hash, role = device_row
    code_hash, used_at = code_row
    assert role == "panel"
    assert token_hash == hash_secret(body["token"])
    assert code_hash == hash_secret(normalise_code(code.code))
    assert used_at is not None
    ok = await world.client.get(
        "/v1/snapshot/rooms", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert ok.status_code == 200


async def test_a_code_works_once(world: World) -> None:
    code = await create_enrollment_code(world.pool, lobby_id="l1")
    first = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert first.status_code == 201
    assert first.json()["scope"] == {"kind": "lobby", "id": "l1"}
    again = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert again.status_code == 403
    assert again.json()["error"] == "enrollment_refused"
    assert "already used" in again.json()["detail"]


async def test_codes_are_typed_leniently(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r2")
    typed = code.code.lower().replace("-", " ")
    response = await world.client.post(
        "/v1/enroll", json=enroll_body(typed, Ed25519PrivateKey.generate())
    )
    assert response.status_code == 201


async def test_an_expired_code_is_refused(world: World) -> None:
    code = await create_enrollment_code(
        world.pool, room_id="r1", now=datetime.now(UTC) - timedelta(hours=25)
    )
    response = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


async def test_a_bad_signature_is_refused_and_does_not_burn_the_code(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    signer = Ed25519PrivateKey.generate()
    forged = enroll_body(code.code, signer, signed="something else")
    response = await world.client.post("/v1/enroll", json=forged)
    assert response.status_code == 403
    assert "signature" in response.json()["detail"]
    other_key = enroll_body(code.code, Ed25519PrivateKey.generate())
    other_key["public_key"] = enroll_body(code.code, signer)["public_key"]
    assert (await world.client.post("/v1/enroll", json=other_key)).status_code == 403
    good = await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert good.status_code == 201


async def test_unknown_code_and_malformed_bodies(world: World) -> None:
    unknown = await world.client.post(
        "/v1/enroll", json=enroll_body("NOPE-NOPE-NOPE", Ed25519PrivateKey.generate())
    )
    assert unknown.status_code == 403
    assert "unknown" in unknown.json()["detail"]
    bodies: list[object] = [
        [],
        {"code": "x"},
        {"code": "x", "public_key": "!!", "signature": "AA=="},
    ]
    for body in bodies:
        response = await world.client.post("/v1/enroll", json=body)
        assert response.status_code == 400
        assert response.json()["error"] == "bad_request"
    short_key = {"code": "x", "public_key": "AAAA", "signature": "AAAA"}
    assert (await world.client.post("/v1/enroll", json=short_key)).status_code == 400


async def test_codes_need_a_known_room_or_lobby(world: World) -> None:
    with pytest.raises(NotFound):
        await create_enrollment_code(world.pool, room_id="nowhere")
    with pytest.raises(NotFound):
        await create_enrollment_code(world.pool, room_id="r1", site_id="beta")

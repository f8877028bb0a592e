from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
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


# the confirm step, repeats, scope checks and lifetimes (issue 12) ------------------------


async def _confirm(
    world: World, token: str, signer: Ed25519PrivateKey, device_id: str
) -> httpx.Response:
    from central.enroll import confirm_message

    signature = base64.b64encode(signer.sign(confirm_message(device_id))).decode()
    return await world.client.post(
        "/v1/enroll/confirm",
        headers={"Authorization": f"Bearer {token}"},
        json={"signature": signature},
    )


async def test_a_pending_device_repeats_its_enrollment_with_the_same_key(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    signer = Ed25519PrivateKey.generate()
    first = await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert first.status_code == 201 and first.json()["pending"] is True
    # the device lost the answer (a full disk): the same key and code again
    again = await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert again.status_code == 200
    assert again.json()["device_id"] == first.json()["device_id"]
    assert again.json()["token"] != first.json()["token"]
    assert await world.count("devices") == 1  # no ghost
    old = {"Authorization": f"Bearer {first.json()['token']}"}
    assert (await world.client.get("/v1/snapshot/rooms", headers=old)).status_code == 401
    # another key cannot take the code while the device is pending
    thief = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert thief.status_code == 403 and "already used" in thief.json()["detail"]
    device_id, token = again.json()["device_id"], again.json()["token"]
    confirmed = await _confirm(world, token, signer, device_id)
    assert confirmed.status_code == 200 and confirmed.json()["first_time"] is True
    # confirmed: the code is spent for everyone, the same key included
    late = await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert late.status_code == 403 and "already used" in late.json()["detail"]


async def test_a_confirmation_needs_the_devices_key(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    signer = Ed25519PrivateKey.generate()
    body = (await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))).json()
    forged = await _confirm(world, body["token"], Ed25519PrivateKey.generate(), body["device_id"])
    assert forged.status_code == 403 and "signature" in forged.json()["detail"]
    unknown = await _confirm(world, "nope", signer, body["device_id"])
    assert unknown.status_code == 401
    assert await world.count("devices", "confirmed_at IS NULL") == 1


async def test_the_first_authenticated_request_confirms_too(world: World) -> None:
    """Devices that do not know the confirm step (older builds) keep working, and their
    code is spent once they used their token."""
    code = await create_enrollment_code(world.pool, room_id="r1")
    signer = Ed25519PrivateKey.generate()
    body = (await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))).json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await world.client.get("/v1/snapshot/rooms", headers=headers)).status_code == 200
    again = await world.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert again.status_code == 403 and "already used" in again.json()["detail"]


async def test_an_abandoned_pending_enrollment_gives_its_code_back(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    ghost = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    async with world.pool.connection() as conn:  # the retry window has passed
        await conn.execute("UPDATE enrollment_codes SET used_at = now() - interval '20 minutes'")
    fresh = await world.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    assert fresh.status_code == 201
    assert fresh.json()["device_id"] != ghost.json()["device_id"]
    assert await world.count("devices") == 1  # the unconfirmed one is gone


async def test_a_code_for_another_scope_is_refused_naming_both_and_kept(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r2")
    signer = Ed25519PrivateKey.generate()
    wrong = enroll_body(code.code, signer) | {"expect_scope": {"kind": "room", "id": "r1"}}
    refused = await world.client.post("/v1/enroll", json=wrong)
    assert refused.status_code == 403
    assert "room r2" in refused.json()["detail"] and "room r1" in refused.json()["detail"]
    kiosk = enroll_body(code.code, signer) | {"expect_scope": {"kind": "lobby", "id": "l1"}}
    refused = await world.client.post("/v1/enroll", json=kiosk)
    assert "room r2" in refused.json()["detail"] and "lobby l1" in refused.json()["detail"]
    assert await world.count("devices") == 0
    right = enroll_body(code.code, signer) | {"expect_scope": {"kind": "room", "id": "r2"}}
    assert (await world.client.post("/v1/enroll", json=right)).status_code == 201


async def test_code_lifetimes_are_bounded_and_codes_come_in_bulk(world: World) -> None:
    from central.enroll import MAX_CODE_TTL, codes_csv, make_codes
    from central.errors import BadRequest

    with pytest.raises(BadRequest, match="at most 7 days"):
        await create_enrollment_code(world.pool, room_id="r1", ttl=MAX_CODE_TTL * 2)
    with pytest.raises(BadRequest):
        await create_enrollment_code(world.pool, room_id="r1", ttl=timedelta(0))
    codes = await make_codes(world.pool, rooms=["r2"], lobbies=[], all_rooms=True, site_id="alpha")
    assert [(c.scope_kind, c.scope_id) for c in codes] == [("room", "r2"), ("room", "r1")]
    lines = codes_csv(codes).splitlines()
    assert lines[0] == "scope,code,expires" and lines[1].startswith("room:r2,")
    assert len({line.split(",")[1] for line in lines[1:]}) == 2
    with pytest.raises(NotFound):  # all or none: b1 is not at alpha
        await make_codes(world.pool, rooms=["r1", "b1"], lobbies=[], site_id="alpha")
    assert await world.count("enrollment_codes") == 2


def test_enroll_code_in_bulk_prints_csv(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from central.cli import main

    assert main(["init-db", "--dsn", pg_dsn, "--key-file", str(tmp_path / "central.key")]) == 0
    assert main(["seed", "--demo", "--dsn", pg_dsn]) == 0
    capsys.readouterr()
    assert main(["enroll-code", "--rooms", "skog,aurora", "--dsn", pg_dsn]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "scope,code,expires"
    assert [line.split(",")[0] for line in lines[1:]] == ["room:skog", "room:aurora"]
    every = ["enroll-code", "--all-rooms", "--site", "nordlys-sthlm", "--hours", "2"]
    assert main([*every, "--dsn", pg_dsn]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 7
    assert main(["enroll-code", "--room", "skog", "--hours", "200", "--dsn", pg_dsn]) == 2
    assert "at most 168 (7 days)" in capsys.readouterr().err
    assert main(["enroll-code", "--all-rooms", "--dsn", pg_dsn]) == 2
    assert "need --site" in capsys.readouterr().err

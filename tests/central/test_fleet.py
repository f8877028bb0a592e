"""The fleet at central: heartbeats stored (strictly checked), the device list with its
STALE / UNHEALTHY / GHOST / REVOKED flags, a ghost removed, commands queued from the CLI
and acknowledged with a result, a key rotation in two steps. Real PostgreSQL, the real
app in-process, the real ``tapin central`` commands."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import create_enrollment_code
from central.fleet import list_devices, remove_ghost
from tapin.device.commands import confirm_message, rotation_message
from tapin.device.health import SysPaths, collect
from tests.central.conftest import Device, World, enroll_body

pytestmark = pytest.mark.pg


def facts(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """A healthy device's heartbeat, from the real collector over fake /sys files."""
    light = tmp_path / "backlight" / "rpi_backlight"
    light.mkdir(parents=True, exist_ok=True)
    (light / "bl_power").write_text("0\n")
    (light / "brightness").write_text("200\n")
    (tmp_path / "temp").write_text("48312\n")
    paths = SysPaths(
        backlight=tmp_path / "backlight",
        drm=tmp_path / "drm",
        thermal=tmp_path / "temp",
        uptime=tmp_path / "uptime",
    )
    body = collect(state_dir=tmp_path, paths=paths).to_json()
    assert body["display"] == "on" and body["cpu_temp_celsius"] == 48.3
    return {**body, **changes}


async def beat(world: World, device: Device, body: Any) -> Any:
    return await world.client.put("/v1/heartbeat", json=body, headers=device.headers)


async def fleet(world: World, stale_after: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    rows = await list_devices(world.pool, now=datetime.now(UTC), stale_after=stale_after)
    return {row.id: row for row in rows}


async def test_a_heartbeat_is_kept_and_listed_latest_only(world: World, tmp_path: Path) -> None:
    device = await world.enroll(room="r1")
    response = await beat(world, device, facts(tmp_path, pending=3))
    assert response.status_code == 204, response.text
    response = await beat(world, device, facts(tmp_path, pending=1))
    assert response.status_code == 204
    assert await world.count("device_health") == 1

    row = (await fleet(world))[device.id]
    assert (row.kind, row.scope, row.site_id) == ("panel", "room:r1", "alpha")
    assert row.version and row.pending == 1 and row.last_error is None
    assert row.facts["display"] == "on" and row.facts["cpu_temp_celsius"] == 48.3
    assert row.flags == ()
    assert row.last_seen is not None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"subject": "Board meeting"}, "subject"),
        ({"pending": "3"}, "pending"),
        ({"pending": -1}, "pending"),
        ({"last_error": "central refused (400): Anna's booking"}, "last_error"),
        ({"presence": {"scanner_running": True, "adapter_ok": True, "mac": "aa"}}, "mac"),
        ({"version": "1.0; DROP TABLE"}, "version"),
        ({"cpu_temp_celsius": float("nan")}, None),
    ],
)
async def test_a_heartbeat_outside_the_schema_is_refused_naming_the_field(
    world: World, tmp_path: Path, body: dict[str, Any], named: str | None
) -> None:
    device = await world.enroll(room="r1")
    content = json.dumps(facts(tmp_path, **body)).replace("NaN", "1e999")
    response = await world.client.put(
        "/v1/heartbeat",
        content=content,
        headers={**device.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    if named:
        assert named in response.json()["detail"]
    assert await world.count("device_health") == 0


async def test_a_heartbeat_needs_a_token_and_a_small_body(world: World, tmp_path: Path) -> None:
    device = await world.enroll(room="r1")
    assert (await world.client.put("/v1/heartbeat", json=facts(tmp_path))).status_code == 401
    big = facts(tmp_path, version="1" * 40)
    big["padding"] = "x" * 5000
    assert (await beat(world, device, big)).status_code == 413
    missing = facts(tmp_path)
    del missing["pending"]
    response = await beat(world, device, missing)
    assert response.status_code == 400 and "pending" in response.json()["detail"]


@pytest.mark.parametrize(
    "trouble",
    [
        {"rejected": 2},
        {"quarantined": 1},
        {"oldest_pending_age_seconds": 3600.0},
        {"last_error": "unreachable"},
        {"disk_free_bytes": 10 * 1024 * 1024},
        {"cpu_temp_celsius": 85.0},
        {"presence": {"scanner_running": False, "adapter_ok": False, "state": "fault"}},
    ],
)
async def test_trouble_in_a_heartbeat_flags_the_device_unhealthy(
    world: World, tmp_path: Path, trouble: dict[str, Any]
) -> None:
    sick, well = await world.enroll(room="r1"), await world.enroll(room="r2")
    assert (await beat(world, sick, facts(tmp_path, **trouble))).status_code == 204
    assert (await beat(world, well, facts(tmp_path))).status_code == 204
    rows = await fleet(world)
    assert rows[sick.id].flags == ("UNHEALTHY",)
    assert rows[well.id].flags == ()


async def test_a_device_not_heard_from_is_stale_by_the_chosen_age(
    world: World, tmp_path: Path
) -> None:
    device = await world.enroll(room="r1")
    assert (await beat(world, device, facts(tmp_path))).status_code == 204
    async with world.pool.connection() as conn:
        await conn.execute(
            "UPDATE devices SET last_seen_at = now() - interval '20 minutes' WHERE id = %s",
            [device.id],
        )
        await conn.execute(
            "UPDATE device_health SET received_at = now() - interval '20 minutes'"
            " WHERE device_id = %s",
            [device.id],
        )
    assert (await fleet(world))[device.id].flags == ("STALE",)
    assert (await fleet(world, timedelta(minutes=30)))[device.id].flags == ()


async def test_a_ghost_is_flagged_and_removed_a_synced_device_is_not(
    world: World, tmp_path: Path
) -> None:
    ghost = await world.enroll(room="r1")  # enrolled, never used its token
    synced = await world.enroll(room="r2")
    assert (await beat(world, synced, facts(tmp_path))).status_code == 204
    rows = await fleet(world)
    assert "GHOST" in rows[ghost.id].flags and "STALE" in rows[ghost.id].flags
    assert "GHOST" not in rows[synced.id].flags

    from central.errors import BadRequest, NotFound

    with pytest.raises(BadRequest, match="revoke it instead"):
        await remove_ghost(world.pool, synced.id)
    await remove_ghost(world.pool, ghost.id)
    assert set(await fleet(world)) == {synced.id}
    with pytest.raises(NotFound):
        await remove_ghost(world.pool, ghost.id)


def central_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapin", "central", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TAPIN_CENTRAL_DSN": dsn},
    )


async def test_the_cli_lists_removes_revokes_and_queues(
    world: World, db: str, tmp_path: Path
) -> None:
    ghost = await world.enroll(room="r1")
    panel = await world.enroll(room="r2")
    kiosk = await world.enroll(lobby="l1")
    assert (await beat(world, panel, facts(tmp_path, rejected=1))).status_code == 204
    assert (await beat(world, kiosk, facts(tmp_path))).status_code == 204

    listed = central_cli(db, "devices", "--json")
    assert listed.returncode == 0, listed.stderr
    data = {d["id"]: d for d in json.loads(listed.stdout)["devices"]}
    assert data[panel.id]["flags"] == ["UNHEALTHY"] and data[panel.id]["scope"] == "room:r2"
    assert data[kiosk.id]["flags"] == [] and data[kiosk.id]["kind"] == "kiosk"
    assert data[kiosk.id]["health"]["display"] == "on"
    assert "GHOST" in data[ghost.id]["flags"]

    table = central_cli(db, "devices", "--site", "alpha")
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.startswith(panel.id))
    assert "UNHEALTHY" in line and "room:r2" in line and "ago" in line
    assert "UNHEALTHY:" in table.stderr  # the rules, said once
    assert central_cli(db, "devices", "--site", "nowhere").returncode == 1
    bad = central_cli(db, "devices", "--stale-after", "soon")
    assert bad.returncode == 2 and "soon" in bad.stderr and "Traceback" not in bad.stderr

    refused = central_cli(db, "devices", "remove", panel.id)
    assert refused.returncode == 1 and "revoke" in refused.stderr
    removed = central_cli(db, "devices", "remove", ghost.id)
    assert removed.returncode == 0, removed.stderr
    assert await world.count("devices", "id = %s", ghost.id) == 0

    queued = central_cli(db, "command", panel.id, "restart")
    assert queued.returncode == 0, queued.stderr
    commands = (await world.client.get("/v1/commands", headers=panel.headers)).json()["commands"]
    assert [c["kind"] for c in commands] == ["restart"]
    for args, status in (
        (("command", panel.id, "explode"), 2),
        (("command", "dev-nobody", "restart"), 1),
        (("command", panel.id, "reconfigure", "--args", "{not json"), 2),
        (("command", panel.id, "reconfigure", "--args", '{"screen": 1}'), 1),
    ):
        result = central_cli(db, *args)
        assert result.returncode == status, (args, result.stderr)
        assert "Traceback" not in result.stderr

    assert central_cli(db, "revoke", kiosk.id).returncode == 0
    data = {d["id"]: d for d in json.loads(central_cli(db, "devices", "--json").stdout)["devices"]}
    assert data[kiosk.id]["flags"] == ["REVOKED"] and data[kiosk.id]["revoked"] is True
    revoked = central_cli(db, "command", kiosk.id, "restart")
    assert revoked.returncode == 1 and "revoked" in revoked.stderr


async def test_an_ack_carries_a_result_and_an_old_ack_still_works(world: World) -> None:
    from central.commands import queue_command

    device = await world.enroll(room="r1")
    async with world.pool.connection() as conn:
        first = await queue_command(conn, device.id, "restart")
        second = await queue_command(conn, device.id, "reconfigure", {"config": {"x": {}}})
    response = await world.client.post(f"/v1/commands/{first}/ack", headers=device.headers)
    assert response.status_code == 200 and response.json()["first_time"] is True
    response = await world.client.post(
        f"/v1/commands/{second}/ack",
        json={"result": "refused", "detail": "x: unknown section"},
        headers=device.headers,
    )
    assert response.status_code == 200
    bad = await world.client.post(
        f"/v1/commands/{second}/ack", json={"result": "maybe"}, headers=device.headers
    )
    assert bad.status_code == 400
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, result, result_detail FROM device_commands ORDER BY id"
        )
        rows = await cur.fetchall()
    assert rows == [(first, "done", None), (second, "refused", "x: unknown section")]


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_a_rotation_switches_key_and_token_only_when_confirmed(world: World) -> None:
    code = await create_enrollment_code(world.pool, room_id="r1")
    old = Ed25519PrivateKey.generate()
    enrolled = (await world.client.post("/v1/enroll", json=enroll_body(code.code, old))).json()
    device_id, old_token = enrolled["device_id"], enrolled["token"]
    old_headers = {"Authorization": f"Bearer {old_token}"}
    new = Ed25519PrivateKey.generate()
    message = rotation_message(device_id, raw(new))

    stranger = Ed25519PrivateKey.generate()
    forged = {
        "public_key": b64(raw(new)),
        "old_signature": b64(stranger.sign(message)),
        "new_signature": b64(new.sign(message)),
    }
    assert (
        await world.client.post("/v1/rotate", json=forged, headers=old_headers)
    ).status_code == 403

    body = {**forged, "old_signature": b64(old.sign(message))}
    response = await world.client.post("/v1/rotate", json=body, headers=old_headers)
    assert response.status_code == 200, response.text
    new_headers = {"Authorization": f"Bearer {response.json()['token']}"}
    # not confirmed yet: the old token still works, the new one not yet
    assert (await world.client.get("/v1/commands", headers=old_headers)).status_code == 200
    assert (await world.client.get("/v1/commands", headers=new_headers)).status_code == 401

    confirm = {"signature": b64(new.sign(confirm_message(device_id, raw(new))))}
    wrong = {"signature": b64(old.sign(confirm_message(device_id, raw(new))))}
    assert (
        await world.client.post("/v1/rotate/confirm", json=wrong, headers=old_headers)
    ).status_code == 403
    response = await world.client.post("/v1/rotate/confirm", json=confirm, headers=old_headers)
    assert response.status_code == 200, response.text
    assert (await world.client.get("/v1/commands", headers=old_headers)).status_code == 401
    assert (await world.client.get("/v1/commands", headers=new_headers)).status_code == 200
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT public_key FROM devices WHERE id = %s", [device_id])
        row = await cur.fetchone()
    assert row is not None and bytes(row[0]) == raw(new)

"""Remote commands carried out end to end: a real central process (PostgreSQL, TLS,
uvicorn), devices enrolled with ``tapin enroll``, the device's own sync code in-process
or ``tapin agent`` as its own process, commands queued with ``tapin central command``.

Heartbeats reach central and are listed; reconfigure (good: written, restart asked; bad:
refused saying why, nothing changed); rotate_keys (the old token 401, the new one works,
the queue keeps delivering); decommission (pending events uploaded first, then state
gone, the process stops and stays stopped); restart (the process exits with the restart
status, the queue survives and delivers)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from central.local import Device, LocalCentral
from sync.client import CentralClient, NotAuthorised
from sync.identity import load_identity
from sync.queue import SealedQueue
from tapin.config import load_config
from tapin.device.commands import EXIT_DECOMMISSIONED, EXIT_RESTART, ExitRequest
from tapin.device.runtime import empty_runtime
from tapin.device.services import DeviceSync, open_device_sync
from tests.e2e.conftest import count

pytestmark = [pytest.mark.pg, pytest.mark.slow]

APPLIED = "SELECT count(*) FROM issue_reports WHERE device_id = %s"


def enqueue_reports(device: Device, n: int) -> list[str]:
    identity = load_identity(device.state_dir)
    queue = SealedQueue(
        device.state_dir / "queue.db", identity.sealing_key(), device_id=identity.device_id
    )
    try:
        return [
            queue.enqueue(
                "issue.report",
                f"room:{device.room}",
                {"report_id": str(uuid.uuid4()), "category": "display", "text": f"flicker {i}"},
            ).id
            for i in range(n)
        ]
    finally:
        queue.close()


def queue_command(central: LocalCentral, device: Device, kind: str, args: Any = None) -> None:
    extra = ["--args", json.dumps(args)] if args is not None else []
    identity = load_identity(device.state_dir)
    central.central("command", identity.device_id, kind, *extra)


@pytest.fixture(scope="module")
def central(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    """One real central for this module (each test enrolls devices of its own)."""
    from tests import pg

    with pg.throwaway_database() as dsn:
        server = LocalCentral(dsn, tmp_path_factory.mktemp("central")).prepare().start()
        try:
            yield server
        finally:
            server.stop()


def command_results(
    central: LocalCentral, device_id: str
) -> list[tuple[str, str | None, str | None]]:
    import psycopg

    with psycopg.connect(central.dsn) as conn:
        rows = conn.execute(
            "SELECT kind, result, result_detail FROM device_commands WHERE device_id = %s"
            " ORDER BY id",
            [device_id],
        ).fetchall()
    return [(str(k), r, d) for k, r, d in rows]


async def open_sync(device: Device) -> tuple[DeviceSync, list[ExitRequest]]:
    config = load_config(device.config)
    sync = await open_device_sync(config, empty_runtime(config))
    asked: list[ExitRequest] = []
    sync.on_exit = asked.append
    return sync, asked


def agent(device: Device, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``tapin agent`` as its own process, until it exits (it must, by a command)."""
    return subprocess.run(
        [sys.executable, "-m", "tapin", "agent", "--config", str(device.config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def test_a_heartbeat_reaches_central_and_is_listed(central: LocalCentral) -> None:
    device = central.enroll("panel-1", room="aurora")
    enqueue_reports(device, 2)
    sync, _ = await open_sync(device)
    try:
        assert await sync.heartbeat()
    finally:
        await sync.close()
    listed = json.loads(central.central("devices", "--json").stdout)["devices"]
    (row,) = [d for d in listed if d["id"] == sync.identity.device_id]
    assert row["pending"] == 2 and row["version"] and row["flags"] == []
    assert row["health"]["oldest_pending_age_seconds"] is not None
    assert set(row["health"]) >= {
        "display",
        "disk_free_bytes",
        "cpu_temp_celsius",
        "uptime_seconds",
    }


async def test_reconfigure_good_is_written_and_restarts_bad_is_refused_saying_why(
    central: LocalCentral,
) -> None:
    device = central.enroll("panel-2", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    enqueue_reports(device, 3)
    before = device.config.read_bytes()

    queue_command(central, device, "reconfigure", {"config": {"screen": {"dim_level": 500}}})
    queue_command(central, device, "reconfigure", {"config": {"device": {"room": "skog"}}})
    sync, asked = await open_sync(device)
    try:
        assert await sync.handle_commands() == 2
        assert asked == []  # nothing applied: no restart
        assert device.config.read_bytes() == before
        refused = command_results(central, device_id)
        assert [r[1] for r in refused] == ["refused", "refused"]
        assert "screen.dim_level" in str(refused[0][2]) and str(device.config) in str(refused[0][2])
        assert "[device]" in str(refused[1][2])

        queue_command(
            central,
            device,
            "reconfigure",
            {"config": {"screen": {"dim_level": 40, "office_hours": "08:00-18:00"}}},
        )
        assert await sync.handle_commands() == 1
        assert [a.status for a in asked] == [EXIT_RESTART]
        assert command_results(central, device_id)[-1][1] == "done"
    finally:
        await sync.close()
    config = load_config(device.config)  # what the restarted process reads
    assert config.screen.dim_level == 40 and config.room == "aurora"
    assert f"{config.screen.office_start:%H:%M}" == "08:00"
    # the queue was not touched: the restarted agent delivers every event
    assert agent(device, "--once").returncode == 0
    assert count(central.dsn, APPLIED, load_identity(device.state_dir).device_id) == 3


async def test_rotate_keys_old_token_refused_new_one_works_queue_delivers(
    central: LocalCentral,
) -> None:
    device = central.enroll("panel-3", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    old = load_identity(device.state_dir)
    old_key = (device.state_dir / "credentials" / "device.key").read_bytes()
    enqueue_reports(device, 4)
    queue_command(central, device, "rotate_keys")

    sync, asked = await open_sync(device)
    try:
        assert await sync.handle_commands() == 1
        assert asked == []
        new = load_identity(device.state_dir)
        assert new.token != old.token and new.device_id == old.device_id
        assert (device.state_dir / "credentials" / "device.key").read_bytes() != old_key
        assert not (device.state_dir / "credentials" / "rotation.json").exists()
        assert await sync.agent.drain(force=True) == 4  # the same client, the new token
    finally:
        await sync.close()
    assert count(central.dsn, APPLIED, old.device_id) == 4
    assert command_results(central, device_id) == [("rotate_keys", "done", None)]

    ca = str(central.pki.ca_file)
    async with CentralClient(central.url, token=old.token, ca_file=ca, timeout=5) as stale:
        with pytest.raises(NotAuthorised):
            await stale.commands()
    async with CentralClient(central.url, token=new.token, ca_file=ca, timeout=5) as fresh:
        assert await fresh.commands() == []
    # a new process with the stored identity syncs
    enqueue_reports(device, 1)
    assert agent(device, "--once").returncode == 0
    assert count(central.dsn, APPLIED, old.device_id) == 5


async def test_a_rotation_stopped_half_way_finishes_at_the_next_start(
    central: LocalCentral,
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sync.identity import load_signing_key, save_rotation
    from tapin.device.commands import _b64, _raw, rotation_message

    device = central.enroll("panel-4", room="aurora")
    old = load_identity(device.state_dir)
    new_key = Ed25519PrivateKey.generate()
    message = rotation_message(old.device_id, _raw(new_key))
    sync, _ = await open_sync(device)
    try:  # step 1 done and kept, then the process "died" before confirming
        token = await sync.client.rotate(
            {
                "public_key": _b64(_raw(new_key)),
                "old_signature": _b64(load_signing_key(device.state_dir).sign(message)),
                "new_signature": _b64(new_key.sign(message)),
            }
        )
        save_rotation(device.state_dir, token, new_key)
    finally:
        await sync.close()
    enqueue_reports(device, 2)
    assert agent(device, "--once").returncode == 0
    assert load_identity(device.state_dir).token == token
    assert count(central.dsn, APPLIED, old.device_id) == 2


def test_decommission_uploads_what_is_pending_then_wipes_and_stays_stopped(
    central: LocalCentral,
) -> None:
    device = central.enroll("panel-5", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    enqueue_reports(device, 5)
    queue_command(central, device, "decommission")

    result = agent(device)
    assert result.returncode == EXIT_DECOMMISSIONED, result.stderr[-2000:]
    assert count(central.dsn, APPLIED, device_id) == 5  # uploaded before the wipe
    left = sorted(p.name for p in device.state_dir.iterdir())
    assert left == ["decommissioned", "tapin.toml"]
    assert command_results(central, device_id) == [
        ("decommission", "done", "queue drained; wiping and stopping")
    ]
    assert (
        count(
            central.dsn,
            "SELECT count(*) FROM devices WHERE id = %s AND revoked_at IS NOT NULL",
            device_id,
        )
        == 1
    )

    again = agent(device, timeout=30)  # systemd starting it again: a clear word, no loop
    assert again.returncode == EXIT_DECOMMISSIONED
    assert "decommissioned" in again.stderr and "enroll" in again.stderr
    assert "Traceback" not in again.stderr


def test_restart_exits_with_the_restart_status_and_the_queue_survives(
    central: LocalCentral,
) -> None:
    device = central.enroll("panel-6", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    ids = enqueue_reports(device, 6)
    queue_command(central, device, "restart")

    result = agent(device)
    assert result.returncode == EXIT_RESTART, result.stderr[-2000:]
    assert command_results(central, device_id) == [("restart", "done", None)]
    identity = load_identity(device.state_dir)  # credentials untouched
    assert identity.device_id == device_id
    queue = SealedQueue(device.state_dir / "queue.db", identity.sealing_key(), device_id=device_id)
    try:
        waiting = queue.counts().pending
    finally:
        queue.close()
    assert waiting + count(central.dsn, APPLIED, device_id) == len(ids)  # none lost
    assert agent(device, "--once").returncode == 0  # the restarted process delivers the rest
    assert count(central.dsn, APPLIED, device_id) == len(ids)


def test_a_panel_asked_to_restart_closes_its_queue_and_exits_with_the_status(
    central: LocalCentral,
) -> None:
    import os

    device = central.enroll("panel-7", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    enqueue_reports(device, 2)
    queue_command(central, device, "restart")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "panel",
            "--config",
            str(device.config),
            "--exit-after",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1"},
    )
    assert result.returncode == EXIT_RESTART, result.stderr[-3000:]
    assert command_results(central, device_id) == [("restart", "done", None)]
    assert agent(device, "--once").returncode == 0  # the queue was closed cleanly, and delivers
    assert count(central.dsn, APPLIED, device_id) == 2


def _app_process(device: Any, role: str) -> subprocess.CompletedProcess[str]:
    """``tapin panel`` / ``tapin kiosk`` as its own offscreen process (a command ends it
    long before the 60 s are up)."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "tapin", role, "--config", str(device.config), "--exit-after", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1"},
    )


def test_a_panel_asked_to_decommission_stops_cleanly_wiped_and_stays_stopped(
    central: LocalCentral,
) -> None:
    device = central.enroll("panel-8", room="aurora")
    device_id = load_identity(device.state_dir).device_id
    enqueue_reports(device, 3)
    queue_command(central, device, "decommission")
    result = _app_process(device, "panel")
    assert result.returncode == EXIT_DECOMMISSIONED, result.stderr[-3000:]
    # the app stopped and the process returned its status (no os._exit): the clean path
    # says so, after the wipe ran
    assert "exiting with status 78" in result.stderr
    assert "Traceback" not in result.stderr
    assert count(central.dsn, APPLIED, device_id) == 3  # uploaded before the wipe
    assert sorted(p.name for p in device.state_dir.iterdir() if p.name != "kivy") == [
        "decommissioned",
        "tapin.toml",
    ]


def test_a_kiosk_asked_to_restart_stops_cleanly_with_the_restart_status(
    central: LocalCentral,
) -> None:
    device = central.enroll("kiosk-9", lobby="lobby-main")
    device_id = load_identity(device.state_dir).device_id
    queue_command(central, device, "restart")
    result = _app_process(device, "kiosk")
    assert result.returncode == EXIT_RESTART, result.stderr[-3000:]
    assert "exiting with status 75" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    assert command_results(central, device_id) == [("restart", "done", None)]
    assert load_identity(device.state_dir).device_id == device_id  # credentials kept

"""The device's health facts from /sys-shaped folders: display on/off/unknown, CPU
temperature, uptime, disk free, queue ages, the last error as a code (never its text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.agent import SyncStatus
from sync.queue import QueueCounts
from tapin.device.health import (
    ERROR_CODES,
    SysPaths,
    collect,
    cpu_temperature,
    display_state,
    error_code,
    presence_health,
)


def sys_paths(root: Path) -> SysPaths:
    return SysPaths(
        backlight=root / "backlight",
        drm=root / "drm",
        thermal=root / "thermal_zone0" / "temp",
        uptime=root / "uptime",
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("files", "state"),
    [
        ({}, "unknown"),
        ({"backlight/rpi/bl_power": "0\n", "backlight/rpi/brightness": "255\n"}, "on"),
        ({"backlight/rpi/bl_power": "4\n", "backlight/rpi/brightness": "255\n"}, "off"),
        ({"backlight/rpi/bl_power": "0\n", "backlight/rpi/brightness": "0\n"}, "off"),
        (
            {"drm/card1-HDMI-A-1/status": "connected\n", "drm/card1-HDMI-A-1/enabled": "enabled"},
            "on",
        ),
        (
            {"drm/card1-HDMI-A-1/status": "connected\n", "drm/card1-HDMI-A-1/dpms": "Off\n"},
            "off",
        ),
        ({"drm/card1-HDMI-A-1/status": "disconnected\n"}, "unknown"),
    ],
)
def test_the_display_state_follows_backlight_then_drm(
    tmp_path: Path, files: dict[str, str], state: str
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    assert display_state(sys_paths(tmp_path)) == state


def test_temperature_uptime_and_disk_come_from_the_given_paths(tmp_path: Path) -> None:
    paths = sys_paths(tmp_path)
    assert cpu_temperature(paths.thermal) is None
    write(paths.thermal, "61234\n")
    write(paths.uptime, "3600.52 7000.00\n")
    health = collect(state_dir=tmp_path, paths=paths)
    assert health.cpu_temp_celsius == 61.2
    assert health.system_uptime_seconds == 3600.52
    assert health.disk_free_bytes is not None and health.disk_free_bytes > 0
    assert collect(state_dir=tmp_path / "gone", paths=paths).disk_free_bytes is None


def test_queue_facts_and_the_last_error_as_a_code_only(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    counts = QueueCounts(
        pending=4, inflight=1, rejected=2, quarantined=1, oldest_pending=now - timedelta(hours=1)
    )
    status = SyncStatus(
        device_id="dev-1",
        reachable=False,
        last_error="central refused (409): Anna Andersson's booking clashes",
        trouble="refused",  # what sync.agent.trouble_code says of a Refused
    )
    health = collect(counts=counts, status=status, paths=sys_paths(tmp_path), now=now)
    body = health.to_json()
    assert (body["pending"], body["inflight"], body["rejected"], body["quarantined"]) == (
        4,
        1,
        2,
        1,
    )
    assert body["oldest_pending_age_seconds"] == 3600.0
    assert body["last_error"] == "refused" and "Anna" not in str(body)
    assert "presence" not in body  # this device does not scan


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (None, None),
        ("central unreachable: ConnectError: [Errno 111]", "unreachable"),
        ("central does not accept this device (401): revoked", "not_authorised"),
        ("central answered 502", "server_trouble"),
        ("snapshot(s) not applied on this device: calendar", "snapshot_not_applied"),
        ("something new", "other"),
    ],
)
def test_every_error_message_maps_to_a_known_code(message: str | None, code: str | None) -> None:
    assert error_code(message) == code
    assert code is None or code in ERROR_CODES


def test_presence_health_reads_the_scanner_without_personal_data() -> None:
    class Health:
        state = "fault"

    class Scanner:
        health = Health()
        _last_heard = 100.0

        @staticmethod
        def _clock() -> float:
            return 130.0

    class Service:
        scanner = Scanner()
        scanning = True
        problem = None

    facts = presence_health(Service())
    assert facts is not None
    assert facts.scanner_running and not facts.adapter_ok and facts.state == "fault"
    assert facts.last_advertisement_age_seconds == 30.0
    assert presence_health(None) is None


async def test_the_agents_own_verdict_is_the_code_not_its_message(tmp_path: Path) -> None:
    """A real agent's failed exchange (nothing listens where central should be): the code
    is the agent's ``trouble``, whatever its message says."""
    import socket

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from sync.agent import SyncAgent
    from sync.client import CentralClient
    from sync.queue import AsyncSealedQueue

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = AsyncSealedQueue(tmp_path / "q.db", X25519PrivateKey.generate().public_key())
    await queue.open()
    client = CentralClient(f"http://127.0.0.1:{port}", token="t")
    agent = SyncAgent(queue, client, tmp_path, device_id="dev-1", snapshot_requests={"rooms": {}})
    try:
        assert not await agent.refresh(force=True)
    finally:
        await client.aclose()
        await queue.close()
    assert agent.status.trouble == "unreachable"
    assert collect(status=agent.status, paths=sys_paths(tmp_path)).last_error == "unreachable"
    # the verdict wins over a message that reads like another code
    told = SyncStatus(device_id="d", last_error="central refused (409): x", trouble="certificate")
    assert collect(status=told, paths=sys_paths(tmp_path)).last_error == "certificate"
    # after a success only unapplied snapshots are left to say
    applied = SyncStatus(device_id="d", last_error="snapshot(s) not applied on this device: rooms")
    assert collect(status=applied, paths=sys_paths(tmp_path)).last_error == "snapshot_not_applied"

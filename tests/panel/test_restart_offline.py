"""A panel restarted while central is down still shows free/busy with times.

End to end with real parts: a real central (PostgreSQL, TLS, its own process), a panel
enrolled with ``tapin enroll`` and run as ``tapin panel`` twice. The first run receives
central's snapshots and keeps today's availability on disk; central is stopped; the
second run renders the room Busy (or Free) from that copy instead of "No calendar", and
no file the panel wrote names a meeting subject, a person or a meeting id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from central.local import Device, LocalCentral
from tapin.device.availability import AVAILABILITY_FILE
from tapin.ui.theme import PALETTE
from tests.tapin.hardware.test_camera import read_png

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]

STATUS_BLOCK = (465, 160)
"""A pixel of the status block's background (its right edge, beside the state word)."""


def run_panel(device: Device, png: Path, seconds: float) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "--log-level",
            "INFO",
            "panel",
            "--config",
            str(device.config),
            "--screenshot",
            str(png),
            "--exit-after",
            str(seconds),
        ],
        capture_output=True,
        timeout=120,
        env=env,
    )


def colour(name: str) -> tuple[int, int, int]:
    hex_ = PALETTE[name].lstrip("#")
    return (int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16))


def pixel(png: Path, x: int, y: int) -> tuple[int, int, int]:
    width, _, rgb = read_png(png.read_bytes())
    at = (y * width + x) * 3
    return (rgb[at], rgb[at + 1], rgb[at + 2])


def expected_state(copy: dict[str, Any], room: str, now: datetime) -> str:
    spans = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in copy["busy"][room]]
    if any(start <= now < end for start, end in spans):
        return "busy"
    if any(now < start <= now + timedelta(minutes=10) for start, _ in spans):
        return "starting_soon"
    return "free"


def personal(dsn: str) -> set[str]:
    """Every subject, name, email, person id and meeting id central holds."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, subject, organiser_id FROM meetings"
            " UNION ALL SELECT id, name, email FROM people"
        ).fetchall()
    return {value for row in rows for value in row if isinstance(value, str) and value}


def test_restarted_while_central_is_down_the_panel_shows_busy_or_free_from_disk(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = central.enroll("panel", room="aurora")
    online = run_panel(device, tmp_path / "online.png", 6)
    assert online.returncode == 0, online.stderr.decode()[-3000:]
    copy_file = device.state_dir / AVAILABILITY_FILE
    assert copy_file.is_file(), online.stderr.decode()[-3000:]

    central.stop()
    offline_png = tmp_path / "offline.png"
    started = datetime.now(UTC)
    offline = run_panel(device, offline_png, 3)
    assert offline.returncode == 0, offline.stderr.decode()[-3000:]
    log = offline.stdout + offline.stderr
    assert b"offline availability copy of" in log and b"restored" in log, log[-3000:]
    status = json.loads((device.state_dir / "status.json").read_text())
    assert status["reachable"] is False  # it really ran without central

    copy = json.loads(copy_file.read_text())
    state = expected_state(copy, "aurora", started + timedelta(seconds=2))
    seen = pixel(offline_png, *STATUS_BLOCK)
    assert seen == colour(state), f"status block is {seen}, expected {state} {colour(state)}"
    assert seen != colour("unavailable")

    secrets = personal(central.dsn)
    assert len(secrets) > 30  # the demo's meetings and people really are there
    wordy = [s for s in secrets if sum(c.isalpha() for c in s) >= 4]  # "1:1" is in any time
    files = [p for p in device.state_dir.rglob("*") if p.is_file()]
    assert copy_file in files
    for path in files:
        data = path.read_bytes()
        for secret in wordy:
            assert secret.encode() not in data, f"{path.name} carries {secret!r}"
    for secret in wordy:
        assert secret.encode() not in log, f"the log carries {secret!r}"

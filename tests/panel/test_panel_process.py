"""The demo panel as a process: it renders a PNG without a display, and leaves no
meeting subject or personal data in any file it writes or in its log."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tapin.demo.site import demo_meetings, demo_site

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def run_demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    return subprocess.run(
        [sys.executable, "-m", "tapin", "--log-level", "DEBUG", "panel", "--demo", *extra],
        capture_output=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_screenshot_without_display_and_nothing_personal_on_disk_or_in_logs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.png"
    result = run_demo(tmp_path, "--screenshot", str(out), "--exit-after", "1.5")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 800 and int.from_bytes(png[20:24], "big") == 480

    site = demo_site()
    today = datetime.now(site.timezone).date()
    secrets = {m.subject for m in demo_meetings(site, today, now=datetime.now(UTC))}
    for person in site.people:
        secrets |= {person.name, person.email, person.phone}
    state_files = [p for p in (tmp_path / "xdg").rglob("*") if p.is_file()]
    state_files += [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert (tmp_path / "xdg" / "tapin-demo").is_dir()
    log = result.stdout + result.stderr
    assert b"demo calendar built" in log  # the log is really there and was read
    for secret in secrets:
        needle = secret.encode()
        assert needle not in log, f"log carries {secret!r}"
        for path in state_files:
            assert needle not in path.read_bytes(), f"{path} carries {secret!r}"


def test_sizes_and_portrait(tmp_path: Path) -> None:
    out = tmp_path / "portrait.png"
    result = run_demo(tmp_path, "--size", "480x800", "--screenshot", str(out), "--exit-after", "1")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    png = out.read_bytes()
    assert int.from_bytes(png[16:20], "big") == 480 and int.from_bytes(png[20:24], "big") == 800

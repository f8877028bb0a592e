"""The tour renders every screen and state to numbered PNGs, offscreen, and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panel.tour import STEPS

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.mark.parametrize(
    ("size", "locale"),
    [
        ("800x480", "en_GB"),
        ("800x480", "sv_SE"),
        ("480x800", "sv_SE"),
        ("1024x600", "en_US"),
        ("1280x800", "sv_SE"),
    ],
)
def test_tour_writes_every_step_with_every_button_label_whole(
    tmp_path: Path, size: str, locale: str
) -> None:
    """Every screen and state, at every supported size and in both languages; the tour
    exits 1 naming the button when a label is shortened or does not fit."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "xdg"))
    out = tmp_path / "tour"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "panel",
            "--demo",
            "--size",
            size,
            "--locale",
            locale,
            "--tour",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pngs = sorted(out.glob("*.png"))
    names = [p.name for p in pngs]
    assert names[0] == "01-free.png"
    status_steps = [
        s.name for s in STEPS if s.name not in ("find-room", "report", "admin-pin", "admin")
    ]
    for step in status_steps:
        assert any(n.endswith(f"-{step}.png") for n in names), step
    width, height = (int(v) for v in size.split("x"))
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (
            width,
            height,
        )


def test_tour_needs_the_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "panel",
            "--tour",
            str(tmp_path),
            "--config",
            str(tmp_path / "none.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr

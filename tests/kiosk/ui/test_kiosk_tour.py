"""``tapin kiosk --demo --tour DIR`` renders every kiosk screen and state to numbered
PNGs, offscreen, and exits 0 (1 naming the button when a label is cut)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.tour import STEPS

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.mark.parametrize(("size", "locale"), [("1280x800", "en_GB"), ("800x1280", "sv_SE")])
def test_the_tour_writes_every_step_with_every_button_label_whole(
    tmp_path: Path, size: str, locale: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "xdg"))
    out = tmp_path / "tour"
    command = [sys.executable, "-m", "tapin", "--log-level", "WARNING", "kiosk", "--demo"]
    result = subprocess.run(
        [*command, "--size", size, "--locale", locale, "--tour", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in out.glob("[0-9]*.png"))
    assert names == [f"{n:02d}-{s.name}.png" for n, s in enumerate(STEPS, start=1)]
    from PIL import Image

    with Image.open(out / "01-welcome.png") as first:
        assert first.size == tuple(int(v) for v in size.split("x"))
    badge = out / "badge-label.png"  # the printed badge, as the printer got it
    assert badge.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shots = {(out / n).read_bytes() for n in names}
    assert len(shots) == len(names)  # every state looks different

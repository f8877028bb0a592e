"""``tapin panel --demo`` as a process: its first frame is drawn before the secondary
screens, the device services and the libraries behind them are imported, and the
services do open just after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]

LATER = (
    "tapin.ui.screens.find_room",
    "tapin.ui.screens.report",
    "tapin.ui.screens.admin_pin",
    "tapin.ui.screens.admin",
    "tapin.device.services",
    "apscheduler",
    "httpx",
    "babel",
)
"""Not needed to draw an English demo panel's first frame."""
PANEL_ARGS = ("--log-level", "WARNING", "panel", "--demo", "--exit-after", "2")

CHILD = """
import importlib.abc, importlib.util, sys

LATER = {later!r}
seen = {{}}


class AtTheFirstFrame(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "kivy.core.window":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)

            def first(*_):
                module.Window.unbind(on_flip=first)
                seen["first"] = [m for m in LATER if m in sys.modules]

            module.Window.bind(on_flip=first)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, AtTheFirstFrame())
from tapin.cli import main

code = main(sys.argv[1:])
print("FIRST", *seen.get("first", ["no-frame"]))
print("END", *[m for m in LATER if m in sys.modules])
sys.exit(code)
"""


def test_first_frame_before_screens_and_services_which_open_right_after(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(later=LATER), *PANEL_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert lines["FIRST"] == []  # drawn with none of them
    assert {"tapin.device.services", "apscheduler"} <= set(lines["END"])  # opened after
    assert (tmp_path / "xdg" / "tapin-demo" / "demo-queue.db").is_file()


FAILING = """
import sys
import time

import tapin.device.services as services
from sync.queue import QueueError


async def refuse(*args, **kwargs):
    raise QueueError("the demo queue is unusable")


services.DeviceServices.open = refuse
from tapin.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_services_failing_after_the_first_frame_end_the_panel_with_the_error(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", FAILING, "--log-level", "WARNING", "panel", "--demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2, result.stderr[-2000:]  # a usage-class error, as before
    assert "tapin: error: the demo queue is unusable" in result.stderr
    assert time.monotonic() - started < 60  # the panel stopped by itself

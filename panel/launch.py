"""Start the panel: a window, or offscreen rendering to a PNG and exit.

This module does not import Kivy at import time; :func:`run_panel` prepares Kivy's
environment first.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from tapin.runtime import Runtime
from tapin.ui.kivyenv import has_display, prepare_kivy

__all__ = ["run_panel"]

log = logging.getLogger(__name__)


def run_panel(
    runtime: Runtime,
    room_id: str,
    *,
    size: tuple[int, int],
    screenshot: Path | None = None,
    exit_after: float | None = None,
) -> int:
    """Run the panel until closed, or until ``exit_after`` seconds (then screenshot).

    Without a display the panel renders offscreen. Returns the process exit code.
    """
    offscreen = not has_display()
    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=offscreen)

    from kivy.clock import Clock

    from panel.app import PanelApp
    from tapin.ui.snapshot import grab, write_png

    app = PanelApp(runtime, room_id)

    def finish(_dt: float) -> None:
        if screenshot is not None:
            write_png(screenshot, grab())
            log.info("screenshot written to %s", screenshot)
        app.stop()

    if exit_after is not None:
        Clock.schedule_once(finish, exit_after)
    asyncio.run(app.async_run(async_lib="asyncio"))
    return 0

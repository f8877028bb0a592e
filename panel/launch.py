"""Start the panel: a window, or offscreen rendering to a PNG and exit.

This module does not import Kivy at import time; :func:`run_panel` prepares Kivy's
environment first.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from tapin.device.runtime import Runtime
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

    The device's services (:class:`tapin.device.services.DeviceServices`: the queue and
    its sync or the demo's stand-in central, presence, the control socket, the jobs)
    run in the same asyncio loop as Kivy. Without a display the panel renders
    offscreen. Returns the process exit code.
    """
    offscreen = not has_display()
    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=offscreen)

    from kivy.clock import Clock

    from panel.app import PanelApp
    from tapin.ui.screenshot import grab, write_png

    app = PanelApp(runtime, room_id)

    def finish(_dt: float) -> None:
        if screenshot is not None:
            write_png(screenshot, grab())
            log.info("screenshot written to %s", screenshot)
        app.stop()

    if exit_after is not None:
        Clock.schedule_once(finish, exit_after)
    asyncio.run(_main(app, runtime))
    return 0


async def _main(app: Any, runtime: Runtime) -> None:
    from tapin.device.services import DeviceServices

    services = await DeviceServices.open(runtime.config, runtime)
    if services.sink is not None:
        app.controller.sink = services.sink
    services.on_results(app.controller.on_results)
    if services.presence is not None:
        app.use_occupancy(services.presence)
    sync_now = services.sync_now()
    if sync_now is not None:
        app.ctx.extras["sync_now"] = sync_now
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        await services.close()

"""Start the lobby kiosk: a window, or offscreen rendering to a PNG and exit.

This module does not import Kivy at import time; :func:`run_kiosk` prepares Kivy's
environment first. The device's services (:class:`tapin.device.services.DeviceServices`:
the sealed queue, sync or the demo's stand-in central with its lobby, the control
socket, the jobs) open before the first frame (the kiosk's welcome needs the ``kiosk``
settings they bring), in the same asyncio loop as Kivy.

The hardware: in the demo a :class:`kiosk.context.DemoCamera` (a test-pattern photo,
codes held up by the tour) and a :class:`tapin.hardware.printer.SimulatedPrinter` that
keeps badges in memory only; on a device the V4L2 camera when ``/dev/video0`` exists,
and the ``[printer]`` of the configuration (none: no badge, the sign-in goes on).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from tapin.device.runtime import Runtime
from tapin.hardware.printer import build_printer
from tapin.ui.kivyenv import has_display, prepare_kivy

__all__ = ["KIOSK_SIZE", "default_extras", "run_kiosk"]

log = logging.getLogger(__name__)

KIOSK_SIZE = (1280, 800)
"""A 10.1" kiosk screen; portrait kiosks are 800x1280."""


def default_extras(runtime: Runtime) -> dict[str, Any]:
    """The camera and printer of this kiosk (see the module docstring). Touches no
    device: the camera is opened at its first capture."""
    extras: dict[str, Any] = {}
    if runtime.demo:
        from kiosk.context import DemoCamera
        from tapin.hardware.printer import SimulatedPrinter

        extras["camera"] = DemoCamera()
        extras["printer"] = SimulatedPrinter()
        return extras
    if Path("/dev/video0").exists():
        from tapin.hardware.camera import V4L2Camera

        extras["camera"] = V4L2Camera()
    printer = build_printer(runtime.config.printer)  # checked when the config was read
    if printer is not None:
        extras["printer"] = printer
    return extras


def run_kiosk(
    runtime: Runtime,
    lobby_id: str,
    *,
    size: tuple[int, int] = KIOSK_SIZE,
    screenshot: Path | None = None,
    exit_after: float | None = None,
) -> int:
    """Run the kiosk until closed, or until ``exit_after`` seconds (then screenshot).

    Without a display the kiosk renders offscreen. Returns the process exit code (0, or
    the status a remote command asked for, after a clean stop); raises what opening the
    services raises."""
    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=not has_display())

    from kiosk.app import KioskApp
    from tapin.device.agentrun import leave_status, stop_app_when_asked
    from tapin.ui.screenshot import exit_after as exit_after_seconds

    leaving: list[Any] = []  # tapin.device.commands.ExitRequest: a restart, a decommission

    async def main() -> None:
        from tapin.device.services import DeviceServices

        services = await DeviceServices.open(runtime.config, runtime)
        try:
            app = KioskApp(runtime, lobby_id, sink=services.sink, extras=default_extras(runtime))
            services.on_exit(stop_app_when_asked(app, leaving))
            services.on_results(app.controller.on_results)
            sync_now = services.sync_now()
            if sync_now is not None:
                app.extras["sync_now"] = sync_now
            exit_after_seconds(app, exit_after, screenshot)
            await app.async_run(async_lib="asyncio")
        finally:
            await services.close()

    asyncio.run(main())
    return leave_status(leaving) if leaving else 0

"""Start the panel: a window, or offscreen rendering to a PNG and exit.

This module does not import Kivy at import time; :func:`run_panel` prepares Kivy's
environment first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tapin.runtime import Runtime
from tapin.ui.kivyenv import has_display, prepare_kivy

__all__ = ["run_panel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotConnected:
    """Shown in the panel's banner when sync could not even start."""

    problem: str
    reachable: bool | None = None


def run_panel(
    runtime: Runtime,
    room_id: str,
    *,
    size: tuple[int, int],
    screenshot: Path | None = None,
    exit_after: float | None = None,
    sync: bool = False,
) -> int:
    """Run the panel until closed, or until ``exit_after`` seconds (then screenshot).

    With ``sync`` the device's sync (queue, central client, scheduler, control socket)
    runs in the same asyncio loop as Kivy. Without a display the panel renders
    offscreen. Returns the process exit code.
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
    asyncio.run(_main(app, runtime, sync=sync))
    return 0


async def _main(app: Any, runtime: Runtime, *, sync: bool) -> None:
    from sync.identity import IdentityError
    from sync.queue import AsyncSealedQueue, QueueError
    from tapin.agent import open_device_sync
    from tapin.control import ControlServer
    from tapin.demo_central import DemoCentral, demo_key

    device = control = demo_queue = None
    demo_task: asyncio.Task[None] | None = None
    if sync:
        try:
            device = await open_device_sync(runtime.config, runtime)
        except IdentityError:
            log.error("this panel is not enrolled; run 'tapin enroll'")
            runtime.sync_status = NotConnected("Not connected: this panel is not enrolled")
        except QueueError as exc:
            log.error("the queue cannot be opened: %s", exc)
            runtime.sync_status = NotConnected("Not connected: the local queue is unusable")
        else:
            app.controller.sink = device.queue
            device.agent.on_settled = app.controller.on_results
            handlers = device.control_handlers()
            app.ctx.extras["sync_now"] = lambda: handlers["sync"]({})
            device.start()
            control = ControlServer(runtime.config.state_dir, device.control_handlers())
            await control.start()
    else:
        # demo: the real sealed queue, drained by an in-process stand-in for central
        key = demo_key(runtime.config.state_dir)
        demo_queue = AsyncSealedQueue(runtime.config.state_dir / "demo-queue.db", key.public_key())
        await demo_queue.open()
        app.controller.sink = demo_queue
        central = DemoCentral(demo_queue, key, runtime.calendar, app.controller.on_results)
        demo_task = asyncio.ensure_future(_every(DEMO_LATENCY, central.drain_once))
    presence = None
    if runtime.config.presence_scan:
        from tapin.sensing import PresenceService

        presence = PresenceService(
            runtime.config.presence,
            device.queue if device is not None else None,
            adapter=runtime.config.presence_adapter,
        )
        app.controller.occupancy = presence
        if device is not None:
            device.presence = presence
        await presence.start()
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        if presence is not None:
            await presence.stop()
        if demo_task is not None:
            demo_task.cancel()
        if demo_queue is not None:
            await demo_queue.close()
        if control is not None:
            await control.close()
        if device is not None:
            await device.close()


DEMO_LATENCY = 2.0
"""Seconds the demo's stand-in for central takes to answer (shows "pending")."""


async def _every(seconds: float, job: Any) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("demo central failed")

"""Start the panel: a window, or offscreen rendering to a PNG and exit.

This module does not import Kivy at import time; :func:`run_panel` prepares Kivy's
environment first.

Start-up order. The first frame needs only Kivy, the status screen and the runtime's
memory; the device's services (:class:`tapin.device.services.DeviceServices`: the
sealed queue, sync or the demo's stand-in central, presence, the control socket, the
jobs) and the libraries behind them (SQLite, cryptography, httpx, APScheduler, Bluetooth)
are not needed to draw it when the runtime already holds the room's calendar (the demo
does). Then they are imported on a worker thread and opened just after the first frame,
and an action tapped meanwhile waits for them in a :class:`StartingSink`. A device whose
calendar is not in memory yet opens its services first, since they bring today's copy
from disk (so its first frame does not claim "no calendar" for a moment).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tapin.device.runtime import Runtime
from tapin.i18n import _
from tapin.pending import ActionError
from tapin.ui.kivyenv import has_display, prepare_kivy

if TYPE_CHECKING:
    from sync.queue import EventSink
    from tapin.device.commands import ExitRequest
    from tapin.device.services import DeviceServices

__all__ = ["STARTING_WAIT", "StartingSink", "run_panel"]

log = logging.getLogger(__name__)

STARTING_WAIT = 30.0
"""Seconds an action tapped during start-up waits for the services before it is refused."""


class StartingSink:
    """The panel's event sink until its services are open: an action tapped in the
    moment between the first frame and the open queue waits here (its effect is already
    on screen), then goes on to the real sink."""

    def __init__(self) -> None:
        self._ready = asyncio.Event()
        self._sink: EventSink | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def open(self, sink: EventSink | None) -> None:
        """The services are open: ``sink`` takes the waiting actions (``None``: there is
        no queue on this device, and they are refused as not connected)."""
        self._sink = sink
        self._ready.set()

    async def enqueue(
        self,
        type: str,
        resource: str,
        payload: Mapping[str, Any],
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> Any:
        """Pass the event to the real sink once it is there.

        Raises :class:`tapin.pending.ActionError` when the services are not open within
        :data:`STARTING_WAIT` seconds or this device has no queue, and whatever the real
        sink raises."""
        try:
            await asyncio.wait_for(self._ready.wait(), STARTING_WAIT)
        except TimeoutError:
            raise ActionError(_("The panel is still starting; please try again")) from None
        if self._sink is None:
            raise ActionError(_("This panel is not connected; the action was not saved"))
        return await self._sink.enqueue(
            type, resource, payload, starts_at=starts_at, ends_at=ends_at
        )


def run_panel(
    runtime: Runtime,
    room_id: str,
    *,
    size: tuple[int, int],
    screenshot: Path | None = None,
    exit_after: float | None = None,
) -> int:
    """Run the panel until closed, or until ``exit_after`` seconds (then screenshot).

    The device's services run in the same asyncio loop as Kivy (see the module
    docstring for when they open). Without a display the panel renders offscreen.
    Returns the process exit code: 0, or the status a remote command asked for
    (:data:`tapin.device.commands.EXIT_RESTART`, ``EXIT_DECOMMISSIONED``) once the app
    stopped, the services closed and the command's ``after_close`` ran; raises what
    opening the services raises."""
    offscreen = not has_display()
    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=offscreen)

    from panel.app import PanelApp
    from tapin.ui.screenshot import exit_after as exit_after_seconds

    starting = StartingSink()
    app = PanelApp(runtime, room_id, sink=starting)
    app.services = None  # set once open (the benchmark reads it)
    exit_after_seconds(app, exit_after, screenshot)
    leaving: list[ExitRequest] = []
    asyncio.run(_main(app, runtime, starting, leaving, defer=runtime.calendar.loaded(room_id)))
    if not leaving:
        return 0
    from tapin.device.agentrun import leave_status

    return leave_status(leaving)


def _service_modules(runtime: Runtime) -> list[str]:
    """What :meth:`DeviceServices.open` imports (a warm-up: the thread keeps the UI
    drawing meanwhile; correctness does not depend on this list)."""
    names = ["tapin.device.services", "apscheduler.schedulers.asyncio"]
    if runtime.config.presence.scan:
        names.append("presence.service")
    return names


async def _open(
    app: Any, runtime: Runtime, starting: StartingSink, leaving: list[ExitRequest]
) -> DeviceServices:
    """Open the services and connect the app to them. Raises what opening raises (the
    actions waiting in ``starting`` are then refused)."""
    try:
        for name in _service_modules(runtime):
            await asyncio.to_thread(importlib.import_module, name)
        from tapin.device.services import DeviceServices

        services = await DeviceServices.open(runtime.config, runtime)
    except BaseException:
        starting.open(None)
        raise
    if services.sink is not None:
        app.controller.sink = services.sink
    starting.open(services.sink)
    from tapin.device.agentrun import stop_app_when_asked

    services.on_exit(stop_app_when_asked(app, leaving))
    services.on_results(app.controller.on_results)
    if services.presence is not None:
        app.use_occupancy(services.presence)
    sync_now = services.sync_now()
    if sync_now is not None:
        app.ctx.extras["sync_now"] = sync_now
    app.services = services
    return services


async def _main(
    app: Any,
    runtime: Runtime,
    starting: StartingSink,
    leaving: list[ExitRequest],
    *,
    defer: bool,
) -> None:
    from kivy.core.window import Window

    first_frame = asyncio.Event()

    def flipped(*_: Any) -> None:
        Window.unbind(on_flip=flipped)
        first_frame.set()

    async def open_after_first_frame() -> DeviceServices:
        await first_frame.wait()
        return await _open(app, runtime, starting, leaving)

    opening: asyncio.Future[DeviceServices]
    if defer:
        Window.bind(on_flip=flipped)
        opening = asyncio.ensure_future(open_after_first_frame())
    else:
        opening = asyncio.get_running_loop().create_future()
        opening.set_result(await _open(app, runtime, starting, leaving))

    def failed(task: asyncio.Future[DeviceServices]) -> None:
        if not task.cancelled() and task.exception() is not None:
            app.stop()  # raised below, as it was before the services moved after the frame

    opening.add_done_callback(failed)
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        Window.unbind(on_flip=flipped)
        if not first_frame.is_set() and not opening.done():
            opening.cancel()  # stopped before the first frame: nothing was opened
        try:
            services = await opening
        except asyncio.CancelledError:
            pass
        else:
            await services.close()

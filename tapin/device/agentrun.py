"""``tapin agent``: the headless device process, the device's services without a screen
(:class:`tapin.device.services.DeviceServices`), until SIGTERM/SIGINT or a remote
command that ends it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sync.identity import IdentityError
from tapin.config import Config
from tapin.device import watchdog
from tapin.device.devicesync import decommissioned, open_device_sync
from tapin.device.runtime import Runtime

if TYPE_CHECKING:
    from tapin.device.commands import ExitRequest

__all__ = ["leave_status", "run_agent", "stop_app_when_asked"]

log = logging.getLogger(__name__)


async def run_agent(config: Config, runtime: Runtime, *, once: bool = False) -> int:
    """``tapin agent``: run until SIGTERM/SIGINT, or one refresh + drain with ``once``.
    Returns the exit status (with ``once``: 0 when central answered, else 1).

    Raises :class:`sync.identity.IdentityError` when the device is not enrolled."""
    from tapin.device.commands import EXIT_DECOMMISSIONED
    from tapin.device.services import DeviceServices

    leaving: list[ExitRequest] = []
    try:
        if once:
            sync = await open_device_sync(config, runtime)
        else:
            services = await DeviceServices.open(config, runtime, require_sync=True)
    except IdentityError:
        note = decommissioned(config)
        if note is None:
            raise
        log.error("%s", note)  # an exit status systemd does not restart (no crash loop)
        return EXIT_DECOMMISSIONED
    if once:
        sync.on_exit = leaving.append
        try:
            await sync.agent.refresh(force=True)
            await sync.handle_commands()
            if not leaving:
                await sync.agent.drain(force=True)
        finally:
            await sync.close()
        return leave_status(leaving) if leaving else (0 if sync.agent.status.reachable else 1)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def asked_to_leave(request: ExitRequest) -> None:
        leaving.append(request)
        stop.set()

    services.on_exit(asked_to_leave)
    log.info(
        "agent running for device %s", services.sync.identity.device_id if services.sync else "?"
    )
    watchdog.current().ready("agent running")  # systemd: started; pings while healthy
    try:
        await stop.wait()
    finally:
        watchdog.current().stopping()
        await services.close()
    return leave_status(leaving) if leaving else 0


def leave_status(leaving: Sequence[ExitRequest]) -> int:
    """The exit status a remote command asked for, after its ``after_close`` ran."""
    request = leaving[0]
    try:
        if request.after_close is not None:
            request.after_close()
    except OSError as exc:  # a file left behind: said, and the process still stops
        log.error("could not finish before exiting: %s", exc)
    log.warning("exiting with status %d as central's command asked", request.status)
    return request.status


def stop_app_when_asked(app: Any, leaving: list[ExitRequest]) -> Any:
    """For the panel and the kiosk, a listener for
    :meth:`tapin.device.services.DeviceServices.on_exit`: keep the request in ``leaving`` and
    stop the Kivy ``app`` at its next frame (the caller closes the services, then
    returns :func:`leave_status`: a clean stop, no ``os._exit``)."""

    def asked(request: ExitRequest) -> None:
        from kivy.clock import Clock  # only a panel or kiosk gets here

        if not leaving:
            log.warning("stopping: central's command asks for exit status %d", request.status)
        leaving.append(request)
        Clock.schedule_once(lambda *_: app.stop(), 0)

    return asked

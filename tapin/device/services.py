"""What a device runs beside its screen, or without one: ONE wiring for the panel, the
kiosk and the headless agent.

:meth:`DeviceServices.open` gathers, for the device's configuration:

* **the queue and who answers it**: on an enrolled device the sealed queue, the
  central client and the sync agent (:class:`DeviceSync`); in the demo a sealed queue
  of its own drained by the in-process stand-in for central
  (:class:`tapin.demo.central.DemoCentral`); a device that is not enrolled gets no
  queue and a :attr:`DeviceServices.problem` to show;
* **presence**, when ``[presence] scan = true`` (:class:`presence.service.PresenceService`);
* **the control socket** ``tapin status`` / ``tapin queue`` talk to;
* **one scheduler**, APScheduler's ``AsyncIOScheduler`` started inside the running
  loop, running every job of :data:`JOBS` that this device has. No other timer loops.

The link to central itself (:class:`DeviceSync`, :func:`open_device_sync`) is in
:mod:`tapin.device.devicesync`; the headless ``tapin agent`` (:func:`run_agent`) in
:mod:`tapin.device.agentrun`. Both are importable from here as before.

The UI (if any) only reads the runtime's memory and this object's ``sink`` and
``problem``; it never calls the network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync.identity import IdentityError, TrustError
from sync.queue import AsyncSealedQueue, EventSink, QueueError, QueueLockedError
from tapin.config import Config
from tapin.device import watchdog
from tapin.device.control import ControlServer
from tapin.device.devicesync import (
    QUEUE_FILE,
    DeviceSync,
    DrainingSink,
    counts_dict,
    decommissioned,
    open_device_sync,
    revoked,
    revoked_words,
    row_dict,
    snapshot_requests,
)
from tapin.device.runtime import Runtime
from tapin.i18n import _

if TYPE_CHECKING:
    from tapin.device.commands import ExitRequest

__all__ = [  # the link to central lives in tapin.device.devicesync, the agent in agentrun
    "JOBS",
    "QUEUE_FILE",
    "DeviceServices",
    "DeviceSync",
    "DrainingSink",
    "Job",
    "NotConnected",
    "counts_dict",
    "open_device_sync",
    "row_dict",
    "run_agent",
    "snapshot_requests",
]

log = logging.getLogger(__name__)

DEMO_QUEUE_FILE = "demo-queue.db"
Results = Callable[[Sequence[Mapping[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    seconds: float
    at_start: bool = False
    """Also run once as soon as the scheduler starts."""
    why: str = ""


JOBS: tuple[Job, ...] = (
    Job("drain", 2.0, why="upload the sealed queue (skips itself while backing off)"),
    Job("refresh", 60.0, at_start=True, why="central's snapshots, with ETags, into memory"),
    Job("visitors", 10.0, at_start=True, why="a kiosk's visitors snapshot: was the host told"),
    Job("commands", 60.0, at_start=True, why="central's commands (forget a person, ...)"),
    Job("heartbeat", 300.0, at_start=True, why="health facts to central (tapin.device.health)"),
    Job("purge", 24 * 3600.0, at_start=True, why="undelivered events past 90 days leave"),
    Job("demo-central", 2.0, why="the demo's stand-in for central answers the queue"),
    Job("presence-watch", 5.0, why="the Bluetooth scanner's watchdog"),
    Job("presence-sample", 60.0, why="this minute's occupancy; 15-minute samples queued"),
    Job("watchdog", 1.0, at_start=True, why="systemd's watchdog: loop turns, queue answers"),
)
"""Every periodic job a device may run, with its period."""


@dataclass(frozen=True)
class NotConnected:
    """What the screen says when sync could not even start (not enrolled, bad queue)."""

    problem: str
    reachable: bool | None = None


VISITORS_FAST = 1.0
"""Seconds between ``visitors`` snapshots while a recent sign-in's host is not yet told
(else every 10 s, :data:`JOBS`), so the kiosk says "Björn has been told" within a
second or two of central's email going out."""
RECENT = 120.0
"""A sign-in younger than this (seconds) that is still ``pending`` keeps the fast pace."""


class DeviceServices:
    """The services of one device process; see the module docstring."""

    def __init__(self, config: Config, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self.sync: DeviceSync | None = None
        self.demo: Any = None
        """The demo's stand-in for central (:class:`tapin.demo.central.DemoCentral`)."""
        self.presence: Any = None
        """The :class:`presence.service.PresenceService` when this device scans."""
        self.sink: EventSink | None = None
        """Where user actions go (the sealed queue); ``None`` when there is none."""
        self.problem: str | None = None
        self.scheduler: Any = None
        self._control: ControlServer | None = None
        self._demo_queue: AsyncSealedQueue | None = None
        self._on_results: list[Results] = []
        self._on_exit: list[Callable[[ExitRequest], None]] = []
        self._closing = False

    def on_exit(self, listener: Callable[[ExitRequest], None]) -> None:
        """Call ``listener`` when a remote command asks the process to end (restart,
        decommission: :mod:`tapin.device.commands`). The agent, the panel and the kiosk
        each give one (:func:`tapin.device.agentrun.stop_app_when_asked`: the app stops,
        the services close, then the process returns the status). Only a process that
        gives none falls back to closing the services and ``os._exit`` with the status."""
        self._on_exit.append(listener)

    def _exit_requested(self, request: ExitRequest) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # nothing more starts: the command was the last thing
        if self._on_exit:
            for listener in list(self._on_exit):
                listener(request)
            return

        async def leave() -> None:
            import os

            try:
                await self.close()
                if request.after_close is not None:
                    request.after_close()
            except Exception as exc:  # the process stops whatever happened
                log.error("could not finish before exiting: %s: %s", type(exc).__name__, exc)
            finally:
                logging.shutdown()
                os._exit(request.status)

        self._leaving = asyncio.ensure_future(leave())

    async def _heartbeat(self) -> bool:
        assert self.sync is not None
        return await self.sync.heartbeat(self.presence)

    @classmethod
    async def open(
        cls, config: Config, runtime: Runtime, *, require_sync: bool = False
    ) -> DeviceServices:
        """Open what this device has and start its jobs (inside the running loop).

        A device that is not enrolled, or whose queue is unusable, runs without a
        queue and says why in :attr:`problem` (and in the log); with ``require_sync``
        that raises :class:`sync.identity.IdentityError` / :class:`sync.queue.QueueError`
        instead (the headless agent has nothing else to do)."""
        services = cls(config, runtime)
        await services._open_queue(require_sync)
        if config.presence.scan:
            from presence.service import PresenceService

            services.presence = PresenceService(config.presence, services._sample_sink())
            await services.presence.start()
        if config.presence.scan and watchdog.current().pinging:
            watchdog.current().expect("presence", 5.0, window=watchdog.PRESENCE_WINDOW)
        services.start_jobs()
        watchdog.install_stall_hook()
        if services.sync is not None:
            services._control = ControlServer(config.state_dir, services.control_handlers())
            await services._control.start()
        return services

    def on_results(self, listener: Results) -> None:
        """Call ``listener`` with central's outcomes for queued events."""
        self._on_results.append(listener)

    def _settled(self, results: Sequence[Mapping[str, Any]]) -> None:
        for listener in list(self._on_results):
            listener(results)
        if results and self.sync is not None and self.sync.identity.scope_kind == "lobby":
            self.run_soon("visitors", 0.3)  # a sign-in applied: was its host told yet?
            # a desk booked or refused: the map shows central's desk_bookings within a
            # second, not at the next minute's refresh (unchanged snapshots cost a 304)
            self.run_soon("refresh", 0.5)

    def run_soon(self, job_id: str, delay: float = 0.0) -> bool:
        """Run job ``job_id`` of :data:`JOBS` ``delay`` seconds from now instead of at
        its next turn (its interval goes on from there); ``False`` when this device has
        no such job or the jobs are not running."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running or scheduler.get_job(job_id) is None:
            return False
        scheduler.modify_job(job_id, next_run_time=datetime.now(UTC) + timedelta(seconds=delay))
        return True

    async def _visitors(self) -> bool:
        """The ``visitors`` job: fetch, then come back in :data:`VISITORS_FAST` seconds
        while a recent sign-in still waits for its host to be told."""
        assert self.sync is not None
        fetched = await self.sync.refresh_visitors()
        today = self.runtime.visitors
        if fetched and today is not None:
            now = self.runtime.clock()
            waiting = any(
                v.notified == "pending" and (now - v.signed_in_at).total_seconds() < RECENT
                for v in today.signed_in
            )
            if waiting:
                self.run_soon("visitors", VISITORS_FAST)
        return fetched

    def _sample_sink(self) -> Any:
        # presence samples go to central only from an enrolled device, never to the demo's
        return self.sync.queue if self.sync is not None else None

    async def _open_queue(self, require_sync: bool) -> None:
        if self.runtime.demo:
            from tapin.demo.central import DemoCentral, demo_key

            key = demo_key(self.config.state_dir)
            self._demo_queue = AsyncSealedQueue(
                self.config.state_dir / DEMO_QUEUE_FILE, key.public_key()
            )
            await self._demo_queue.open()
            lobby = desks = None
            if self.config.role == "kiosk":
                from tapin.demo.staff import DemoDesks
                from tapin.demo.visitors import DemoLobby

                lobby = DemoLobby(self.runtime)
                desks = DemoDesks(self.runtime)
            self.demo = DemoCentral(
                self._demo_queue,
                key,
                self.runtime.calendar,
                self._settled,
                lobby=lobby,
                desks=desks,
            )
            self.sink = self._demo_queue
            return
        try:
            self.sync = await open_device_sync(self.config, self.runtime)
        except (IdentityError, QueueError) as exc:
            if isinstance(exc, QueueLockedError) or (
                require_sync and not isinstance(exc, TrustError)
            ):
                raise  # another process has the queue: this one must not run without it
            if isinstance(exc, TrustError):  # offline, not a restart loop: a person fixes it
                log.error("sync cannot start, running offline: %s", exc)
                self.problem = _("Not connected: the trusted CA file is damaged")
            elif isinstance(exc, IdentityError):
                log.error("sync cannot start: %s", exc)
                self.problem = (
                    _("Not connected: this device is not enrolled")
                    if "not enrolled" in str(exc)
                    else _("Not connected: the device's credentials are unusable")
                )
                if decommissioned(self.config) is not None:
                    self.problem = _("Not connected: this device was decommissioned")
            else:
                log.error("the queue cannot be opened: %s", exc)
                self.problem = _("Not connected: the local queue is unusable")
        else:
            self.sync.agent.on_settled = self._settled
            self.sync.on_exit = self._exit_requested
            self.sink = DrainingSink(
                self.sync.queue, lambda: self.run_soon("drain"), self._revoked_refusal
            )
            return
        self.runtime.sync_status = NotConnected(self.problem)

    def _revoked_refusal(self) -> str | None:
        """Why a user's action is refused before it is queued: this device is revoked,
        so nothing it queues would ever be sent (``None``: it is not)."""
        if self.sync is None or not revoked(self.sync.agent.status):
            return None
        return revoked_words(self.config.role)

    def job_functions(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        """The jobs of :data:`JOBS` this device has, by id."""
        jobs: dict[str, Callable[[], Awaitable[Any]]] = {}
        if self.sync is not None:
            jobs |= {
                "drain": self.sync.agent.drain,
                "refresh": self.sync.agent.refresh,
                "commands": self.sync.handle_commands,
                "heartbeat": self._heartbeat,
                "purge": self.sync.purge,
            }
            if self.sync.identity.scope_kind == "lobby":
                jobs["visitors"] = self._visitors
        if self.demo is not None:
            jobs["demo-central"] = self._demo_answer
        if self.presence is not None:
            jobs["presence-watch"] = self.presence.check
            if watchdog.current().pinging:  # the scanner's own step reports to systemd's
                jobs["presence-watch"] = watchdog.stamped("presence", self.presence.check)
            jobs["presence-sample"] = self.presence.tick
        if watchdog.current().pinging:
            queue = self.sync.queue if self.sync is not None else self._demo_queue
            jobs["watchdog"] = watchdog.device_job(queue)
        return jobs

    async def _demo_answer(self) -> None:
        try:
            await self.demo.drain_once()
        except Exception:  # the demo's central must not stop the demo
            log.exception("demo central failed")

    def start_jobs(self) -> Any:
        """Schedule this device's jobs on the running loop."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        functions = self.job_functions()
        for job in JOBS:
            function = functions.get(job.id)
            if function is None:
                continue
            scheduler.add_job(
                self._stoppable(job.id, function),
                "interval",
                seconds=job.seconds,
                id=job.id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=30,
                **({"next_run_time": now} if job.at_start else {}),
            )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    def _stoppable(
        self, job_id: str, function: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[Any]]:
        """``function`` as a job that, cut off by :meth:`close` (the scheduler cancels
        what runs), ends quietly: a stop is not a failure with a traceback in the log."""

        async def job() -> Any:
            try:
                return await function()
            except asyncio.CancelledError:
                if not self._closing:
                    raise
                log.info("job %s stopped: the device is closing", job_id)
                return None

        return job

    def control_handlers(self) -> dict[str, Any]:
        """Answers for ``tapin status`` / ``tapin queue`` over the control socket."""
        sync = self.sync
        assert sync is not None

        async def status(_: dict[str, Any]) -> dict[str, Any]:
            data = asdict(sync.agent.status)
            data["queue"] = counts_dict(await sync.queue.counts())
            if self.presence is not None:
                data["presence"] = self.presence.status()
            return data

        async def queue(_: dict[str, Any]) -> list[dict[str, Any]]:
            return [row_dict(r) for r in await sync.queue.rows()]

        async def sync_now(_: dict[str, Any]) -> dict[str, Any]:
            await sync.agent.refresh(force=True)
            await sync.agent.drain(force=True)
            return await status({})

        return {"status": status, "queue": queue, "sync": sync_now}

    def sync_now(self) -> Callable[[], Awaitable[Any]] | None:
        """The admin screen's "Sync now", when this device syncs."""
        if self.sync is None:
            return None
        handler = self.control_handlers()["sync"]
        return lambda: handler({})

    async def close(self) -> None:
        self._closing = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._control is not None:
            await self._control.close()
        if self.presence is not None:
            await self.presence.stop()
        if self._demo_queue is not None:
            await self._demo_queue.close()
        if self.sync is not None:
            await self.sync.close()


from tapin.device.agentrun import run_agent  # noqa: E402  (it imports this module lazily)

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

The UI (if any) only reads the runtime's memory and this object's ``sink`` and
``problem``; it never calls the network.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync.identity import DeviceIdentity, IdentityError, load_identity
from sync.queue import AsyncSealedQueue, EventSink, QueueCounts, QueueError, QueueRow
from tapin.config import Config
from tapin.device.availability import AvailabilityKeeper
from tapin.device.control import ControlServer
from tapin.device.runtime import Runtime

if TYPE_CHECKING:  # an enrolled device's link to central (httpx): imported when opened
    from sync.agent import SyncAgent
    from sync.client import CentralClient

__all__ = [
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
]

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.db"
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
    Job("purge", 24 * 3600.0, at_start=True, why="undelivered events past 90 days leave"),
    Job("demo-central", 2.0, why="the demo's stand-in for central answers the queue"),
    Job("presence-watch", 5.0, why="the Bluetooth scanner's watchdog"),
    Job("presence-sample", 60.0, why="this minute's occupancy; 15-minute samples queued"),
)
"""Every periodic job a device may run, with its period."""


@dataclass(frozen=True)
class NotConnected:
    """What the screen says when sync could not even start (not enrolled, bad queue)."""

    problem: str
    reachable: bool | None = None


def row_dict(row: QueueRow) -> dict[str, Any]:
    """A queued event as technicians see it: routing fields, state, reason; no payload."""
    return {
        "seq": row.seq,
        "id": row.id,
        "type": row.type,
        "resource": row.resource,
        "starts_at": row.starts_at.isoformat() if row.starts_at else None,
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "created_at": row.created_at.isoformat(),
        "state": str(row.state),
        "reason": row.reason,
    }


def counts_dict(counts: QueueCounts) -> dict[str, Any]:
    data = asdict(counts)
    if counts.oldest_pending is not None:
        data["oldest_pending"] = counts.oldest_pending.isoformat()
    return data


def snapshot_requests(identity: DeviceIdentity) -> dict[str, dict[str, str]]:
    if identity.scope_kind == "room":
        return {
            "rooms": {},
            "directory": {},
            "calendar": {"room": identity.scope_id},
            "availability": {},
        }
    # a lobby kiosk; its "visitors" snapshot has a job of its own (every 10 s, JOBS)
    return {
        "rooms": {},
        "desks": {},
        "directory": {},
        "availability": {},
        "kiosk": {},
        "floors": {},
        "desk_bookings": {},
    }


@dataclass
class DeviceSync:
    """An enrolled device's link to central: identity, queue, client and sync agent."""

    identity: DeviceIdentity
    queue: AsyncSealedQueue
    client: CentralClient
    agent: SyncAgent
    runtime: Runtime
    _visitors_etag: str | None = None

    async def handle_commands(self) -> int:
        """Apply central's pending commands; returns how many were acknowledged."""
        from sync.client import CentralError

        try:
            commands = await self.client.commands()
        except CentralError as exc:
            log.info("commands not fetched: %s", type(exc).__name__)
            return 0
        done = 0
        for command in commands:
            kind = command.get("kind") or command.get("type")
            args = command.get("args") or command.get("payload") or {}
            if kind == "forget_person" and isinstance(args, dict):
                person = args.get("person_id")
                if isinstance(person, str):
                    self.runtime.forget_person(person)
            elif kind not in ("reconfigure", "rotate_keys", "decommission"):
                log.warning("unknown command kind %r from central; acknowledged", kind)
            else:
                log.info("command %s received (acted on in a later release)", kind)
            try:
                await self.client.ack_command(command["id"])
                done += 1
            except CentralError:
                break
        return done

    async def refresh_visitors(self) -> bool:
        """A kiosk's ``visitors`` snapshot into memory (a 304 when unchanged); ``False``
        while the agent backs off or when central did not answer (the agent's own
        refresh and drain report that). Never raises for central's trouble."""
        from sync.client import CentralError

        if not self.agent.ready():
            return False
        try:
            snap = await self.client.snapshot("visitors", etag=self._visitors_etag)
        except CentralError as exc:
            log.info("visitors snapshot not fetched: %s", type(exc).__name__)
            return False
        if not snap.unchanged:
            # a malformed one is not kept, nor its ETag: it is fetched whole next time
            taken = self.runtime.apply_snapshot("visitors", snap.data)
            self._visitors_etag = snap.etag if taken else None
        return True

    async def purge(self) -> int:
        count = await self.queue.purge_expired()
        if count:
            log.warning("purged %d undelivered events older than 90 days", count)
        return count

    async def close(self) -> None:
        await self.client.aclose()
        await self.queue.close()


async def open_device_sync(config: Config, runtime: Runtime) -> DeviceSync:
    """Open the queue and the client of an enrolled device.

    Raises :class:`sync.identity.IdentityError` when the device is not enrolled and
    :class:`sync.queue.QueueError` when the queue file is unusable.
    """
    from sync.agent import SyncAgent
    from sync.client import CentralClient

    identity = load_identity(config.state_dir)
    queue = AsyncSealedQueue(
        config.state_dir / QUEUE_FILE, identity.sealing_key(), device_id=identity.device_id
    )
    await queue.open()
    client = CentralClient(
        identity.central_url,
        token=identity.token,
        ca_file=identity.ca_file or (str(config.ca_file) if config.ca_file else None),
    )
    offline = AvailabilityKeeper(runtime, config.state_dir)
    await offline.restore()  # today's free/busy from disk, until central answers
    agent = SyncAgent(
        queue,
        client,
        config.state_dir,
        device_id=identity.device_id,
        snapshot_requests=snapshot_requests(identity),
        on_snapshot=offline.on_snapshot,
    )
    runtime.sync_status = agent.status
    return DeviceSync(identity, queue, client, agent, runtime)


class DrainingSink:
    """The sealed queue as the apps' :class:`~sync.queue.EventSink`, starting the drain
    job at once after each event (a booking or a visitor's sign-in reaches central in
    the time of one upload, not up to a drain period later; the drain still skips
    itself while the agent backs off, so an outage costs nothing)."""

    def __init__(self, queue: Any, after: Callable[[], object]) -> None:
        self.queue = queue
        self._after = after

    async def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.queue.enqueue(*args, **kwargs)
        self._after()
        return result

    def __getattr__(self, name: str) -> Any:  # counts, rows, ... of the queue itself
        return getattr(self.queue, name)


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
        services.start_jobs()
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
            if require_sync:
                raise
            if isinstance(exc, IdentityError):
                log.error("this device is not enrolled; run 'tapin enroll'")
                self.problem = "Not connected: this device is not enrolled"
            else:
                log.error("the queue cannot be opened: %s", exc)
                self.problem = "Not connected: the local queue is unusable"
        else:
            self.sync.agent.on_settled = self._settled
            self.sink = DrainingSink(self.sync.queue, lambda: self.run_soon("drain"))
            return
        self.runtime.sync_status = NotConnected(self.problem)

    def job_functions(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        """The jobs of :data:`JOBS` this device has, by id."""
        jobs: dict[str, Callable[[], Awaitable[Any]]] = {}
        if self.sync is not None:
            jobs |= {
                "drain": self.sync.agent.drain,
                "refresh": self.sync.agent.refresh,
                "commands": self.sync.handle_commands,
                "purge": self.sync.purge,
            }
            if self.sync.identity.scope_kind == "lobby":
                jobs["visitors"] = self._visitors
        if self.demo is not None:
            jobs["demo-central"] = self._demo_answer
        if self.presence is not None:
            jobs["presence-watch"] = self.presence.check
            jobs["presence-sample"] = self.presence.tick
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
                function,
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


async def run_agent(config: Config, runtime: Runtime, *, once: bool = False) -> int:
    """``tapin agent``: run until SIGTERM/SIGINT, or one refresh + drain with ``once``.
    Returns the exit status (with ``once``: 0 when central answered, else 1).

    Raises :class:`sync.identity.IdentityError` when the device is not enrolled."""
    if once:
        sync = await open_device_sync(config, runtime)
        try:
            await sync.agent.refresh(force=True)
            await sync.handle_commands()
            await sync.agent.drain(force=True)
            return 0 if sync.agent.status.reachable else 1
        finally:
            await sync.close()
    services = await DeviceServices.open(config, runtime, require_sync=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "agent running for device %s", services.sync.identity.device_id if services.sync else "?"
    )
    try:
        await stop.wait()
    finally:
        await services.close()
    return 0

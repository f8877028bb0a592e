"""The headless device runtime: sync with central on a schedule (``tapin agent``).

One asyncio loop; APScheduler's ``AsyncIOScheduler`` (started inside the running loop)
runs the jobs:

* ``drain`` every 2 s: upload the sealed queue (skips itself while backing off);
* ``refresh`` every 60 s and at start: snapshots with ETags into memory;
* ``commands`` every 60 s: central's commands (forget a person, …), acknowledged;
* ``purge`` daily: undelivered events older than 90 days leave the device, counted.

The panel runs the same :class:`DeviceSync` inside Kivy's loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from sync.agent import SyncAgent
from sync.client import CentralClient, CentralError
from sync.identity import DeviceIdentity, load_identity
from sync.queue import AsyncSealedQueue, QueueCounts, QueueRow
from tapin.config import Config
from tapin.control import ControlServer
from tapin.runtime import Runtime

__all__ = ["QUEUE_FILE", "DeviceSync", "open_device_sync", "run_agent"]

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.db"
DRAIN_SECONDS = 2.0
REFRESH_SECONDS = 60.0


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
    return {"rooms": {}, "desks": {}, "directory": {}, "availability": {}}


@dataclass
class DeviceSync:
    """Everything a device needs to talk to central, opened together, closed together."""

    identity: DeviceIdentity
    queue: AsyncSealedQueue
    client: CentralClient
    agent: SyncAgent
    runtime: Runtime
    scheduler: AsyncIOScheduler | None = None
    presence: Any = None
    """The :class:`tapin.sensing.PresenceService` when this device scans."""

    async def handle_commands(self) -> int:
        """Apply central's pending commands; returns how many were acknowledged."""
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

    async def purge(self) -> int:
        count = await self.queue.purge_expired()
        if count:
            log.warning("purged %d undelivered events older than 90 days", count)
        return count

    def control_handlers(self) -> dict[str, Any]:
        """Answers for ``tapin status`` / ``tapin queue`` over the control socket."""

        async def status(_: dict[str, Any]) -> dict[str, Any]:
            data = asdict(self.agent.status)
            data["queue"] = counts_dict(await self.queue.counts())
            if self.presence is not None:
                data["presence"] = self.presence.status()
            return data

        async def queue(_: dict[str, Any]) -> list[dict[str, Any]]:
            return [row_dict(r) for r in await self.queue.rows()]

        async def sync_now(_: dict[str, Any]) -> dict[str, Any]:
            await self.agent.refresh(force=True)
            await self.agent.drain(force=True)
            return await status({})

        return {"status": status, "queue": queue, "sync": sync_now}

    def start(self) -> AsyncIOScheduler:
        """Schedule the jobs on the running loop."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        scheduler.add_job(
            self.agent.drain, "interval", seconds=DRAIN_SECONDS, id="drain", **options
        )
        scheduler.add_job(
            self.agent.refresh,
            "interval",
            seconds=REFRESH_SECONDS,
            id="refresh",
            next_run_time=now,
            **options,
        )
        scheduler.add_job(
            self.handle_commands,
            "interval",
            seconds=REFRESH_SECONDS,
            id="commands",
            next_run_time=now,
            **options,
        )
        scheduler.add_job(
            self.purge, "interval", hours=24, id="purge", next_run_time=now, **options
        )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    async def close(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.client.aclose()
        await self.queue.close()


async def open_device_sync(config: Config, runtime: Runtime) -> DeviceSync:
    """Open the queue and the client of an enrolled device.

    Raises :class:`sync.identity.IdentityError` when the device is not enrolled and
    :class:`sync.queue.QueueError` when the queue file is unusable.
    """
    identity = load_identity(config.state_dir)
    queue = AsyncSealedQueue(config.state_dir / QUEUE_FILE, identity.sealing_key())
    await queue.open()
    client = CentralClient(
        identity.central_url,
        token=identity.token,
        ca_file=identity.ca_file or (str(config.ca_file) if config.ca_file else None),
    )
    agent = SyncAgent(
        queue,
        client,
        config.state_dir,
        device_id=identity.device_id,
        snapshot_requests=snapshot_requests(identity),
        on_snapshot=runtime.apply_snapshot,
    )
    runtime.sync_status = agent.status
    return DeviceSync(identity, queue, client, agent, runtime)


async def run_agent(config: Config, runtime: Runtime, *, once: bool = False) -> int:
    """Run until SIGTERM/SIGINT (or one drain + refresh with ``once``). Exit code."""
    device = await open_device_sync(config, runtime)
    try:
        if once:
            await device.agent.refresh(force=True)
            await device.handle_commands()
            await device.agent.drain(force=True)
            return 0 if device.agent.status.reachable else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        device.start()
        if config.presence_scan:
            from tapin.sensing import PresenceService

            device.presence = PresenceService(
                config.presence, device.queue, adapter=config.presence_adapter
            )
            await device.presence.start()
        control = ControlServer(config.state_dir, device.control_handlers())
        await control.start()
        log.info("agent running for device %s", device.identity.device_id)
        try:
            await stop.wait()
        finally:
            await control.close()
            if device.presence is not None:
                await device.presence.stop()
        return 0
    finally:
        await device.close()


def queue_path(state_dir: Path) -> Path:
    return state_dir / QUEUE_FILE

"""An enrolled device's link to central: its identity, sealed queue, central client and
sync agent (:class:`DeviceSync`, opened by :func:`open_device_sync`), the snapshots it
asks for, the queue as the apps' sink (:class:`DrainingSink`) and how technicians see
the queue's rows. :mod:`tapin.device.services` runs it on the device's scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sync.identity import DeviceIdentity, load_identity, trust_file
from sync.queue import AsyncSealedQueue, QueueCounts, QueueError, QueueRow
from tapin.config import Config
from tapin.device.availability import AvailabilityKeeper
from tapin.device.runtime import Runtime

if TYPE_CHECKING:  # an enrolled device's link to central (httpx): imported when opened
    from pathlib import Path

    from sync.agent import SyncAgent
    from sync.client import CentralClient
    from tapin.device.commands import ExitRequest

__all__ = [
    "QUEUE_FILE",
    "DeviceSync",
    "DrainingSink",
    "counts_dict",
    "decommissioned",
    "open_device_sync",
    "revoked",
    "revoked_words",
    "row_dict",
    "snapshot_requests",
]

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.db"


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
    config: Config | None = None
    on_exit: Callable[[ExitRequest], None] | None = None
    """Told when a command ends the process (:mod:`tapin.device.commands`)."""
    exit_request: ExitRequest | None = None

    @property
    def state_dir(self) -> Path:
        return self.agent.state_dir

    async def handle_commands(self) -> int:
        """Carry out central's pending commands (:mod:`tapin.device.commands`); returns
        how many were acknowledged."""
        from tapin.device.commands import handle_commands

        def request_exit(request: ExitRequest) -> None:
            self.exit_request = request
            if self.on_exit is not None:
                self.on_exit(request)

        if self.exit_request is not None:  # stopping already: nothing more is carried out
            return 0
        return await handle_commands(self, request_exit)

    async def heartbeat(self, presence: Any = None) -> bool:
        """Send the device's health facts (:mod:`tapin.device.health`) to central;
        ``False`` while the agent backs off or when central did not take them."""
        from sync.client import CentralError
        from tapin.device.health import gather

        if not self.agent.ready():
            return False
        try:
            facts = await gather(
                queue=self.queue,
                status=self.agent.status,
                presence_service=presence,
                state_dir=self.state_dir,
            )
        except QueueError as exc:  # closing, or a queue in trouble: the next beat says
            log.info("heartbeat not sent: %s", type(exc).__name__)
            return False
        try:
            await self.client.heartbeat(facts.to_json())
        except CentralError as exc:
            log.info("heartbeat not sent: %s", type(exc).__name__)
            return False
        return True

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
    trust = trust_file(config.state_dir, identity, config.ca_file)  # before the queue opens
    queue = AsyncSealedQueue(
        config.state_dir / QUEUE_FILE, identity.sealing_key(), device_id=identity.device_id
    )
    await queue.open()
    client = CentralClient(
        identity.central_url,
        token=identity.token,
        ca_file=trust,
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
    return DeviceSync(identity, queue, client, agent, runtime, config=config)


class DrainingSink:
    """The sealed queue as the apps' :class:`~sync.queue.EventSink`, starting the drain
    job at once after each event (a booking or a visitor's sign-in reaches central in
    the time of one upload, not up to a drain period later; the drain still skips
    itself while the agent backs off, so an outage costs nothing).

    ``refusal`` (called before each event) gives the words for the screen when the
    event must not be queued at all, e.g. a revoked device whose queue would never be
    sent (:func:`revoked`); the event is then refused with
    :class:`tapin.pending.ActionError` and the app undoes its effect."""

    def __init__(
        self,
        queue: Any,
        after: Callable[[], object],
        refusal: Callable[[], str | None] | None = None,
    ) -> None:
        self.queue = queue
        self._after = after
        self._refusal = refusal

    async def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        """Queue the event and start the drain. Raises :class:`tapin.pending.ActionError`
        when ``refusal`` says no, and what the queue raises."""
        words = self._refusal() if self._refusal is not None else None
        if words:
            from tapin.pending import ActionError

            raise ActionError(words)
        result = await self.queue.enqueue(*args, **kwargs)
        self._after()
        return result

    def __getattr__(self, name: str) -> Any:  # counts, rows, ... of the queue itself
        return getattr(self.queue, name)


def revoked(status: Any) -> bool:
    """Central said this device is revoked (:attr:`sync.agent.SyncStatus.trouble`, set
    by its last failed exchange, cleared by a success): what it queues is never sent."""
    return getattr(status, "trouble", None) == "revoked"


def revoked_words(role: str) -> str:
    """Why a revoked device refuses a user's action, in the device's language: a kiosk's
    words are followed by "Please ask reception for help." where a visitor reads them."""
    from tapin.i18n import _

    if role == "kiosk":
        return _("This kiosk was revoked on the server: nothing done here is sent")
    return _("This panel was revoked on the server: the action was not saved. Call IT.")


def decommissioned(config: Config) -> str | None:
    """The note of a device that was decommissioned (``None``: it was not)."""
    from tapin.device.commands import decommissioned_note

    return decommissioned_note(config.state_dir)

"""The demo's stand-in for central: it drains the device's *real* sealed queue in the same
process, opens each event with its own demo key, and answers like central would.

Demo mode has no server, but everything a person does at the demo panel still goes
through the sealed queue and comes back as an outcome, so the demo shows the real
pending → confirmed (or undone) cycle. Its key pair lives in the demo state directory
(mode 0600); production devices never have central's private key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.events import Code, ConflictWith, EventType
from sync.files import write_private
from sync.queue import AsyncSealedQueue
from sync.wire import UnsealError, open_epoch_key, open_payload
from tapin.calendar import CalendarStore

if TYPE_CHECKING:
    from tapin.demo.staff import DemoDesks
    from tapin.demo.visitors import DemoLobby

__all__ = ["DemoCentral", "demo_key"]

log = logging.getLogger(__name__)


def demo_key(state_dir: Path) -> X25519PrivateKey:
    """The demo central's key, made once per demo state directory."""
    path = state_dir / "demo-central.key"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, X25519PrivateKey):
            return key
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    write_private(path, pem)
    return key


class DemoCentral:
    def __init__(
        self,
        queue: AsyncSealedQueue,
        key: X25519PrivateKey,
        calendar: CalendarStore,
        on_settled: Callable[[Sequence[Mapping[str, Any]]], None],
        *,
        lobby: DemoLobby | None = None,
        desks: DemoDesks | None = None,
    ) -> None:
        """``lobby``: a kiosk's visitors (sign-ins answered, hosts told after a moment);
        ``desks``: a kiosk's desk bookings (overlaps refused, check-ins taken)."""
        self.queue = queue
        self.key = key
        self.calendar = calendar
        self.on_settled = on_settled
        self.lobby = lobby
        self.desks = desks
        self.applied = 0

    def _verdict(self, event: Any, epochs: Mapping[str, bytes]) -> dict[str, Any]:
        try:
            payload = open_payload(
                event, open_epoch_key(event.epoch, epochs[event.epoch], self.key)
            )
        except (UnsealError, KeyError):
            return {
                "id": event.id,
                "outcome": "rejected",
                "code": Code.UNSEALABLE,
                "reason": "the seal does not open",
            }
        if self.lobby is not None and event.type in (
            EventType.VISITOR_SIGNIN,
            EventType.VISITOR_SIGNOUT,
        ):
            code = self.lobby.take(event.type, payload, event.created_at)
            if code is not None:
                return {"id": event.id, "outcome": "rejected", "code": code, "reason": code}
        if self.desks is not None and event.resource.startswith("desk:"):
            refusal = self.desks.take(
                event.type,
                event.resource,
                payload,
                event.starts_at,
                event.ends_at,
                event.created_at,
            )
            if refusal is not None:
                return {"id": event.id, "outcome": "rejected", "reason": "desk", **refusal}
            return {"id": event.id, "outcome": "applied"}
        if event.type == EventType.BOOKING_CREATE and event.starts_at and event.ends_at:
            room = event.resource.removeprefix("room:")
            start = datetime.fromisoformat(event.starts_at)
            end = datetime.fromisoformat(event.ends_at)
            for meeting in self.calendar.meetings(room):
                if (
                    meeting.id != payload.get("booking_id")
                    and meeting.start < end
                    and (meeting.end > start)
                ):
                    return {
                        "id": event.id,
                        "outcome": "rejected",
                        "code": Code.CONFLICT,
                        "reason": "someone booked the room in the calendar meanwhile",
                        "detail": {
                            "with": ConflictWith.CALENDAR,
                            "start": meeting.start.isoformat(),
                            "end": meeting.end.isoformat(),
                        },
                    }
        return {"id": event.id, "outcome": "applied"}

    async def drain_once(self) -> int:
        if self.lobby is not None and self.lobby.tick():
            self.lobby.publish()  # a host was told
        batch = await self.queue.take_batch(100)
        if not batch.events:
            return 0
        results = [self._verdict(e, batch.epochs) for e in batch.events]
        await self.queue.settle(results)
        self.applied += sum(r["outcome"] == "applied" for r in results)
        self.on_settled(results)
        if self.lobby is not None:
            self.lobby.publish()
        if self.desks is not None:
            self.desks.publish()
        log.info("demo central settled %d events", len(results))
        return len(results)

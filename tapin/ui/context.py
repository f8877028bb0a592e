"""What every screen gets, in the panel and in the kiosk: the runtime (memory), the
screen's actions, the place it serves, the clock, and navigation. Screens never touch
the network or the disk themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from presence.interface import OccupancySource, SimulatedOccupancy
from tapin.device.runtime import Runtime
from tapin.pending import PendingActions

__all__ = ["ScreenContext"]


@dataclass
class ScreenContext:
    runtime: Runtime
    actions: PendingActions
    """Where the screen's actions go (the panel's or kiosk's controller)."""
    resource: str
    """The place this device serves: ``room:<id>`` (panel) or ``lobby:<id>`` (kiosk)."""
    clock: Callable[[], datetime]
    go: Callable[[str], None]
    """Show the screen of that name ("find_room", "report", "admin_pin", "admin", …)."""
    run: Callable[[Awaitable[Any]], None]
    """Run a coroutine on the app's loop (actions are async: the queue writes off-loop)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Hardware and services by name: "camera", "display", "sync_now" (may be absent)."""
    occupancy: OccupancySource = field(default_factory=SimulatedOccupancy)
    home: str = "status"
    """The screen :meth:`back` returns to."""

    def back(self) -> None:
        self.go(self.home)

    @property
    def room_id(self) -> str | None:
        """The room this device serves; ``None`` for a lobby kiosk."""
        kind, _, ident = self.resource.partition(":")
        return ident if kind == "room" else None

    @property
    def place_id(self) -> str:
        return self.resource.partition(":")[2]

    def place_name(self) -> str:
        """The room's name (or the lobby's id) for titles such as "Report a problem in …"."""
        room = self.room_id
        if room is None:
            return self.runtime.site.name or self.place_id
        try:
            return self.runtime.room(room).name
        except KeyError:
            return room

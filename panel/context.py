"""What every panel screen gets: the runtime (memory), the controller (actions), the
clock, and navigation. Screens never touch the network or the disk themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from panel.controller import PanelController
from tapin.runtime import Runtime

__all__ = ["PanelContext"]


@dataclass
class PanelContext:
    runtime: Runtime
    controller: PanelController
    room_id: str
    clock: Callable[[], datetime]
    go: Callable[[str], None]
    """Show the screen of that name ("status", "find_room", "report", "admin_pin", "admin")."""
    run: Callable[[Awaitable[Any]], None]
    """Run a coroutine on the app's loop (actions are async: the queue writes off-loop)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Hardware and services by name: "camera", "display", "sync" (may be absent)."""

    def back(self) -> None:
        self.go("status")

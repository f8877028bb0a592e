"""The demo's runtime: the built-in site in memory, today's meetings built at each of
the site's midnights, and a configuration that needs no file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tapin.calendar import CalendarStore, Directory
from tapin.config import Config, config_from_defaults
from tapin.demo.site import DEMO_ROOM, demo_meetings, demo_site
from tapin.device.runtime import Runtime, utc_now
from tapin.domain import Site

__all__ = ["demo_config", "demo_defaults", "demo_runtime"]

log = logging.getLogger(__name__)


def demo_defaults(state_dir: Path, role: str = "panel") -> dict[str, Any]:
    """Configuration values for the demo where a file is silent (dotted keys); ``role``
    ``kiosk`` for the demo lobby kiosk."""
    site = demo_site()
    return {
        "device.role": role,
        "device.room": DEMO_ROOM,
        "device.lobby": site.lobbies[0],
        "site.timezone": site.timezone,
        "paths.state_dir": state_dir,
    }


def demo_config(state_dir: Path, role: str = "panel") -> Config:
    return config_from_defaults(demo_defaults(state_dir, role))


def build_day(runtime: Runtime, day: date, now: datetime) -> None:
    """Today's demo meetings into the calendar, and every room's free/busy."""
    meetings = demo_meetings(runtime.site, day, now=now)
    for room in runtime.site.rooms:
        runtime.calendar.replace_room(room.id, [m for m in meetings if m.room_id == room.id])
    runtime.availability = {
        room.id: tuple((m.start, m.end) for m in meetings if m.room_id == room.id)
        for room in runtime.site.rooms
    }
    log.info("demo calendar built for %s: %d meetings", day, len(meetings))
    if runtime.config.role == "kiosk":  # the lobby's settings and today's visitors
        from tapin.demo.visitors import kiosk_snapshot, visitors_snapshot

        runtime.apply_snapshot("kiosk", kiosk_snapshot())
        runtime.apply_snapshot("visitors", visitors_snapshot(now, runtime.site.timezone))
        from tapin.demo.staff import DemoDesks, desks_snapshot, floors_snapshot

        runtime.apply_snapshot("desks", desks_snapshot(runtime.site))
        runtime.apply_snapshot("floors", floors_snapshot(runtime.site))
        runtime.apply_snapshot("desk_bookings", DemoDesks(runtime).snapshot())


def demo_runtime(config: Config, *, clock: Callable[[], datetime] = utc_now) -> Runtime:
    """A runtime over the built-in demo site, today's meetings placed around now."""
    site = demo_site()
    if config.timezone.key != site.timezone.key:
        site = Site(
            id=site.id,
            name=site.name,
            timezone=config.timezone,
            rooms=site.rooms,
            desks=site.desks,
            people=site.people,
            lobbies=site.lobbies,
        )
    runtime = Runtime(
        config=config,
        site=site,
        calendar=CalendarStore(site.timezone),
        directory=Directory(site.people),
        clock=clock,
        demo=True,
        on_new_day=build_day,
    )
    runtime.tick()
    return runtime

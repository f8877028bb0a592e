"""The device runtime the UI is a view of: configuration, site, calendar, directory.

The runtime holds only memory; the demo fills it from :mod:`tapin.demo`, the sync layer
(from central's snapshots) in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tapin import demo
from tapin.calendar import CalendarStore, Directory, site_day
from tapin.config import Config, config_from_defaults
from tapin.domain import Room, Site
from tapin.snapshots import (
    SnapshotError,
    parse_availability,
    parse_calendar,
    parse_directory,
    parse_rooms,
)

__all__ = ["Runtime", "demo_config", "demo_runtime", "utc_now"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def demo_defaults(state_dir: Path) -> dict[str, Any]:
    site = demo.demo_site()
    return {
        "device.role": "panel",
        "device.room": demo.DEMO_ROOM,
        "device.lobby": site.lobbies[0],
        "site.timezone": site.timezone,
        "paths.state_dir": state_dir,
    }


def demo_config(state_dir: Path) -> Config:
    return config_from_defaults(demo_defaults(state_dir))


@dataclass
class Runtime:
    config: Config
    site: Site
    calendar: CalendarStore
    directory: Directory
    clock: Callable[[], datetime] = utc_now
    demo_seed: int | None = None
    availability: dict[str, tuple[tuple[datetime, datetime], ...]] | None = None
    """Busy intervals of every room of the site today (central's ``availability``
    snapshot, or the demo's); ``None`` until known. No subjects, no people."""
    sync_status: Any = None
    """The sync agent's :class:`sync.agent.SyncStatus` when a device syncs (read-only
    here: the UI shows "offline — N changes waiting" from it)."""
    _day: date | None = field(default=None, repr=False)

    @property
    def h24(self) -> bool:
        return self.config.uses_24h_clock

    def room(self, room_id: str) -> Room:
        """The room, or a placeholder named by its id when the site is not known yet."""
        try:
            return self.site.room(room_id)
        except KeyError:
            if self.demo_seed is not None:
                raise
            return Room(id=room_id, name=room_id, floor=0, capacity=0)

    def apply_snapshot(self, kind: str, data: object) -> None:
        """Take a snapshot from central into memory; a malformed one is logged and
        ignored, keeping what we had (the log names the kind, never the content)."""
        try:
            if kind == "rooms":
                site = parse_rooms(data)
                self.site = site
                self.calendar.zone = site.timezone
            elif kind == "directory":
                self.directory.replace(parse_directory(data))
            elif kind == "availability":
                self.availability = parse_availability(data)
            elif kind == "calendar" and self.config.room is not None:
                self.calendar.replace_room(self.config.room, parse_calendar(data, self.config.room))
        except SnapshotError as exc:
            log.warning("ignored a malformed %s snapshot from central: %s", kind, exc)

    def forget_person(self, person_id: str) -> None:
        """Central's "forget this person": purge every cached trace from memory."""
        self.directory.forget(person_id)
        self.calendar.forget_person(person_id)

    def tick(self) -> datetime:
        """Advance to now; at the site's midnight the demo builds the new day."""
        now = self.clock()
        day = site_day(now, self.site.timezone)
        if self.demo_seed is not None and day != self._day:
            self._day = day
            meetings = demo.demo_meetings(self.site, day, self.demo_seed, now=now)
            for room in self.site.rooms:
                self.calendar.replace_room(room.id, [m for m in meetings if m.room_id == room.id])
            self.availability = {
                room.id: tuple((m.start, m.end) for m in meetings if m.room_id == room.id)
                for room in self.site.rooms
            }
            log.info("demo calendar built for %s: %d meetings", day, len(meetings))
        return now


def demo_runtime(
    config: Config, *, seed: int = 7, clock: Callable[[], datetime] = utc_now
) -> Runtime:
    """A runtime over the built-in demo site, today's meetings generated around now."""
    site = demo.demo_site(seed)
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
        demo_seed=seed,
    )
    runtime.tick()
    return runtime


def empty_runtime(config: Config, *, clock: Callable[[], datetime] = utc_now) -> Runtime:
    """A runtime that knows nothing yet: the calendar arrives from central."""
    site = Site(id="", name="", timezone=config.timezone)
    return Runtime(config, site, CalendarStore(site.timezone), Directory(), clock)

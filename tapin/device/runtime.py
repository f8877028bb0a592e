"""The device runtime the UI is a view of: configuration, site, calendar, directory.

The runtime holds only memory. On a device the sync layer fills it from central's
snapshots; the demo (:mod:`tapin.demo`) fills it with its own site and builds each
day's meetings through :attr:`Runtime.on_new_day`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from tapin.calendar import CalendarStore, Directory, site_day
from tapin.config import Config
from tapin.device.snapshots import (
    KioskSettings,
    SnapshotError,
    VisitorsToday,
    Withdrawn,
    mentioned_ids,
    parse_availability,
    parse_calendar,
    parse_directory,
    parse_kiosk,
    parse_rooms,
    parse_visitors,
    parse_withdrawn,
)
from tapin.device.staff_snapshots import (
    DeskBookings,
    FloorPlans,
    parse_desk_bookings,
    parse_desks,
    parse_floors,
)
from tapin.domain import Room, Site

__all__ = ["Runtime", "empty_runtime", "utc_now"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    config: Config
    site: Site
    calendar: CalendarStore
    directory: Directory
    clock: Callable[[], datetime] = utc_now
    demo: bool = False
    """The built-in demo site (no central): rooms are known, not placeholders."""
    on_new_day: Callable[[Runtime, date, datetime], None] | None = None
    """Called by :meth:`tick` when the site's day changes (the demo builds its day)."""
    availability: dict[str, tuple[tuple[datetime, datetime], ...]] | None = None
    """Busy intervals of every room of the site today (central's ``availability``
    snapshot, or the demo's); ``None`` until known. No subjects, no people."""
    sync_status: Any = None
    """The sync agent's :class:`sync.agent.SyncStatus` when a device syncs (read-only
    here: the UI shows "offline — N changes waiting" from it)."""
    on_applied: Callable[[str], None] | None = None
    """Called with the kind after :meth:`apply_snapshot` took a snapshot (the offline
    copy of today's free/busy, :mod:`tapin.device.availability`, listens)."""
    kiosk: KioskSettings | None = None
    """A lobby kiosk's settings (central's ``kiosk`` snapshot); ``None`` until known."""
    visitors: VisitorsToday | None = field(default=None, repr=False)
    """Today's invites and visitors on site (central's ``visitors`` snapshot): memory
    only, never written anywhere; ``None`` until known."""
    floors: FloorPlans | None = None
    """The site's floor plans (central's ``floors`` snapshot); ``None`` until known."""
    desk_bookings: DeskBookings | None = field(default=None, repr=False)
    """Today's desk bookings at the site (central's ``desk_bookings`` snapshot): memory
    only, never written anywhere; ``None`` until known."""
    neighbourhoods: dict[str, str] = field(default_factory=dict)
    """Desk id -> the team that sits there (central's ``desks`` snapshot)."""
    withdrawn: tuple[Withdrawn, ...] = ()
    """The panel's room: its bookings central withdrew (the calendar had the room first),
    from the ``calendar`` snapshot; the panel says so once each."""
    _day: date | None = field(default=None, repr=False)

    @property
    def h24(self) -> bool:
        return self.config.uses_24h_clock

    def room(self, room_id: str) -> Room:
        """The room, or a placeholder named by its id when the site is not known yet."""
        try:
            return self.site.room(room_id)
        except KeyError:
            if self.demo:
                raise
            return Room(id=room_id, name=room_id, floor=0, capacity=0)

    def apply_snapshot(self, kind: str, data: object) -> bool:
        """Take a snapshot from central into memory; a malformed one is logged and
        ignored, keeping what we had (the log names the kind, never the content).
        Returns whether it was taken."""
        try:
            if kind == "rooms":
                site = replace(parse_rooms(data), desks=self.site.desks)  # desks: their own
                self.site = site
                self.calendar.zone = site.timezone
            elif kind == "directory":
                self.directory.replace(parse_directory(data))
            elif kind == "availability":
                self.availability = parse_availability(data)
            elif kind == "kiosk":
                settings = parse_kiosk(data)
                lobby = self.config.lobby
                if lobby is not None and settings.lobby_id != lobby:
                    raise SnapshotError("kiosk snapshot is for another lobby")
                self.kiosk = settings
            elif kind == "desks":
                desks, neighbourhoods = parse_desks(data)
                self.site = replace(self.site, desks=desks)
                self.neighbourhoods = neighbourhoods
            elif kind == "floors":
                self.floors = parse_floors(data)
            elif kind == "desk_bookings":
                self.desk_bookings = parse_desk_bookings(data)
            elif kind == "visitors":
                today = parse_visitors(data)
                self.visitors = replace(today, received_at=self.clock())
            elif kind == "calendar" and self.config.room is not None:
                meetings = parse_calendar(data, self.config.room)
                self.withdrawn = tuple(parse_withdrawn(data, self.config.room))
                mentioned = mentioned_ids(data)
                self.calendar.replace_room(self.config.room, meetings, mentioned)
                for gone in self.withdrawn:  # this device's copy of it gives way
                    self.calendar.undo_local(self.config.room, gone.booking_id)
        except SnapshotError as exc:
            log.warning("ignored a malformed %s snapshot from central: %s", kind, exc)
            return False
        if self.on_applied is not None:
            self.on_applied(kind)
        return True

    def forget_person(self, person_id: str) -> None:
        """Central's "forget this person": purge every cached trace from memory."""
        self.directory.forget(person_id)
        self.calendar.forget_person(person_id)

    def tick(self) -> datetime:
        """Advance to now; at the site's midnight :attr:`on_new_day` runs."""
        now = self.clock()
        day = site_day(now, self.site.timezone)
        if day != self._day:
            self._day = day
            if self.on_new_day is not None:
                self.on_new_day(self, day, now)
        return now


def empty_runtime(config: Config, *, clock: Callable[[], datetime] = utc_now) -> Runtime:
    """A runtime that knows nothing yet: the calendar arrives from central."""
    site = Site(id="", name="", timezone=config.timezone)
    return Runtime(config, site, CalendarStore(site.timezone), Directory(), clock)

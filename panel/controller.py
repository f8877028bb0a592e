"""What the panel's buttons do: every action becomes a sealed event in the queue and a
visible change on the screen at once, marked pending until central answers
(:class:`tapin.pending.PendingActions`).

* Book now: a local meeting from now for 15–60 minutes (never past the next meeting),
  shown pending until central applies ``booking.create``; a rejection (someone booked
  the room in their calendar meanwhile) undoes it and says why.
* Check in / no-show release / extend / end early: the same pattern on existing
  meetings (``meeting.checkin``, ``meeting.release``, ``booking.extend``, ``booking.end``).
* Report an issue: ``issue.report`` for the room.

It never logs personal data: ids, types and counts only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from panel import rules
from presence.interface import OccupancySource, SimulatedOccupancy
from sync.events import (
    BookingCreate,
    BookingEnd,
    BookingExtend,
    MeetingCheckin,
    MeetingRelease,
    Payload,
)
from tapin.calendar import CalendarStore, day_bounds, site_day
from tapin.device.availability import is_offline_copy
from tapin.domain import Meeting
from tapin.i18n import _
from tapin.pending import ActionError, Lasts, PendingActions

if TYPE_CHECKING:
    from sync.queue import EventSink

__all__ = ["ActionError", "PanelController"]

log = logging.getLogger(__name__)

BOOKED_HERE = "Booked at the panel"


class PanelController(PendingActions):
    """The room panel's actions on one room's meetings."""

    def __init__(
        self,
        calendar: CalendarStore,
        room_id: str,
        sink: EventSink,
        *,
        clock: Callable[[], datetime],
        room: Callable[[], Any],
        occupancy: OccupancySource | None = None,
        h24: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(sink, clock=clock, zone=lambda: calendar.zone, h24=h24)
        self.calendar = calendar
        self.room_id = room_id
        self._room = room
        self.occupancy = occupancy or SimulatedOccupancy()
        self._released: set[str] = set()
        self._kept: dict[str, datetime] = {}
        self.release_offer: str | None = None
        """The meeting whose empty room is offered for release ("Keep the room?")."""

    # what is possible now ------------------------------------------------------------

    @property
    def resource(self) -> str:
        return f"room:{self.room_id}"

    def meetings(self) -> tuple[Meeting, ...]:
        return tuple(self.calendar.meetings(self.room_id))

    def current(self) -> Meeting | None:
        now = self.clock()
        return next((m for m in self.meetings() if m.covers(now)), None)

    def checkin_candidate(self) -> Meeting | None:
        """The meeting a "Check in" button would check in now, if any."""
        now, room = self.clock(), self._room()
        return next((m for m in self.meetings() if rules.can_check_in(m, room, now)), None)

    def book_now_choices(self) -> list[int]:
        now = self.clock()
        _, day_end = day_bounds(site_day(now, self.calendar.zone), self.calendar.zone)
        return rules.book_now_choices(self.meetings(), now, day_end=day_end)

    def extend_choices(self) -> list[int]:
        meeting = self.current()
        if meeting is None or is_offline_copy(meeting):  # central knows no such meeting
            return []
        now = self.clock()
        _, day_end = day_bounds(site_day(now, self.calendar.zone), self.calendar.zone)
        return rules.extend_choices(meeting, self.meetings(), now, day_end=day_end)

    # actions ---------------------------------------------------------------------------

    async def _send(
        self,
        event: Payload,
        *,
        undo: Callable[[], None],
        confirm: Callable[[], None] = lambda: None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> str:
        return await self.send(
            event, self.resource, undo=undo, confirm=confirm, starts_at=starts_at, ends_at=ends_at
        )

    async def book_now(self, minutes: int, booked_by: str | None = None) -> Meeting:
        if minutes not in self.book_now_choices():
            raise ActionError(_("The room is not free for that long"))
        now = self.clock().astimezone(UTC).replace(second=0, microsecond=0)
        booking = Meeting(
            id=f"b-{uuid.uuid4()}",
            room_id=self.room_id,
            start=now,
            end=now + timedelta(minutes=minutes),
            subject=_(BOOKED_HERE),
            organiser_id=booked_by,
            checked_in=True,  # booked at the door: the people are here
            pending=True,
        )
        self.calendar.put_local(self.room_id, booking)

        def confirm() -> None:
            self.calendar.settle_local(self.room_id, booking.id)
            self.notify(_("Booking confirmed"))

        await self._send(
            BookingCreate(booking.id, booked_by, booking.subject),
            undo=lambda: self.calendar.undo_local(self.room_id, booking.id),
            confirm=confirm,
            starts_at=booking.start,
            ends_at=booking.end,
        )
        return booking

    async def check_in(self, person_id: str | None = None) -> Meeting:
        meeting = self.checkin_candidate()
        if meeting is None:
            raise ActionError(_("There is no meeting to check in to right now"))
        had_local = self.calendar.local(self.room_id, meeting.id)
        self.calendar.put_local(self.room_id, replace(meeting, checked_in=True, pending=True))

        await self._send(
            MeetingCheckin(meeting.id, person_id),
            undo=self._restore(meeting.id, had_local),
            confirm=self._settle_local(meeting.id, ""),
        )
        self.notify(_("Checked in"))
        return meeting

    async def extend(self, minutes: int) -> Meeting:
        meeting = self.current()
        if meeting is None or minutes not in self.extend_choices():
            raise ActionError(_("The meeting cannot be extended that long: the room is booked"))
        previous = self.calendar.local(self.room_id, meeting.id)
        longer = replace(meeting, end=meeting.end + timedelta(minutes=minutes), pending=True)
        self.calendar.put_local(self.room_id, longer)
        await self._send(
            BookingExtend(meeting.id),
            undo=self._restore(meeting.id, previous),
            confirm=self._settle_local(meeting.id, _("Extended")),
            starts_at=meeting.start,
            ends_at=longer.end,
        )
        return longer

    async def end_now(self) -> None:
        meeting = self.current()
        if meeting is None:
            raise ActionError(_("No meeting is in progress"))
        new_end = rules.end_early_at(meeting, self.clock())
        previous = self.calendar.local(self.room_id, meeting.id)
        if new_end is None or new_end <= meeting.start:
            self.calendar.hide_local(self.room_id, meeting.id)
        else:
            self.calendar.put_local(self.room_id, replace(meeting, end=new_end, pending=True))
        await self._send(
            BookingEnd(meeting.id),
            undo=self._restore(meeting.id, previous),
            confirm=self._settle_local(meeting.id, _("The room is free again")),
            starts_at=meeting.start,
            ends_at=new_end if new_end and new_end > meeting.start else None,
        )

    async def release_no_shows(self) -> list[str]:
        """Release every meeting the rules say nobody came to; returns their ids."""
        now, room = self.clock(), self._room()
        reading = self.occupancy.reading(self.room_id)
        released = []
        for meeting in self.meetings():
            if meeting.id in self._released:
                continue
            decision = rules.release_decision(meeting, room, now, occupancy=reading.state)
            if not decision.release:
                continue
            self._released.add(meeting.id)
            previous = self.calendar.local(self.room_id, meeting.id)
            self.calendar.hide_local(self.room_id, meeting.id)
            await self._send(
                MeetingRelease(meeting.id, "no_show"),
                undo=self._restore(meeting.id, previous),
                confirm=self._settle_local(meeting.id, ""),
            )
            log.info("released meeting %s: %s", meeting.id, decision.reason)
            released.append(meeting.id)
        if released:
            self.notify(_("Nobody checked in: the room was released"), lasts=Lasts.ROOM)
        return released

    async def presence_tick(self) -> None:
        """Let presence act: check in a meeting whose people are in the room (where the
        room allows), offer a checked-in meeting's empty room for release, then release
        it if nobody keeps it."""
        now, room = self.clock(), self._room()
        reading = self.occupancy.reading(self.room_id)
        candidate = self.checkin_candidate()
        if candidate is not None and rules.presence_checks_in(candidate, room, now, reading):
            await self.check_in()
            log.info("meeting %s checked in by presence", candidate.id)
        current = self.current()
        if current is None or is_offline_copy(current):  # only times are known: keep it
            self.release_offer = None
            return
        decision = rules.empty_room_decision(
            current, room, now, reading, kept_at=self._kept.get(current.id)
        )
        if decision is None and self.release_offer is not None:
            self.release_offer = None  # people are back: the offer and its notice end
            self.changed()
        elif decision == "offer" and self.release_offer != current.id:
            self.release_offer = current.id
            self.notify(
                _("The room seems empty. Still using it? Tap Keep the room"), lasts=Lasts.OFFER
            )
        elif decision == "release" and current.id not in self._released:
            self._released.add(current.id)
            self.release_offer = None
            previous = self.calendar.local(self.room_id, current.id)
            self.calendar.hide_local(self.room_id, current.id)
            await self._send(
                MeetingRelease(current.id, "empty"),
                undo=self._restore(current.id, previous),
                confirm=self._settle_local(current.id, ""),
            )
            self.notify(_("The room was empty: it has been released"), lasts=Lasts.ROOM)

    def keep(self) -> None:
        """Someone tapped "Keep the room": the emptiness clock starts again."""
        if self.release_offer is not None:
            self._kept[self.release_offer] = self.clock()
            self.release_offer = None
            self.notify(_("Kept"))

    def _restore(self, meeting_id: str, previous: Meeting | None) -> Callable[[], None]:
        def undo() -> None:
            if previous is None:
                self.calendar.undo_local(self.room_id, meeting_id)
            else:
                self.calendar.put_local(self.room_id, previous)

        return undo

    def _settle_local(self, meeting_id: str, message: str) -> Callable[[], None]:
        def confirm() -> None:
            self.calendar.settle_local(self.room_id, meeting_id)
            if message:
                self.notify(message)

        return confirm

"""The room panel's rules, as pure functions of time: book now, check in, release,
extend, end early. No Kivy, no I/O, so every edge is tested directly.

Defaults follow what facilities teams expect from commercial panels (Robin, Teams
Rooms panels): a check-in window from 10 minutes before to 10 minutes after the start
(configurable per room), no-show release when the window closes without a check-in
(only where the room's policy enables it), never for meetings of 8 hours or more
(all-day blocks, offsites), and book-now / extend in 15-minute steps that never run
into the next meeting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from presence.interface import Occupancy, OccupancyReading
from tapin.domain import Meeting, Room
from tapin.rooms import BOOK_NOW_CHOICES, book_now_choices, next_start

__all__ = [
    "BOOK_NOW_CHOICES",
    "LONG_MEETING",
    "STEP",
    "Occupancy",
    "ReleaseDecision",
    "book_now_choices",
    "can_check_in",
    "checkin_window",
    "empty_room_decision",
    "end_early_at",
    "extend_choices",
    "presence_checks_in",
    "release_decision",
]

STEP = timedelta(minutes=15)
LONG_MEETING = timedelta(hours=8)
"""Meetings this long or longer are never released automatically."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def checkin_window(meeting: Meeting, room: Room) -> tuple[datetime, datetime]:
    """When check-in is accepted: from ``checkin_before`` before the start to
    ``checkin_after`` after it (never past the meeting's end)."""
    opens = meeting.start - room.checkin_before
    closes = min(meeting.start + room.checkin_after, meeting.end)
    return opens, closes


def can_check_in(meeting: Meeting, room: Room, now: datetime) -> bool:
    if meeting.checked_in:
        return False
    opens, closes = checkin_window(meeting, room)
    return opens <= _utc(now) < closes


@dataclass(frozen=True, slots=True)
class ReleaseDecision:
    release: bool
    reason: str
    """Why, in words a facilities manager understands (also logged, no personal data)."""


def release_decision(
    meeting: Meeting,
    room: Room,
    now: datetime,
    *,
    occupancy: Occupancy = Occupancy.UNKNOWN,
) -> ReleaseDecision:
    """Should a meeting nobody checked in to be released (no-show) at ``now``?

    Released only when all hold: the room's policy enables auto-release, the meeting
    is shorter than 8 hours, nobody checked in, the check-in window has closed, the
    meeting has not ended, and presence sensing does not say the room is occupied
    (people in the room are not a no-show, whatever the button says).
    """
    now = _utc(now)
    if not room.auto_release:
        return ReleaseDecision(False, "auto-release is off for this room")
    if meeting.duration >= LONG_MEETING:
        return ReleaseDecision(False, "meetings of 8 hours or more are never released")
    if meeting.checked_in:
        return ReleaseDecision(False, "checked in")
    if now >= meeting.end:
        return ReleaseDecision(False, "already over")
    _, closes = checkin_window(meeting, room)
    if now < closes:
        return ReleaseDecision(False, "check-in window still open")
    if occupancy is Occupancy.OCCUPIED:
        return ReleaseDecision(False, "the room is occupied")
    return ReleaseDecision(True, "no check-in by the end of the check-in window")


def extend_choices(
    meeting: Meeting,
    meetings: Sequence[Meeting],
    now: datetime,
    *,
    steps: int = 4,
    day_end: datetime | None = None,
) -> list[int]:
    """Minutes the meeting in progress can be extended by, in 15-minute steps, while the
    room stays free (up to ``steps`` steps) and, like book now, never past ``day_end``
    (the site's midnight). Empty when the next meeting starts at its end or the meeting
    is not in progress."""
    now = _utc(now)
    if not meeting.covers(now):
        return []
    others = [m for m in meetings if m.id != meeting.id]
    limit = next_start(others, meeting.end - timedelta(microseconds=1))
    if day_end is not None:
        day_end = _utc(day_end)
        limit = day_end if limit is None else min(limit, day_end)
    choices = []
    for step in range(1, steps + 1):
        new_end = meeting.end + STEP * step
        if limit is not None and new_end > limit:
            break
        choices.append(15 * step)
    return choices


def end_early_at(meeting: Meeting, now: datetime) -> datetime | None:
    """The new end when a meeting in progress is ended now (rounded down to the minute),
    or ``None`` when it is not in progress."""
    now = _utc(now)
    if not meeting.covers(now):
        return None
    return max(meeting.start, now.replace(second=0, microsecond=0))


def presence_checks_in(
    meeting: Meeting, room: Room, now: datetime, reading: OccupancyReading
) -> bool:
    """People sensed in the room during the check-in window check the meeting in, where
    the room's policy allows it."""
    return (
        room.presence_checkin
        and reading.state is Occupancy.OCCUPIED
        and can_check_in(meeting, room, now)
    )


def empty_room_decision(
    meeting: Meeting,
    room: Room,
    now: datetime,
    reading: OccupancyReading,
    *,
    kept_at: datetime | None = None,
) -> str | None:
    """For a checked-in meeting in progress: ``"offer"`` release when the room has been
    empty for ``room.empty_offer``, ``"release"`` after ``room.empty_release``, else
    ``None``. Emptiness counts from the later of the sensor's ``since`` and the last time
    someone tapped "Keep the room" (``kept_at``)."""
    now = _utc(now)
    if not meeting.checked_in or not meeting.covers(now) or meeting.pending:
        return None
    if reading.state is not Occupancy.VACANT or reading.since is None:
        return None
    empty_since = _utc(reading.since)
    if kept_at is not None:
        empty_since = max(empty_since, _utc(kept_at))
    empty_for = now - empty_since
    if empty_for >= room.empty_release:
        return "release"
    if empty_for >= room.empty_offer:
        return "offer"
    return None

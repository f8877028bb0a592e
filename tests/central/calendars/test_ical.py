"""Recurrence and time zones as the sync reads them (no server: the expander itself)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from central.calendars.base import Window
from central.calendars.ical import BadCalendarData, expand
from tests.central.calendars.conftest import ics, local, vevent

ZONE = ZoneInfo("Europe/Stockholm")
AUTUMN = Window(datetime(2026, 10, 1, tzinfo=ZONE), datetime(2026, 12, 1, tzinfo=ZONE), ZONE)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def test_a_weekly_meeting_keeps_its_local_time_across_the_dst_change() -> None:
    first = _at(date(2026, 10, 20), 10)  # CEST; the clocks go back on 25 October
    data = ics(
        vevent(
            "w",
            first,
            first + timedelta(hours=1),
            "Weekly",
            "RRULE:FREQ=WEEKLY;COUNT=4",
            f"EXDATE{local(first + timedelta(days=14))}",
        ),
        vevent(
            "w",
            _at(date(2026, 10, 27), 14),
            _at(date(2026, 10, 27), 15),
            "Moved",
            f"RECURRENCE-ID{local(first + timedelta(days=7))}",
        ),
        vevent(
            "w",
            first + timedelta(days=21),
            first + timedelta(days=21, hours=1),
            "Weekly",
            f"RECURRENCE-ID{local(first + timedelta(days=21))}",
            "STATUS:CANCELLED",
        ),
    )
    events = expand(data, AUTUMN)
    assert [(e.start.astimezone(ZONE).strftime("%m-%d %H:%M"), e.subject) for e in events] == [
        ("10-20 10:00", "Weekly"),
        ("10-27 14:00", "Moved"),
    ]
    assert [e.start.astimezone(UTC).hour for e in events] == [8, 13]  # +02:00, then +01:00
    assert events[1].recurrence_id == datetime(2026, 10, 27, 9, tzinfo=UTC)  # 10:00 CET


def test_private_confidential_all_day_and_floating() -> None:
    data = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:a\nDTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:20261102\n"
        "DTEND;VALUE=DATE:20261103\nSUMMARY:Offsite\nCLASS:CONFIDENTIAL\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:b\nDTSTAMP:20260101T000000Z\nDTSTART:20261104T090000\n"
        "DURATION:PT30M\nSUMMARY:Floating\nORGANIZER;CN=X:mailto:Ann@Example.COM\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    offsite, floating = expand(data, AUTUMN)
    assert offsite.private and offsite.start == _at(date(2026, 11, 2), 0)
    assert offsite.end - offsite.start == timedelta(days=1)
    assert not floating.private and floating.start == _at(date(2026, 11, 4), 9)
    assert floating.end == _at(date(2026, 11, 4), 9) + timedelta(minutes=30)
    assert floating.organiser_email == "ann@example.com"
    assert floating.recurrence_id is None  # a single event: its id survives a move


def test_garbage_is_refused_in_words() -> None:
    with pytest.raises(BadCalendarData, match="iCalendar"):
        expand("this is not a calendar", AUTUMN)

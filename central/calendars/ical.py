"""iCalendar in and out: a calendar resource expanded into occurrences, a booking as VEVENT.

Recurrence is expanded by ``recurring-ical-events`` (RRULE, RDATE, EXDATE, overrides by
RECURRENCE-ID, with the resource's own VTIMEZONE), parsing by ``icalendar``. Times come out
timezone-aware: a floating time or an all-day date is read in the site's zone. Cancelled
occurrences (STATUS:CANCELLED on the event or on an override) are left out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from central.calendars.base import CalendarEvent, EventStatus, Window

__all__ = ["BadCalendarData", "expand", "to_ics"]

_PRIVATE = {"PRIVATE", "CONFIDENTIAL"}
_MAX_SUBJECT = 200
_MAX_ATTENDEES = 500


class BadCalendarData(ValueError):
    """A resource that is not iCalendar, or a VEVENT without UID/DTSTART."""


def _aware(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone)
    raise BadCalendarData(f"not a date or time: {type(value).__name__}")


def _email(value: Any) -> str | None:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().lower()
    return text if "@" in text else None


def _attendees(component: Any) -> tuple[str, ...]:
    raw = component.get("ATTENDEE")
    if raw is None:
        return ()
    values = raw if isinstance(raw, list) else [raw]
    found = [e for e in (_email(v) for v in values[:_MAX_ATTENDEES]) if e]
    return tuple(dict.fromkeys(found))


def _occurrence(component: Any, zone: ZoneInfo, recurring: set[str]) -> CalendarEvent | None:
    uid = str(component.get("UID") or "").strip()
    if not uid or component.get("DTSTART") is None:
        raise BadCalendarData("a VEVENT needs UID and DTSTART")
    status = str(component.get("STATUS") or "CONFIRMED").upper()
    if status == "CANCELLED":
        return None
    start = _aware(component.decoded("DTSTART"), zone)
    if component.get("DTEND") is not None:
        end = _aware(component.decoded("DTEND"), zone)
    elif component.get("DURATION") is not None:
        end = start + component.decoded("DURATION")
    elif isinstance(component.decoded("DTSTART"), datetime):
        end = start  # RFC 5545: a DATE-TIME without end lasts no time
    else:
        end = start + timedelta(days=1)
    if end <= start:
        return None  # takes no time: never occupies the room
    recurrence = None  # the expander names every occurrence; a single event is not one
    if uid in recurring and component.get("RECURRENCE-ID") is not None:
        recurrence = _aware(component.decoded("RECURRENCE-ID"), zone)
    return CalendarEvent(
        uid=uid,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        subject=str(component.get("SUMMARY") or "").strip()[:_MAX_SUBJECT],
        recurrence_id=recurrence.astimezone(UTC) if recurrence is not None else None,
        organiser_email=_email(component.get("ORGANIZER")),
        attendee_emails=_attendees(component),
        private=str(component.get("CLASS") or "PUBLIC").upper() in _PRIVATE,
        status=EventStatus.TENTATIVE if status == "TENTATIVE" else EventStatus.CONFIRMED,
    )


def _inside(event: CalendarEvent, window: Window) -> bool:
    return event.start < window.end and event.end > window.start


def expand(data: str | bytes, window: Window) -> list[CalendarEvent]:
    """The occurrences of a calendar resource that overlap ``window``, sorted by start.

    Raises :class:`BadCalendarData` for data that is not a usable iCalendar object.
    """
    try:
        calendar = icalendar.Calendar.from_ical(data)
        vevents = calendar.walk("VEVENT")
        recurring = {
            str(c.get("UID") or "").strip()
            for c in vevents
            if any(c.get(k) is not None for k in ("RRULE", "RDATE", "RECURRENCE-ID"))
        }
        if recurring:
            components = recurring_ical_events.of(calendar, skip_bad_series=True).between(
                window.start, window.end
            )
            found = [_occurrence(c, window.zone, recurring) for c in components]
        else:  # most meetings happen once: no expander needed, only the window
            found = [_occurrence(c, window.zone, recurring) for c in vevents]
            found = [e for e in found if e is not None and _inside(e, window)]
    except BadCalendarData:
        raise
    except Exception as exc:  # icalendar and the expander raise many kinds on bad data
        raise BadCalendarData(f"unreadable iCalendar data ({type(exc).__name__})") from None
    events = [e for e in found if e is not None]
    events.sort(key=lambda e: (e.start, e.uid))
    return events


def to_ics(event: CalendarEvent, *, now: datetime | None = None) -> str:
    """``event`` as a VCALENDAR with one VEVENT (times in UTC: no VTIMEZONE needed)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Tapin//central calendar write-back//EN")
    cal.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.subject)
    vevent.add("class", "PRIVATE" if event.private else "PUBLIC")
    vevent.add("status", event.status.value.upper())
    if event.organiser_email:
        vevent.add("organizer", f"mailto:{event.organiser_email}")
    for email in event.attendee_emails:
        vevent.add("attendee", f"mailto:{email}")
    cal.add_component(vevent)
    return cal.to_ical().decode()

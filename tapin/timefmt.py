"""Showing times to people: the site's zone, 24 h or 12 h by locale, short durations."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["clock", "duration"]


def clock(moment: datetime, zone: ZoneInfo, *, h24: bool = True) -> str:
    """``14:05`` (24 h) or ``2:05 PM`` (12 h), in the site's zone."""
    local = moment.astimezone(zone)
    if h24:
        return f"{local.hour:02d}:{local.minute:02d}"
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def duration(span: timedelta) -> str:
    """``45 min``, ``1 h``, ``2 h 15 min``; rounded down to the minute, never negative."""
    minutes = max(0, int(span.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    from tapin.i18n import _

    if hours and minutes:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    if hours:
        return _("{h} h").format(h=hours)
    return _("{m} min").format(m=minutes)

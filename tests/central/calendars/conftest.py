"""A real Radicale for the calendar tests (one per module, a fresh calendar per test), the
site settings that point central's room ``r2`` at it, and iCalendar helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from caldav.davclient import DAVClient

from central.calendars.caldav import CalDavConnector
from central.calendars.settings import SiteCalendars
from tests.central.calendars.radicale import PASSWORD, USER, Radicale, radicale
from tests.central.conftest import ZONE

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Stockholm
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
"""


def local(moment: datetime) -> str:
    """``;TZID=Europe/Stockholm:YYYYMMDDTHHMMSS`` for a DTSTART/DTEND/RECURRENCE-ID."""
    return f";TZID=Europe/Stockholm:{moment.astimezone(ZONE):%Y%m%dT%H%M%S}"


def vevent(uid: str, start: datetime, end: datetime, summary: str, *lines: str) -> str:
    body = "\n".join(lines)
    return (
        f"BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART{local(start)}\n"
        f"DTEND{local(end)}\nSUMMARY:{summary}\n{body + chr(10) if body else ''}END:VEVENT\n"
    )


def ics(*vevents: str) -> str:
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//tests//EN\n"
        + VTIMEZONE
        + "".join(vevents)
        + "END:VCALENDAR\n"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with radicale(tmp_path_factory.mktemp("radicale")) as running:
        yield running


@pytest.fixture
def calendar(server: Radicale) -> Iterator[Any]:
    """A new, empty calendar (the caldav client's object) for room r2."""
    name = f"r2-{uuid.uuid4().hex[:8]}"
    with DAVClient(server.url, username=USER, password=PASSWORD) as client:
        yield client.principal().make_calendar(name=name, cal_id=name)


@pytest.fixture
def site(server: Radicale, calendar: Any) -> SiteCalendars:
    return SiteCalendars(
        site_id="alpha",
        connector="caldav",
        url=server.url,
        user=USER,
        password=PASSWORD,
        rooms={"r2": str(calendar.url)},
    )


@pytest.fixture
def connector(site: SiteCalendars) -> Iterator[CalDavConnector]:
    made = CalDavConnector(site.url, site.user, site.password)
    yield made
    made.close()


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parents[3]

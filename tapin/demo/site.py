"""The built-in demo site: an office in Stockholm with rooms, desks, people and meetings.

The site is data, ``assets/demo/site.json``, which central's demo seed reads too, so a
demo central and a demo device show the same office. Meetings are a typical day laid
on the day asked for, in the site's zone; with ``now`` the demo room also gets its
meetings placed around that moment, so the demo panel always has something to show.
Everything is deterministic for a given day and ``now``.
"""

from __future__ import annotations

import functools
import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import assets
from tapin.domain import Desk, Meeting, Person, Role, Room, Site, Visibility

__all__ = ["DEMO_ROOM", "demo_data", "demo_meetings", "demo_site"]

DEMO_ROOM = "aurora"


@functools.cache
def demo_data() -> dict[str, Any]:
    """The parsed ``assets/demo/site.json`` (read once per process)."""
    data: dict[str, Any] = json.loads(assets.path("demo", "site.json").read_text("utf-8"))
    return data


def demo_site() -> Site:
    """The demo organisation: rooms with their policies, desks, people (some invisible)."""
    data = demo_data()
    rooms = tuple(
        Room(
            id=r["id"],
            name=r["name"],
            floor=r["floor"],
            capacity=r["capacity"],
            equipment=tuple(r["equipment"]),
            building=r["building"],
            ask_booker=r["ask_booker"],
            presence_checkin=r["presence_checkin"],
        )
        for r in data["rooms"]
    )
    desks = tuple(
        Desk(
            id=d["id"],
            name=d["name"],
            floor=d["floor"],
            zone=d["zone"],
            equipment=tuple(d["equipment"]),
        )
        for d in data["desks"]
    )
    people = tuple(
        Person(
            id=p["id"],
            name=p["name"],
            email=p["email"],
            title=p["title"],
            department=p["department"],
            phone=p["phone"],
            photo=p["photo"],
            role=Role(p["role"]),
            visibility=Visibility(p["visibility"]),
            badge_id=p["badge_id"],
        )
        for p in data["people"]
    )
    site = data["site"]
    return Site(
        id=site["id"],
        name=site["name"],
        timezone=ZoneInfo(site["timezone"]),
        rooms=rooms,
        desks=desks,
        people=people,
        lobbies=tuple(site["lobbies"]),
    )


def _meeting(room: str, key: str, start: datetime, entry: dict[str, Any]) -> Meeting:
    return Meeting(
        id=f"m-{room}-{key}",
        room_id=room,
        start=start,
        end=start + timedelta(minutes=entry["minutes"]),
        subject=entry["subject"],
        organiser_id=entry["organiser"],
        attendee_ids=tuple(entry["attendees"]),
        private=entry["private"],
    )


def demo_meetings(site: Site, day: date, now: datetime | None = None) -> list[Meeting]:
    """Meetings of every room of ``site`` on ``day`` (site time), sorted by start.

    About one in five is private and some organisers are invisible people. With ``now``
    on that day, the demo room's meetings are placed around it: one that began a
    quarter of an hour ago, one later, and others earlier and later if they fit the day.
    """
    data, zone = demo_data(), site.timezone
    rooms = {room.id for room in site.rooms}
    meetings = [
        _meeting(
            entry["room"],
            f"{day.isoformat()}-{index}",
            datetime.combine(day, time.fromisoformat(entry["start"]), tzinfo=zone),
            entry,
        )
        for index, entry in enumerate(data["day"])
        if entry["room"] in rooms
    ]
    around = data["around_now"]
    if now is not None and now.astimezone(zone).date() == day and around["room"] in rooms:
        local = now.astimezone(zone)
        anchor = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
        meetings = [m for m in meetings if m.room_id != around["room"]]
        for index, entry in enumerate(around["meetings"]):
            start = anchor + timedelta(minutes=entry["offset"])
            end = start + timedelta(minutes=entry["minutes"])
            if start.date() == day and end.astimezone(zone).date() == day:
                meetings.append(
                    _meeting(around["room"], f"{day.isoformat()}-n{index}", start, entry)
                )
    meetings.sort(key=lambda m: (m.start, m.room_id))
    return meetings

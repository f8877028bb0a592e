"""The built-in demo site: an office in Stockholm with rooms, desks, people and meetings.

Everything is deterministic for a given seed (and day, and ``now`` for meetings), so
tests and screenshots are reproducible. Meetings are generated relative to the day
asked for; with ``now`` the demo room also gets a meeting around that moment, so the
demo panel always has something to show.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tapin.domain import Desk, Meeting, Person, Role, Room, Site, Visibility

__all__ = ["DEMO_ROOM", "demo_meetings", "demo_site"]

DEMO_ROOM = "aurora"
DEMO_ZONE = "Europe/Stockholm"

_ROOMS = (
    # id, name, floor, capacity, equipment
    ("aurora", "Aurora", 3, 8, ("display", "video", "whiteboard")),
    ("fjall", "Fjäll", 3, 4, ("display",)),
    ("skog", "Skog", 3, 12, ("display", "video", "audio")),
    ("hav", "Hav", 2, 6, ("display", "video")),
    ("sol", "Sol", 2, 2, ("phone",)),
    ("mane", "Måne", 4, 20, ("display", "video", "audio", "whiteboard")),
    ("alv", "Älv", 4, 6, ("whiteboard",)),
)

_PEOPLE = (
    # id, name, title, department, role, visible
    ("p-anna", "Anna Lindqvist", "Product Manager", "Product", Role.STAFF, True),
    ("p-bjorn", "Björn Ek", "Engineer", "Platform", Role.STAFF, True),
    ("p-carla", "Carla Mendes", "Designer", "Product", Role.STAFF, True),
    ("p-david", "David Okafor", "Head of Sales", "Sales", Role.STAFF, True),
    ("p-elin", "Elin Sundberg", "Receptionist", "Facilities", Role.RECEPTION, True),
    ("p-farid", "Farid Haddad", "Engineer", "Platform", Role.STAFF, False),
    ("p-greta", "Greta Nyström", "CFO", "Finance", Role.ADMIN, True),
    ("p-hugo", "Hugo Berg", "Technician", "IT", Role.TECHNICIAN, True),
    ("p-ines", "Inés Castillo", "Recruiter", "People", Role.STAFF, False),
    ("p-jonas", "Jonas Holm", "Engineer", "Data", Role.STAFF, True),
    ("p-karin", "Karin Wallin", "Legal Counsel", "Legal", Role.STAFF, False),
    ("p-lars", "Lars Persson", "Support Lead", "Support", Role.STAFF, True),
    ("p-maja", "Maja Åberg", "Marketing", "Marketing", Role.STAFF, True),
    ("p-nils", "Nils Forsberg", "CEO", "Management", Role.ADMIN, True),
)

_SUBJECTS = (
    "Sprint planning",
    "Design review",
    "Quarterly numbers",
    "Customer call: onboarding",
    "1:1",
    "Hiring sync",
    "Incident retro",
    "Roadmap workshop",
    "Team stand-up",
    "Budget 2027",
    "Partner demo",
    "Board prep",
)


def demo_site(seed: int = 7) -> Site:
    """The demo organisation. ``seed`` varies desks' zones only; rooms and people are fixed."""
    rng = random.Random(f"site:{seed}")
    rooms = tuple(
        Room(
            id=i,
            name=n,
            floor=f,
            capacity=c,
            equipment=e,
            building="HQ",
            ask_booker=i == "mane",  # the boardroom asks who is booking
            presence_checkin=i == "aurora",  # Aurora has a presence sensor
        )
        for i, n, f, c, e in _ROOMS
    )
    desks = tuple(
        Desk(
            id=f"d-{floor}{number:02d}",
            name=f"{floor}.{number:02d}",
            floor=floor,
            zone=rng.choice(("Quiet", "Window", "Team")),
            equipment=("monitor", "dock") if number % 2 else ("monitor",),
        )
        for floor in (2, 3, 4)
        for number in range(1, 9)
    )
    people = tuple(
        Person(
            id=i,
            name=name,
            email=f"{i.removeprefix('p-')}@nordlys.example",
            title=title,
            department=dept,
            phone=f"+46 8 555 {10 + n:02d} {20 + n:02d}",
            photo=f"{i}.png",
            role=role,
            visibility=Visibility.VISIBLE if visible else Visibility.INVISIBLE,
            badge_id=f"04A{n:02d}7F3C",
        )
        for n, (i, name, title, dept, role, visible) in enumerate(_PEOPLE)
    )
    return Site(
        id="nordlys-sthlm",
        name="Nordlys Stockholm",
        timezone=ZoneInfo(DEMO_ZONE),
        rooms=rooms,
        desks=desks,
        people=people,
        lobbies=("lobby-main",),
    )


def demo_meetings(
    site: Site, day: date, seed: int = 7, now: datetime | None = None
) -> list[Meeting]:
    """Meetings of every room of ``site`` on ``day`` (site time), sorted by start.

    Between 08:00 and 18:00 each room gets meetings of 30 to 90 minutes with gaps.
    About one in five is private; some organisers are invisible people. With ``now``
    on that day, the demo room's schedule is built around it: a meeting in progress
    and another one later.
    """
    zone = site.timezone
    meetings: list[Meeting] = []
    for room in site.rooms:
        rng = random.Random(f"meetings:{seed}:{room.id}:{day.isoformat()}")
        if room.id == DEMO_ROOM and now is not None:
            slots = _anchored_slots(now.astimezone(zone), rng)
        else:
            slots = _day_slots(day, zone, rng)
        for index, (start, end) in enumerate(slots):
            organiser = rng.choice(site.people)
            attendees = tuple(p.id for p in rng.sample(site.people, k=rng.randint(1, 4)))
            meetings.append(
                Meeting(
                    id=f"m-{room.id}-{day.isoformat()}-{index}",
                    room_id=room.id,
                    start=start,
                    end=end,
                    subject=rng.choice(_SUBJECTS),
                    organiser_id=organiser.id,
                    attendee_ids=attendees,
                    private=rng.random() < 0.2,
                )
            )
    meetings.sort(key=lambda m: (m.start, m.room_id))
    return meetings


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _day_slots(day: date, zone: ZoneInfo, rng: random.Random) -> list[tuple[datetime, datetime]]:
    slots = []
    cursor = _at(day, 8, 0, zone) + timedelta(minutes=30 * rng.randint(0, 3))
    close = _at(day, 18, 0, zone)
    while True:
        length = timedelta(minutes=rng.choice((30, 30, 60, 60, 90)))
        if cursor + length > close:
            break
        slots.append((cursor, cursor + length))
        cursor += length + timedelta(minutes=30 * rng.randint(0, 4))
    return slots


def _anchored_slots(now: datetime, rng: random.Random) -> list[tuple[datetime, datetime]]:
    """A meeting that began up to 30 minutes ago, one later on, one earlier if it fits."""
    floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    current_start = floor - timedelta(minutes=15 * rng.randint(0, 2))
    current = (current_start, current_start + timedelta(minutes=60))
    later_start = current[1] + timedelta(minutes=30 * rng.randint(1, 3))
    later = (later_start, later_start + timedelta(minutes=rng.choice((30, 60))))
    slots = [current, later]
    earlier_end = current_start - timedelta(minutes=30)
    if earlier_end.date() == now.date() and earlier_end - timedelta(minutes=60) > now.replace(
        hour=0, minute=0, second=0, microsecond=0
    ):
        slots.insert(0, (earlier_end - timedelta(minutes=60), earlier_end))
    return [s for s in slots if s[0].date() == now.date()] or [current]

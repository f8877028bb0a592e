"""Central's snapshots into domain values: good data parses, garbage raises only
:class:`SnapshotError`, and the privacy rules hold whatever central sends.

DESIGN.md: "a person marked invisible never appears on a kiosk or panel; private
meetings show as 'Private meeting' with no organiser", and malformed server responses
"get a clear error and lose nothing" (the runtime keeps what it had).
"""

from __future__ import annotations

import copy
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapin.demo.runtime import demo_config
from tapin.device.runtime import Runtime, empty_runtime
from tapin.device.snapshots import SnapshotError, parse_calendar, parse_directory, parse_rooms
from tapin.domain import Role, Visibility

ROOM = "aurora"
_STATE = Path(tempfile.gettempdir())
GARBAGE = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ROOMS: dict[str, Any] = {
    "site": {"id": "hq", "name": "Head office", "timezone": "Europe/Stockholm"},
    "rooms": [
        {
            "id": ROOM,
            "name": "Aurora",
            "building": "A",
            "floor": 3,
            "capacity": 8,
            "equipment": ["display", "video"],
            "auto_release": True,
            "checkin_before_minutes": 5,
            "checkin_after_minutes": 15,
            "ask_booker": True,
            "presence_checkin": True,
            "empty_offer_minutes": 5,
            "empty_release_minutes": 12,
        },
        {
            "id": "borealis",
            "name": "Borealis",
            "building": None,
            "floor": 0,
            "capacity": 4,
            "equipment": [],
            "auto_release": False,
            "checkin_before_minutes": 10,
            "checkin_after_minutes": 10,
        },
    ],
    "lobbies": [{"id": "lobby-main", "name": "Main entrance"}],
}
DIRECTORY: dict[str, Any] = {
    "site_id": "hq",
    "people": [
        {
            "id": "anna",
            "name": "Anna Lind",
            "title": "Architect",
            "department": "Design",
            "phone": "+46 8 123 45",
            "photo": "anna.jpg",
            "role": "admin",
            "badge_id": "04A007F3C",
        },
        {
            "id": "bo",
            "name": "Bo Ek",
            "title": None,
            "department": None,
            "phone": None,
            "photo": None,
            "role": "staff",
        },
    ],
}
CALENDAR: dict[str, Any] = {
    "site_id": "hq",
    "room_id": ROOM,
    "day": "2026-03-02",
    "timezone": "Europe/Stockholm",
    "meetings": [
        {
            "id": "m1",
            "source": "calendar",
            "start": "2026-03-02T09:00:00+01:00",
            "end": "2026-03-02T10:00:00+01:00",
            "private": False,
            "subject": "Design review",
            "organiser_id": "anna",
            "attendee_ids": ["anna", "bo"],
            "status": "confirmed",
        },
        {
            "id": "m2",
            "source": "calendar",
            "start": "2026-03-02T11:00:00+01:00",
            "end": "2026-03-02T11:30:00+01:00",
            "private": True,
            "subject": None,
            "organiser_id": None,
            "attendee_ids": [],
            "status": "checked_in",
        },
        {
            "id": "m3",
            "source": "device",
            "start": "2026-03-02T13:00:00+01:00",
            "end": "2026-03-02T14:00:00+01:00",
            "private": False,
            "subject": "Booked on the panel",
            "organiser_id": None,
            "attendee_ids": [],
            "status": "released",
        },
    ],
}


def runtime() -> Runtime:
    return empty_runtime(demo_config(_STATE))


# Good data -------------------------------------------------------------------------


def test_rooms_snapshot_parses_the_site_its_zone_rooms_and_lobbies() -> None:
    site = parse_rooms(ROOMS)
    assert (site.id, site.name, site.timezone.key) == ("hq", "Head office", "Europe/Stockholm")
    aurora = site.room(ROOM)
    assert (aurora.name, aurora.floor, aurora.capacity, aurora.building) == ("Aurora", 3, 8, "A")
    assert aurora.equipment == ("display", "video")
    assert aurora.checkin_before == timedelta(minutes=5)
    assert aurora.checkin_after == timedelta(minutes=15)
    assert aurora.ask_booker and aurora.presence_checkin
    assert (aurora.empty_offer, aurora.empty_release) == (
        timedelta(minutes=5),
        timedelta(minutes=12),
    )
    borealis = site.room("borealis")
    assert borealis.building == "" and not borealis.auto_release
    assert not borealis.ask_booker and not borealis.presence_checkin
    assert (borealis.empty_offer, borealis.empty_release) == (
        timedelta(minutes=10),
        timedelta(minutes=20),
    ), "a central without the empty-room timings gets the defaults"
    assert site.lobbies == ("lobby-main",)
    assert parse_rooms({**ROOMS, "lobbies": None}).lobbies == ()


def test_directory_snapshot_parses_people_with_defaults() -> None:
    anna, bo = parse_directory(DIRECTORY)
    assert (anna.id, anna.name, anna.title, anna.role) == (
        "anna",
        "Anna Lind",
        "Architect",
        Role.ADMIN,
    )
    assert anna.visible and anna.photo == "anna.jpg"
    assert anna.badge_id == "04A007F3C"
    assert (bo.title, bo.phone, bo.photo, bo.role) == ("", "", None, Role.STAFF)
    assert bo.badge_id is None
    odd = parse_directory({"people": [{"id": "x", "name": "X", "role": "overlord"}]})
    assert odd[0].role is Role.STAFF


def test_calendar_snapshot_keeps_live_meetings_in_utc_and_strips_private_ones() -> None:
    meetings = parse_calendar(CALENDAR, ROOM)
    assert [m.id for m in meetings] == ["m1", "m2"], "a released booking frees the room"
    design, private = meetings
    assert design.start == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert design.start.tzinfo is UTC
    assert (design.subject, design.organiser_id) == ("Design review", "anna")
    assert design.attendee_ids == ("anna", "bo")
    assert private.private and private.checked_in
    assert (private.subject, private.organiser_id) == ("", None)


def test_a_calendar_for_another_room_is_refused() -> None:
    with pytest.raises(SnapshotError, match="borealis"):
        parse_calendar({**CALENDAR, "room_id": "borealis"}, ROOM)
    with pytest.raises(SnapshotError, match="a list"):
        parse_calendar({**CALENDAR, "room_id": ["x" * 10_000]}, ROOM)


def test_good_snapshots_reach_the_runtime() -> None:
    rt = runtime()
    rt.apply_snapshot("rooms", ROOMS)
    rt.apply_snapshot("directory", DIRECTORY)
    rt.apply_snapshot("calendar", CALENDAR)
    assert rt.site.id == "hq" and rt.calendar.zone.key == "Europe/Stockholm"
    assert {p.id for p in rt.directory} == {"anna", "bo"}
    assert [m.id for m in rt.calendar.meetings(ROOM)] == ["m1", "m2"]


@pytest.mark.parametrize(
    ("snapshot", "problem"),
    [
        ({**ROOMS, "lobbies": 5}, "lobbies"),
        ({**ROOMS, "site": {**ROOMS["site"], "timezone": "America"}}, "timezone"),
        ({**ROOMS, "site": {**ROOMS["site"], "timezone": "../../etc/passwd"}}, "timezone"),
        ({**ROOMS, "site": {**ROOMS["site"], "timezone": ""}}, "timezone"),
    ],
)
def test_bad_rooms_snapshots_raise_snapshot_error(snapshot: Any, problem: str) -> None:
    with pytest.raises(SnapshotError, match=problem):
        parse_rooms(snapshot)


def _aurora(**fields: Any) -> dict[str, Any]:
    return {**ROOMS, "rooms": [{**ROOMS["rooms"][0], **fields}]}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"empty_offer_minutes": 0}, "empty_offer_minutes"),
        ({"empty_offer_minutes": -5}, "empty_offer_minutes"),
        ({"empty_offer_minutes": "5"}, "empty_offer_minutes"),
        ({"empty_offer_minutes": 5.5}, "empty_offer_minutes"),
        ({"empty_offer_minutes": True}, "empty_offer_minutes"),
        ({"empty_offer_minutes": None}, "empty_offer_minutes"),
        ({"empty_release_minutes": 10**9}, "empty_release_minutes"),
        ({"empty_release_minutes": []}, "empty_release_minutes"),
        ({"empty_offer_minutes": 20, "empty_release_minutes": 20}, "empty_release_minutes"),
        ({"empty_offer_minutes": 30, "empty_release_minutes": 10}, "empty_release_minutes"),
    ],
)
def test_bad_empty_room_timings_raise_snapshot_error(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(SnapshotError, match=problem):
        parse_rooms(_aurora(**fields))


def test_room_policy_flags_are_true_only_when_exactly_true() -> None:
    room = parse_rooms(_aurora(ask_booker="yes", presence_checkin=1)).room(ROOM)
    assert not room.ask_booker and not room.presence_checkin


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-05:00", "2026-03-02T10:00:00"],
)
def test_times_out_of_range_or_without_offset_raise_snapshot_error(moment: str) -> None:
    meeting = {**CALENDAR["meetings"][0], "start": moment}
    with pytest.raises(SnapshotError, match="start"):
        parse_calendar({"meetings": [meeting]}, ROOM)


def test_an_unhashable_role_is_a_plain_member_of_staff() -> None:
    (person,) = parse_directory({"people": [{"id": "x", "name": "X", "role": ["admin"]}]})
    assert person.role is Role.STAFF


# Garbage ---------------------------------------------------------------------------

EDGE_STRINGS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "2026-13-01T00:00:00Z",
    "2026-03-02T10:00:00",
    "2026-03-02T07:00:00+01:00",
    "America",
    "Europe/Nowhere",
    "../../etc/passwd",
    "/etc/localtime",
    "UTC\x00",
    "",
    "visible",
    "invisible",
    "checked_in",
    "released",
    "x" * 5000,
]
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(EDGE_STRINGS),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _garbage_for(old: Any) -> st.SearchStrategy[Any]:
    """A replacement for ``old``: often a near miss of its own type."""
    if isinstance(old, str):
        return st.one_of(st.sampled_from(EDGE_STRINGS), st.text(max_size=8), json_value)
    if isinstance(old, bool) or not isinstance(old, int):
        return json_value
    near = st.sampled_from([-1, -1000, 100_000, 2**63, 1.5, "3", True, None])
    return st.one_of(near, json_value)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, good: Any) -> Any:
    """``good`` with one to three edits anywhere in the tree: a value replaced (often by
    a near miss of its type), a key or list item deleted, a list item repeated."""
    value = copy.deepcopy(good)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(_paths(value)))
        if not path:
            value = draw(json_value)
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "repeat"]))
        if action == "delete":
            del parent[last]
        elif action == "repeat" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        else:
            parent[last] = draw(_garbage_for(parent[last]))
    return value


EDGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -1001,
    100_000,
    2**63,
    1.5,
    1e308,
    "3",
    [],
    {},
    [None],
    ["x", 1],
    {"id": None},
    *EDGE_STRINGS,
]


def _edited(good: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``good`` with the item at ``path`` set to ``value`` (or deleted when
    ``value`` is ``_DELETE``)."""
    copy_ = copy.deepcopy(good)
    parent = copy_
    for step in path[:-1]:
        parent = parent[step]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy_


_DELETE = object()
PARSERS: dict[str, Any] = {
    "rooms": parse_rooms,
    "directory": parse_directory,
    "calendar": lambda data: parse_calendar(data, ROOM),
}
GOOD = {"rooms": ROOMS, "directory": DIRECTORY, "calendar": CALENDAR}


@pytest.mark.parametrize("kind", list(GOOD))
def test_every_field_set_to_every_edge_value_raises_only_snapshot_error(kind: str) -> None:
    """Exhaustive over the fields of a good snapshot: each one deleted or replaced by
    each edge value (wrong types, out-of-range times, odd zone names, huge strings)."""
    good, parse = GOOD[kind], PARSERS[kind]
    tried = 0
    for path in _paths(good)[1:]:
        for value in [_DELETE, *EDGE_VALUES]:
            only_snapshot_errors(parse, _edited(good, path, value))
            tried += 1
    assert tried > 500


def only_snapshot_errors(parse: Any, *args: Any) -> Any:
    """Parse; ``None`` if the snapshot was refused. Any other exception fails."""
    try:
        return parse(*args)
    except SnapshotError:
        return None


@GARBAGE
@given(data=st.one_of(mutated(ROOMS), json_value))
def test_garbage_rooms_raise_only_snapshot_error(data: Any) -> None:
    only_snapshot_errors(parse_rooms, data)


@GARBAGE
@given(data=st.one_of(mutated(DIRECTORY), json_value))
def test_garbage_directories_raise_only_snapshot_error(data: Any) -> None:
    people = only_snapshot_errors(parse_directory, data)
    for person in people or []:
        assert isinstance(person.id, str) and isinstance(person.name, str)


@GARBAGE
@given(data=st.one_of(mutated(CALENDAR), json_value))
def test_garbage_calendars_raise_only_snapshot_error(data: Any) -> None:
    meetings = only_snapshot_errors(parse_calendar, data, ROOM)
    for meeting in meetings or []:
        assert meeting.room_id == ROOM and meeting.start.tzinfo is UTC
        if meeting.private:
            assert (meeting.subject, meeting.organiser_id) == ("", None)


# Privacy -----------------------------------------------------------------------------

truthy = st.one_of(
    st.just(True), st.integers(min_value=1), st.text(min_size=1, max_size=5), st.just([0])
)


@settings(max_examples=100, deadline=None)
@given(
    flags=st.lists(st.one_of(truthy, st.sampled_from([False, None, 0, ""])), max_size=8),
    subject=st.one_of(st.none(), st.text(max_size=30)),
    organiser=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
)
def test_private_meetings_never_keep_subject_or_organiser(
    flags: list[Any], subject: str | None, organiser: str | None
) -> None:
    meetings = []
    for i, flag in enumerate(flags):
        meeting = {
            "id": f"m{i}",
            "start": f"2026-03-02T{8 + i:02d}:00:00+00:00",
            "end": f"2026-03-02T{8 + i:02d}:30:00+00:00",
            "private": flag,
            "subject": subject,
            "organiser_id": organiser,
        }
        meetings.append(meeting)
    parsed = parse_calendar({"room_id": ROOM, "meetings": meetings}, ROOM)
    assert len(parsed) == len(flags)
    for meeting, flag in zip(parsed, flags, strict=True):
        assert meeting.private == bool(flag)
        if flag:
            assert meeting.subject == "" and meeting.organiser_id is None
        else:
            assert meeting.subject == (subject or "") and meeting.organiser_id == organiser


visibilities = st.one_of(
    st.sampled_from(["visible", "invisible", "hidden", "Visible", "VISIBLE", " visible", ""]),
    st.none(),
    st.booleans(),
    st.integers(-1, 1),
    st.lists(st.just("visible"), max_size=1),
    st.just("<missing>"),
)


@settings(max_examples=100, deadline=None)
@given(
    people=st.lists(
        st.tuples(st.sampled_from(["p1", "p2", "p3", "p4", "p5"]), visibilities), max_size=8
    )
)
def test_invisible_people_never_reach_the_runtime_directory(
    people: list[tuple[str, Any]],
) -> None:
    entries = []
    for person_id, visibility in people:
        entry: dict[str, Any] = {"id": person_id, "name": f"Name of {person_id}"}
        if visibility != "<missing>":
            entry["visibility"] = visibility
        entries.append(entry)
    rt = runtime()
    rt.apply_snapshot("directory", {"people": entries})

    hidden = {pid for pid, vis in people if vis not in ("visible", "<missing>")}
    shown = {person.id for person in rt.directory}
    assert not shown & hidden, "an invisible person reached the directory"
    assert shown == {pid for pid, _ in people} - hidden
    for person_id in hidden:
        assert rt.directory.get(person_id) is None
    assert all(person.visibility is Visibility.VISIBLE for person in rt.directory)


# A malformed snapshot keeps what the runtime had ---------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["rooms", "directory", "calendar"]),
    data=st.data(),
)
def test_a_malformed_snapshot_leaves_the_runtime_as_it_was(kind: str, data: st.DataObject) -> None:
    good = {"rooms": ROOMS, "directory": DIRECTORY, "calendar": CALENDAR}
    rt = runtime()
    for name, snapshot in good.items():
        rt.apply_snapshot(name, snapshot)
    before = (rt.site, list(rt.directory), tuple(rt.calendar.meetings(ROOM)), rt.calendar.zone)

    garbage = data.draw(st.one_of(mutated(good[kind]), json_value), label="garbage")
    parse = {
        "rooms": parse_rooms,
        "directory": parse_directory,
        "calendar": lambda d: parse_calendar(d, ROOM),
    }[kind]
    refused = only_snapshot_errors(parse, garbage) is None
    rt.apply_snapshot(kind, garbage)  # must not raise

    after = (rt.site, list(rt.directory), tuple(rt.calendar.meetings(ROOM)), rt.calendar.zone)
    if refused:
        assert after == before, f"a refused {kind} snapshot changed the runtime"
        assert rt.calendar.loaded(ROOM)
        assert [m.id for m in rt.calendar.meetings(ROOM)] == ["m1", "m2"]
    else:
        changed = {"rooms": 0, "directory": 1, "calendar": 2}[kind]
        for index in range(3):
            if index != changed:
                assert after[index] == before[index], "another kind of data changed"

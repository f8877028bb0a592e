"""Today's free/busy on disk (``availability.json``): a panel restarted while central is
unreachable shows Busy/Free with times instead of "No calendar", and the file holds
times per room only — never a subject, a name, an organiser or a meeting id.

Real parts: the runtime, its snapshot handling, the file on a real disk, the status
view and the free-room finder the screens use.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.status_model import build_status_view
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.device.availability import (
    AVAILABILITY_FILE,
    MAX_BYTES,
    AvailabilityKeeper,
    CopyError,
    decode_copy,
    is_offline_copy,
)
from tapin.device.runtime import Runtime, empty_runtime
from tapin.rooms import free_rooms_view
from tests.tapin.device.test_snapshots import CALENDAR, ROOM, ROOMS

NOW = datetime.fromisoformat("2026-03-02T09:30:00+01:00")
AVAILABILITY: dict[str, Any] = {
    "site_id": "hq",
    "day": "2026-03-02",
    "timezone": "Europe/Stockholm",
    "rooms": [
        {
            "id": ROOM,
            "busy": [
                {"start": "2026-03-02T09:00:00+01:00", "end": "2026-03-02T10:00:00+01:00"},
                {"start": "2026-03-02T11:00:00+01:00", "end": "2026-03-02T11:30:00+01:00"},
                {"start": "2026-03-02T13:00:00+01:00", "end": "2026-03-02T14:00:00+01:00"},
            ],
        },
        {
            "id": "borealis",
            "busy": [{"start": "2026-03-02T12:00:00+01:00", "end": "2026-03-02T13:00:00+01:00"}],
        },
    ],
}


def device(state: Path, now: datetime = NOW) -> tuple[Runtime, AvailabilityKeeper]:
    """A freshly started device runtime (nothing known) with its keeper."""
    state.mkdir(exist_ok=True)
    runtime = empty_runtime(demo_config(state), clock=ManualClock(now))
    return runtime, AvailabilityKeeper(runtime)


async def online_day(state: Path, now: datetime = NOW) -> Runtime:
    """A device that received central's snapshots (and so wrote its copy)."""
    runtime, keeper = device(state, now)
    for kind, data in (
        ("rooms", ROOMS),
        ("calendar", CALENDAR),
        ("availability", AVAILABILITY),
    ):
        await keeper.on_snapshot(kind, data)
    return runtime


def status(runtime: Runtime, now: datetime = NOW) -> Any:
    return build_status_view(runtime.room(ROOM), runtime.calendar, runtime.directory, now, h24=True)


async def test_restarted_offline_the_panel_shows_busy_with_times_not_no_calendar(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    await online_day(state)
    assert (state / AVAILABILITY_FILE).is_file()

    cold, keeper = device(state)  # restarted: nothing in memory
    assert status(cold).state == "unavailable"
    assert await keeper.restore() is not None

    view = status(cold)
    assert (view.state, view.headline) == ("busy", "Busy until 10:00")
    assert view.room_name == "Aurora"  # the site's rooms came back too
    # the own room's times are its calendar's (the released 13:00 booking is not busy)
    assert [item.times for item in view.agenda] == ["09:00 – 10:00", "11:00 – 11:30"]
    meetings = cold.calendar.meetings(ROOM)
    assert all(is_offline_copy(m) for m in meetings)
    assert all(m.subject == "" and m.organiser_id is None and not m.private for m in meetings)
    assert all(m.attendee_ids == () for m in meetings)
    assert all(m.checked_in for m in meetings)  # no check-in asked, no no-show release

    rooms = free_rooms_view(cold.site, cold.availability, cold.room(ROOM), NOW)
    assert [row.name for row in rooms.rows] == ["Borealis"]
    later = free_rooms_view(cold.site, cold.availability, cold.room(ROOM), NOW.replace(hour=12))
    assert later.rows == ()  # busy at noon according to the copy

    cold.apply_snapshot("calendar", CALENDAR)  # central answers: the copy steps aside
    assert [m.subject for m in cold.calendar.meetings(ROOM)] == ["Design review", ""]
    assert not any(is_offline_copy(m) for m in cold.calendar.meetings(ROOM))


async def test_the_file_holds_times_per_room_only_and_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await online_day(state)
    path = state / AVAILABILITY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert b"Design review" not in raw and b"Booked on the panel" not in raw
    for secret in ("anna", "bo", "m1", "m2", "m3"):  # people and meeting ids
        assert f'"{secret}"'.encode() not in raw
    data = json.loads(raw)
    assert set(data) == {"format", "about", "day", "timezone", "saved_at", "site", "rooms", "busy"}
    assert data["day"] == "2026-03-02" and data["saved_at"] == "2026-03-02T09:30:00+01:00"
    assert data["busy"][ROOM] == [
        ["2026-03-02T09:00:00+01:00", "2026-03-02T10:00:00+01:00"],
        ["2026-03-02T11:00:00+01:00", "2026-03-02T11:30:00+01:00"],
    ]
    for key in ("subject", "organiser_id", "attendee_ids", "private", "checked_in", "status"):
        assert f'"{key}"'.encode() not in raw
    assert not [p.name for p in state.iterdir() if p.name.endswith(".tmp")]


async def test_a_copy_of_another_day_is_ignored_and_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    await online_day(state)
    tomorrow = NOW + timedelta(days=1)
    cold, keeper = device(state, tomorrow)
    with caplog.at_level(logging.INFO, "tapin.device.availability"):
        assert await keeper.restore() is None
    assert not (state / AVAILABILITY_FILE).exists()
    assert status(cold, tomorrow).state == "unavailable"  # honest: nothing known today
    assert "is for 2026-03-02, not today (2026-03-03): deleted" in caplog.text
    # the day is the site's: 23:30 UTC on the 2nd is already the 3rd in Stockholm
    await online_day(state)
    _, keeper = device(state, datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    assert await keeper.restore() is None


GARBAGE_FILES = {
    "not json": b"{not json",
    "not utf-8": b"\xff\xfe\x00garbage",
    "a list": b"[1, 2, 3]",
    "another format": b'{"format": 2, "day": "2026-03-02"}',
    "a subject smuggled in": None,  # built from a good copy below
    "a bad time": None,
    "an interval ending before it starts": None,
    "a room with a subject": None,
    "too large": b" " * (MAX_BYTES + 1),
}


def spoil(good: dict[str, Any], case: str) -> bytes:
    data = copy.deepcopy(good)
    if case == "a subject smuggled in":
        data["subject"] = "Design review"
    elif case == "a bad time":
        data["busy"][ROOM][0][0] = "nine o'clock"
    elif case == "an interval ending before it starts":
        data["busy"][ROOM][0] = list(reversed(data["busy"][ROOM][0]))
    elif case == "a room with a subject":
        data["rooms"][0]["subject"] = "Design review"
    return json.dumps(data).encode()


@pytest.mark.parametrize("case", sorted(GARBAGE_FILES))
async def test_a_malformed_copy_is_logged_in_one_line_deleted_and_loses_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    state = tmp_path / "state"
    await online_day(state)
    path = state / AVAILABILITY_FILE
    good = json.loads(path.read_bytes())
    path.write_bytes(GARBAGE_FILES[case] or spoil(good, case))
    (state / "status.json").write_text("{}")  # a neighbour that must survive
    cold, keeper = device(state)
    with caplog.at_level(logging.INFO):
        assert await keeper.restore() is None
    assert not path.exists()
    assert (state / "status.json").read_text() == "{}"
    assert status(cold).state == "unavailable"
    warnings = [r for r in caplog.records if r.name == "tapin.device.availability"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "ignored and deleted" in warnings[0].getMessage()
    assert warnings[0].exc_info is None and "Traceback" not in caplog.text
    assert "Design review" not in caplog.text  # the log never quotes the file


GOOD_HEAD = {
    "format": 1,
    "day": "2026-03-02",
    "timezone": "Europe/Stockholm",
    "saved_at": "2026-03-02T09:30:00+01:00",
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps({**GOOD_HEAD, "busy": v}).encode()),
    )
)
def test_decoding_garbage_raises_only_copy_error(raw: bytes) -> None:
    with contextlib.suppress(CopyError):
        decode_copy(raw)


async def test_an_oversize_copy_is_refused_and_the_older_one_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    runtime = await online_day(state)
    path = state / AVAILABILITY_FILE
    assert path.exists()
    start = datetime.fromisoformat("2026-03-02T08:00:00+01:00")
    busy = [
        {
            "start": (start + timedelta(minutes=2 * i)).isoformat(),
            "end": (start + timedelta(minutes=2 * i + 1)).isoformat(),
        }
        for i in range(250)
    ]
    huge = {"rooms": [{"id": f"room-{n:04d}", "busy": busy} for n in range(60)]}
    keeper = AvailabilityKeeper(runtime)
    with caplog.at_level(logging.WARNING):
        await keeper.on_snapshot("availability", huge)
    assert not path.exists()  # a stale copy is worse than none
    assert "not written (larger than" in caplog.text
    assert len(runtime.availability or {}) == 60  # memory still has it: only disk refused


async def test_a_failed_write_keeps_the_older_copy_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    runtime = await online_day(state)
    path = state / AVAILABILITY_FILE
    before = path.read_bytes()
    (state / f".{AVAILABILITY_FILE}.{os.getpid()}.tmp").mkdir()  # the write cannot start
    later = copy.deepcopy(AVAILABILITY)
    later["rooms"][1]["busy"] = []
    with caplog.at_level(logging.WARNING):
        await AvailabilityKeeper(runtime).on_snapshot("availability", later)
    assert "offline availability copy not written" in caplog.text
    assert path.read_bytes() == before  # old or new, never a part
    assert decode_copy(path.read_bytes()).busy["borealis"]


async def test_a_malformed_snapshot_leaves_the_copy_as_it_was(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runtime = await online_day(state)
    path = state / AVAILABILITY_FILE
    before = path.read_bytes()
    keeper = AvailabilityKeeper(runtime)
    await keeper.on_snapshot("availability", {"rooms": "garbage"})
    await keeper.on_snapshot("calendar", {"meetings": [{"id": "x"}]})
    assert path.read_bytes() == before


def _strings(value: Any) -> Any:
    """Every string in parsed JSON, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def central_shaped(meetings: list[Any], room: str) -> dict[str, Any]:
    return {
        "room_id": room,
        "meetings": [
            {
                "id": m.id,
                "start": m.start.isoformat(),
                "end": m.end.isoformat(),
                "private": m.private,
                "subject": None if m.private else m.subject,
                "organiser_id": None if m.private else m.organiser_id,
                "attendee_ids": list(m.attendee_ids),
                "status": "checked_in" if m.checked_in else "confirmed",
            }
            for m in meetings
            if m.room_id == room
        ],
    }


async def test_after_a_demo_day_the_file_names_no_subject_person_or_meeting(
    tmp_path: Path,
) -> None:
    demo = demo_runtime(demo_config(tmp_path / "demo"))  # today's demo calendar, around now
    meetings = [m for room in demo.site.rooms for m in demo.calendar.meetings(room.id)]
    room = demo.config.room
    assert room is not None and any(m.room_id == room for m in meetings)
    state = tmp_path / "state"
    _, keeper = device(state, demo.clock())
    rooms = {
        "site": {"id": demo.site.id, "name": demo.site.name, "timezone": demo.site.timezone.key},
        "rooms": [{"id": r.id, "name": r.name, "floor": r.floor} for r in demo.site.rooms],
    }
    availability = {
        "rooms": [
            {"id": rid, "busy": [{"start": s.isoformat(), "end": e.isoformat()} for s, e in spans]}
            for rid, spans in (demo.availability or {}).items()
        ]
    }
    await keeper.on_snapshot("rooms", rooms)
    await keeper.on_snapshot("calendar", central_shaped(meetings, room))
    await keeper.on_snapshot("availability", availability)

    raw = (state / AVAILABILITY_FILE).read_bytes()
    secrets = {m.subject for m in meetings if m.subject} | {m.id for m in meetings}
    secrets |= {m.organiser_id for m in meetings if m.organiser_id}
    secrets |= {a for m in meetings for a in m.attendee_ids}
    for person in demo.site.people:
        secrets |= {person.id, person.name, person.email, person.phone}
    assert len(secrets) > 30
    strings = set(_strings(json.loads(raw)))
    for secret in sorted(s for s in secrets if s):
        assert secret not in strings, f"the copy carries {secret!r}"
        if sum(c.isalpha() for c in secret) >= 4:  # "1:1" is also part of "11:15"
            assert secret.encode() not in raw, f"the copy carries {secret!r}"
    kept = json.loads(raw)["busy"][room]
    assert len(kept) == len([m for m in meetings if m.room_id == room])  # the times are there

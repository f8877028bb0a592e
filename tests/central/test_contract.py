"""The event contract (``sync.events``) is one contract: what the devices build is what
central applies, and central's refusals carry what the devices need to word them."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

from central.appliers import APPLIERS
from sync import events
from sync.events import (
    BookingCreate,
    BookingEnd,
    BookingExtend,
    Code,
    EventType,
    IssueReport,
    MeetingCheckin,
    MeetingRelease,
    PresenceSample,
    VisitorSignin,
    VisitorSignout,
)
from tests.central.conftest import World, at, later

ROOT = Path(__file__).resolve().parents[2]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_central_applies_exactly_the_contracts_event_types() -> None:
    assert set(APPLIERS) == {t.value for t in EventType}
    assert {cls.TYPE for cls in events.Payload.__subclasses__()} == set(EventType)


def test_no_event_type_is_spelled_out_outside_the_contract() -> None:
    """Device and central code name event types through ``sync.events`` only."""
    names = {t.value for t in EventType}
    found = []
    for package in ("tapin", "panel", "kiosk", "presence", "sync", "central"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "sync" / "events.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert found == []


async def test_every_payload_the_devices_build_is_applied(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    booking = BookingCreate("b-contract", booked_by="p-vis", subject="Booked at the panel")
    sent = [
        panel.event(booking.TYPE, "room:r1", booking.payload(), start, end),
        panel.event(
            BookingExtend.TYPE,
            "room:r1",
            BookingExtend("b-contract").payload(),
            start,
            end + timedelta(minutes=15),
        ),
        panel.event(
            MeetingCheckin.TYPE, "room:r1", MeetingCheckin("m-open", person_id="p-vis").payload()
        ),
        # the empty-room release presence makes (reason "empty") is one central accepts
        panel.event(
            MeetingRelease.TYPE, "room:r1", MeetingRelease("m-hidden-org", "empty").payload()
        ),
        panel.event(
            IssueReport.TYPE,
            "room:r1",
            IssueReport("r-contract", "display", "HDMI 2 is dead").payload(),
        ),
        panel.event(
            PresenceSample.TYPE,
            "room:r1",
            PresenceSample(7, "1-2").payload(),
            start - timedelta(minutes=15),
            start,
        ),
        panel.event(BookingEnd.TYPE, "room:r1", BookingEnd("b-contract").payload(), start, start),
    ]
    results = await world.send(panel, *sent)
    assert [(r["outcome"], r.get("reason")) for r in results] == [("applied", None)] * len(sent)
    visitor = VisitorSignin("v-contract", "Ada Lovelace", "p-vis", True, "Analytical", "a@x.org")
    results = await world.send(
        kiosk,
        kiosk.event(visitor.TYPE, "lobby:l1", visitor.payload()),
        kiosk.event(VisitorSignout.TYPE, "lobby:l1", VisitorSignout("v-contract").payload()),
    )
    assert [r["outcome"] for r in results] == ["applied", "applied"]
    assert await world.count("releases", "reason = 'empty'") == 1


async def test_a_conflict_says_with_what_and_when(world: World) -> None:
    panel = await world.enroll(room="r1")
    booking = BookingCreate("b-late")
    event = panel.event(booking.TYPE, "room:r1", booking.payload(), at(10, 30), at(11, 30))
    [result] = await world.send(panel, event)
    assert (result["outcome"], result["code"]) == ("rejected", Code.CONFLICT)
    detail = result["detail"]
    assert detail["with"] == "calendar"
    assert (_time(detail["start"]), _time(detail["end"])) == (at(10), at(11))
    # a resend of the rejected event (a lost reply) gets the same answer, detail included
    [again] = await world.send(panel, event)
    assert (again["outcome"], again["detail"]) == ("rejected", detail)


async def test_a_state_refusal_says_why_and_when(world: World) -> None:
    panel = await world.enroll(room="r1")
    checkin = panel.event(
        MeetingCheckin.TYPE, "room:r1", MeetingCheckin("m-open").payload(), created_at=at(10, 2)
    )
    release = panel.event(
        MeetingRelease.TYPE, "room:r1", MeetingRelease("m-open").payload(), created_at=at(10, 11)
    )
    checked, refused = await world.send(panel, checkin, release)
    assert checked["outcome"] == "applied"
    assert (refused["outcome"], refused["code"]) == ("rejected", Code.STATE)
    assert refused["detail"]["why"] == "checked_in"
    assert _time(refused["detail"]["at"]) == at(10, 2)
    [resent] = await world.send(panel, release)
    assert (resent["outcome"], resent["detail"]) == ("rejected", refused["detail"])

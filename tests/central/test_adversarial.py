"""Every endpoint tried as an attacker would: without, with bogus and with revoked
credentials; across rooms and sites; and with hostile values in every payload field.
Central answers each with the right refusal and never with a 500."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central import queue_command, revoke_device
from sync.events import Code, EventType
from sync.wire import AD_BOUND, SealedEvent, _associated_data, _cipher, new_event_id
from tests.central.conftest import Device, World, later

ENDPOINTS = [
    ("GET", "/v1/snapshot/rooms"),
    ("GET", "/v1/snapshot/desks"),
    ("GET", "/v1/snapshot/directory"),
    ("GET", "/v1/snapshot/calendar?room=r1"),
    ("GET", "/v1/snapshot/availability"),
    ("POST", "/v1/events"),
    ("GET", "/v1/commands"),
    ("POST", "/v1/commands/1/ack"),
]


async def _call(world: World, method: str, path: str, headers: dict[str, Any]) -> Any:
    body = {"epochs": {}, "events": []} if path == "/v1/events" else None
    return await world.client.request(method, path, headers=headers, json=body)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_wants_a_live_device(world: World, method: str, path: str) -> None:
    device = await world.enroll(room="r1")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 5000},
        {"Authorization": "Bearer \u00e9t\u00e9".encode()},  # type: ignore[dict-item]
        {"Authorization": "Token " + device.token},
        {
            "Authorization": "Bearer "
            + device.token[:-1]
            + ("B" if device.token[-1] == "A" else "A")
        },
    ):
        response = await _call(world, method, path, headers)
        assert response.status_code == 401, (headers, response.text)
        assert set(response.json()) == {"error", "detail"}
    await revoke_device(world.pool, device.id)
    response = await _call(world, method, path, device.headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


async def test_a_panel_reads_only_its_own_rooms_calendar(world: World) -> None:
    panel = await world.enroll(room="r1")
    for room in ("r2", "b1", "nope", "r1' OR '1'='1", ""):
        response = await world.client.get(
            "/v1/snapshot/calendar", params={"room": room}, headers=panel.headers
        )
        assert response.status_code in (400, 403, 404), (room, response.text)
    kiosk = await world.enroll(lobby="l1")
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "b1"}, headers=kiosk.headers
    )
    assert response.status_code in (403, 404)


async def test_snapshots_never_cross_sites(world: World) -> None:
    beta = await world.enroll(lobby="bl1")
    for kind in ("rooms", "desks", "directory", "availability"):
        response = await world.client.get(f"/v1/snapshot/{kind}", headers=beta.headers)
        assert response.status_code == 200
        text = response.text
        for alpha_thing in ('"r1"', '"d1"', "p-vis", "Vera", "Roadmap"):
            assert alpha_thing not in text, (kind, alpha_thing)


async def test_events_across_rooms_roles_and_sites_are_refused(world: World) -> None:
    panel, kiosk = await world.enroll(room="r1"), await world.enroll(lobby="l1")
    beta_kiosk = await world.enroll(lobby="bl1")
    start, end = later()
    visitor = {"visitor_id": "v-1", "name": "Ada", "host_id": "p-vis", "accepted_terms": True}
    [signed_in] = await world.send(
        kiosk, kiosk.event(EventType.VISITOR_SIGNIN, "lobby:l1", visitor)
    )
    assert signed_in["outcome"] == "applied"
    tries: list[tuple[Device, Any, str]] = [
        # another room, another site, another device's kind of event
        (
            panel,
            panel.event(EventType.BOOKING_CREATE, "room:r2", {"booking_id": "x1"}, start, end),
            Code.FORBIDDEN,
        ),
        (
            panel,
            panel.event(EventType.BOOKING_CREATE, "desk:d1", {"booking_id": "x2"}, start, end),
            Code.FORBIDDEN,
        ),
        (
            panel,
            panel.event(EventType.MEETING_CHECKIN, "room:r2", {"meeting_id": "m-open"}),
            Code.FORBIDDEN,
        ),
        (
            panel,
            panel.event(EventType.VISITOR_SIGNOUT, "lobby:l1", {"visitor_id": "v-1"}),
            Code.FORBIDDEN,
        ),
        (
            kiosk,
            kiosk.event(EventType.MEETING_RELEASE, "room:r1", {"meeting_id": "m-open"}),
            Code.FORBIDDEN,
        ),
        (
            kiosk,
            kiosk.event(EventType.BOOKING_CREATE, "room:b1", {"booking_id": "x3"}, start, end),
            Code.FORBIDDEN,
        ),
        (
            kiosk,
            kiosk.event(
                EventType.ISSUE_REPORT, "lobby:bl1", {"report_id": "x4", "category": "other"}
            ),
            Code.FORBIDDEN,
        ),
        (
            kiosk,
            kiosk.event(
                EventType.PRESENCE_SAMPLE,
                "room:r1",
                {"occupied_minutes": 1, "count_band": "1-2"},
                start,
                start + timedelta(minutes=15),
            ),
            Code.FORBIDDEN,
        ),
        # a meeting of this room named through another meeting id, a visitor of another site
        (
            panel,
            panel.event(EventType.MEETING_CHECKIN, "room:r1", {"meeting_id": "m-of-r2"}),
            Code.NOT_FOUND,
        ),
        (
            beta_kiosk,
            beta_kiosk.event(EventType.VISITOR_SIGNOUT, "lobby:bl1", {"visitor_id": "v-1"}),
            Code.NOT_FOUND,
        ),
    ]
    for device, event, code in tries:
        [result] = await world.send(device, event)
        assert (result["outcome"], result.get("code")) == ("rejected", code), (event.type, result)
    assert await world.count("bookings") == 0
    assert await world.count("visitor_signins", "signed_out_at IS NULL") == 1


async def test_a_device_acknowledges_only_its_own_commands(world: World) -> None:
    mine, other = await world.enroll(room="r1"), await world.enroll(room="r1")
    async with world.pool.connection() as conn:
        command = await queue_command(conn, other.id, "restart", {})
    response = await world.client.post(f"/v1/commands/{command}/ack", headers=mine.headers)
    assert response.status_code == 404
    listed = (await world.client.get("/v1/commands", headers=mine.headers)).json()
    assert listed == {"commands": []}
    response = await world.client.post(f"/v1/commands/{command}/ack", headers=other.headers)
    assert response.status_code == 200


# hostile values in every payload field --------------------------------------------------

GOOD_PAYLOADS: dict[str, tuple[str, dict[str, Any], bool]] = {
    # type: (resource, a valid payload, needs a time range)
    EventType.BOOKING_CREATE: (
        "room:r1",
        {"booking_id": "b-h", "booked_by": "p-vis", "subject": "x"},
        True,
    ),
    EventType.BOOKING_EXTEND: ("room:r1", {"booking_id": "b-h"}, True),
    EventType.BOOKING_END: ("room:r1", {"booking_id": "b-h"}, True),
    EventType.MEETING_CHECKIN: ("room:r1", {"meeting_id": "m-open", "person_id": "p-vis"}, False),
    EventType.MEETING_RELEASE: ("room:r1", {"meeting_id": "m-open", "reason": "no_show"}, False),
    EventType.ISSUE_REPORT: (
        "room:r1",
        {"report_id": "i-h", "category": "other", "text": "x", "reporter_id": "p-vis"},
        False,
    ),
    EventType.PRESENCE_SAMPLE: ("room:r1", {"occupied_minutes": 3, "count_band": "1-2"}, True),
    EventType.VISITOR_SIGNIN: (
        "lobby:l1",
        {
            "visitor_id": "v-h",
            "name": "Ada",
            "host_id": "p-vis",
            "accepted_terms": True,
            "company": "c",
            "email": "a@b.example",
        },
        False,
    ),
    EventType.VISITOR_SIGNOUT: ("lobby:l1", {"visitor_id": "v-h"}, False),
}
HOSTILE = [
    None,
    "",
    " ",
    "x" * 100_000,
    "nul\x00here",
    "lone \ud800 surrogate",
    "\u202eright-to-left",
    "'; DROP TABLE bookings; --",
    -1,
    2**70,
    1.5,
    True,
    [],
    {"nested": {"deeper": ["x"] * 3}},
    [[[[[[[[[[[["deep"]]]]]]]]]]]],
]


def _sealed(device: Device, type_: str, resource: str, payload: Any, times: Any) -> SealedEvent:
    """Sealed as a hostile device could: any JSON, lone surrogates escaped (a real
    device's queue refuses to seal those)."""
    event_id, seq = new_event_id(), next(device.seq)
    starts, ends = (t.isoformat() if t else None for t in times)
    created = datetime.now(UTC).isoformat()
    nonce = os.urandom(12)
    aad = _associated_data(
        device.id, event_id, seq, type_, resource, starts, ends, created, device.epoch.id
    )
    plaintext = json.dumps(payload).encode()
    return SealedEvent(
        event_id,
        seq,
        type_,
        resource,
        starts,
        ends,
        created,
        device.epoch.id,
        nonce,
        _cipher(device.epoch.key).encrypt(nonce, plaintext, aad),
        AD_BOUND,
    )


@pytest.mark.parametrize("type_", list(GOOD_PAYLOADS))
async def test_hostile_values_in_every_field_end_as_that_events_answer(
    world: World, type_: str
) -> None:
    device = (
        await world.enroll(lobby="l1")
        if type_.startswith("visitor.")
        else await world.enroll(room="r1")
    )
    resource, payload, timed = GOOD_PAYLOADS[type_]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    times = (start, start + timedelta(minutes=15)) if timed else (None, None)
    for field in [*payload, "unexpected_field"]:
        hostile = [
            _sealed(device, type_, resource, {**payload, field: value}, times) for value in HOSTILE
        ]
        good = device.event(
            EventType.ISSUE_REPORT, resource, {"report_id": f"i-{field}", "category": "other"}
        )
        response = await world.client.post(
            "/v1/events", json=device.batch(*hostile, good), headers=device.headers
        )
        assert response.status_code == 200, (field, response.text[:300])
        *answers, fine = response.json()["results"]
        for value, answer in zip(HOSTILE, answers, strict=True):
            assert answer["outcome"] in ("applied", "rejected", "duplicate"), (field, value)
            if answer["outcome"] == "rejected":
                assert answer["code"] in {c.value for c in Code} and answer["reason"], (
                    field,
                    value,
                )
        assert fine["outcome"] == "applied", (field, fine)

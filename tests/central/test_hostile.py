"""Central probed as an attacker and as a flaky network would: every hole found once has
a test here, and every bad event ends as that event's own rejection."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sync.events import Code, EventType
from sync.wire import AD_BOUND, SealedEvent, _associated_data, _cipher, new_event_id, seal_payload
from tests.central.conftest import NOW, Device, World, at, later

# 1. check-in and release of the same meeting, at the same moment, from two panels --------


async def _blocked_behind(world: World, table: str, row_id: str, *requests: Any) -> list[Any]:
    """Hold ``table``'s row locked, start ``requests`` one after the other (each one
    waiting on the lock before the next starts), then let them all go."""
    async with world.pool.connection() as blocker, blocker.transaction():
        await blocker.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [row_id])
        tasks = []
        for number, request in enumerate(requests, start=1):
            tasks.append(asyncio.ensure_future(request))
            await _waiting_on_locks(world, number)
    return list(await asyncio.gather(*tasks))


async def _waiting_on_locks(world: World, count: int) -> None:
    for _ in range(500):
        async with world.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
        if row and row[0] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} requests never waited on the lock")


@pytest.mark.parametrize("first", ["checkin", "release"])
async def test_check_in_and_release_at_once_the_first_wins(world: World, first: str) -> None:
    door, other_door = await world.enroll(room="r1"), await world.enroll(room="r1")
    checkin = door.event(
        EventType.MEETING_CHECKIN, "room:r1", {"meeting_id": "m-open"}, created_at=at(10, 9)
    )
    release = other_door.event(
        EventType.MEETING_RELEASE, "room:r1", {"meeting_id": "m-open"}, created_at=at(10, 10)
    )
    sends = {"checkin": world.send(door, checkin), "release": world.send(other_door, release)}
    order = [first, "release" if first == "checkin" else "checkin"]
    results = await _blocked_behind(world, "meetings", "m-open", *(sends[n] for n in order))
    (won,), (lost,) = results
    assert (won["outcome"], lost["outcome"]) == ("applied", "rejected")
    assert lost["code"] == Code.STATE
    checked = await world.count("checkins", "meeting_id = 'm-open'")
    released = await world.count("meetings", "id = 'm-open' AND released_at IS NOT NULL")
    assert (checked, released) == ((1, 0) if first == "checkin" else (0, 1))


async def test_check_in_and_release_of_a_booking_at_once(world: World) -> None:
    door, other_door = await world.enroll(room="r1"), await world.enroll(room="r1")
    start = at(9, 50)
    [booked] = await world.send(
        door,
        door.event(
            EventType.BOOKING_CREATE,
            "room:r1",
            {"booking_id": "b-race"},
            start,
            start + timedelta(minutes=5),
        ),
    )
    assert booked["outcome"] == "applied"
    checkin = door.event(EventType.MEETING_CHECKIN, "room:r1", {"meeting_id": "b-race"})
    release = other_door.event(EventType.MEETING_RELEASE, "room:r1", {"meeting_id": "b-race"})
    (won,), (lost,) = await _blocked_behind(
        world, "bookings", "b-race", world.send(door, checkin), world.send(other_door, release)
    )
    assert (won["outcome"], lost["outcome"]) == ("applied", "rejected")
    assert await world.count("bookings", "id = 'b-race' AND status = 'released'") == 0


# 2. people are confined to the device's site ------------------------------------------


async def _beta_person(world: World) -> None:
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO people (id, site_id, name, email, last_active_at)"
            " VALUES ('p-beta', 'beta', 'Bo Beta', 'bo@beta.example', now() - interval '30 days')"
        )


async def test_a_person_of_another_site_is_stored_as_unknown(world: World) -> None:
    await _beta_person(world)
    panel = await world.enroll(room="r1")
    start, end = later()
    results = await world.send(
        panel,
        panel.event(
            EventType.BOOKING_CREATE,
            "room:r1",
            {"booking_id": "b-x", "booked_by": "p-beta"},
            start,
            end,
        ),
        panel.event(
            EventType.MEETING_CHECKIN, "room:r1", {"meeting_id": "m-open", "person_id": "p-beta"}
        ),
        panel.event(
            EventType.ISSUE_REPORT,
            "room:r1",
            {"report_id": "i-x", "category": "other", "reporter_id": "p-beta"},
        ),
    )
    assert [r["outcome"] for r in results] == ["applied"] * 3
    assert await world.count("bookings", "id = 'b-x' AND booked_by IS NULL") == 1
    assert await world.count("checkins", "meeting_id = 'm-open' AND person_id IS NULL") == 1
    assert await world.count("issue_reports", "id = 'i-x' AND reporter_id IS NULL") == 1
    # nor does site A's device keep site B's person from the inactivity purge
    assert (
        await world.count("people", "id = 'p-beta' AND last_active_at < now() - interval '1 day'")
        == 1
    )


# 3. one crafted event never fails its batch --------------------------------------------


def _raw_event(device: Device, plaintext: bytes, **clear: Any) -> SealedEvent:
    """An event sealed around arbitrary bytes (what a hostile device can send)."""
    fields: dict[str, Any] = {
        "event_id": new_event_id(),
        "seq": next(device.seq),
        "type": EventType.ISSUE_REPORT.value,
        "resource": "room:r1",
        "starts_at": None,
        "ends_at": None,
        "created_at": datetime.now(UTC).isoformat(),
    }
    fields.update(clear)
    nonce = os.urandom(12)
    aad = _associated_data(device.id, *fields.values(), device.epoch.id)
    return SealedEvent(
        id=fields["event_id"],
        seq=fields["seq"],
        type=fields["type"],
        resource=fields["resource"],
        starts_at=fields["starts_at"],
        ends_at=fields["ends_at"],
        created_at=fields["created_at"],
        epoch=device.epoch.id,
        nonce=nonce,
        ciphertext=_cipher(device.epoch.key).encrypt(nonce, plaintext, aad),
        ad=AD_BOUND,
    )


def _good(device: Device, report: str) -> SealedEvent:
    return device.event(
        EventType.ISSUE_REPORT, "room:r1", {"report_id": report, "category": "other"}
    )


async def test_a_payload_nested_100000_deep_is_its_own_rejection(world: World) -> None:
    panel = await world.enroll(room="r1")
    deep = b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    results = await world.send(
        panel, _good(panel, "i-1"), _raw_event(panel, deep), _good(panel, "i-2")
    )
    assert [r["outcome"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["code"] == Code.INVALID


async def test_a_booking_in_year_9999_over_another_is_its_own_rejection(world: World) -> None:
    panel = await world.enroll(room="r1")
    start = datetime(9999, 12, 31, 22, tzinfo=UTC)
    first = panel.event(
        EventType.BOOKING_CREATE,
        "room:r1",
        {"booking_id": "b-9a"},
        start,
        start + timedelta(hours=1),
    )
    second = panel.event(
        EventType.BOOKING_CREATE,
        "room:r1",
        {"booking_id": "b-9b"},
        start,
        start + timedelta(hours=1),
    )
    results = await world.send(panel, _good(panel, "i-1"), first, second)
    assert [r["outcome"] for r in results] == ["applied", "rejected", "rejected"]


async def test_an_epoch_with_a_lone_surrogate_is_answered_not_500(world: World) -> None:
    panel = await world.enroll(room="r1")
    good = _good(panel, "i-1")
    bad = dict(good.to_wire(), id=new_event_id(), epoch="ep\ud800ch")
    body = json.dumps({**panel.batch(good), "events": [good.to_wire(), bad]})  # "\\ud800"
    response = await world.client.post("/v1/events", content=body.encode(), headers=panel.headers)
    assert response.status_code == 200, response.text
    outcomes = [(r["outcome"], r.get("code")) for r in response.json()["results"]]
    assert outcomes == [("applied", None), ("rejected", Code.MALFORMED)]


# 4. command ids are ASCII digits ---------------------------------------------------------


@pytest.mark.parametrize("command_id", ["%C2%B2", "%D9%A3", "1e3", "-1", "99999999999999999999"])
async def test_a_command_id_that_is_not_a_number_is_a_404(world: World, command_id: str) -> None:
    panel = await world.enroll(room="r1")
    response = await world.client.post(f"/v1/commands/{command_id}/ack", headers=panel.headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"


# 5. a client that goes away mid-upload is not an error -----------------------------------


async def test_a_client_gone_mid_upload_is_logged_quietly(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    panel = await world.enroll(room="r1")
    app = world.client._transport.app  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []
    parts = [
        {"type": "http.request", "body": b'{"epochs": {}, "ev', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"central"),
            (b"authorization", panel.headers["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"100000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("central", 80),
    }
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records)
    assert any("went away" in r.getMessage() for r in caplog.records)


# 6. times far from central's clock are refused -------------------------------------------


@pytest.mark.parametrize(
    ("type", "resource", "payload", "times"),
    [
        (
            EventType.BOOKING_CREATE,
            "room:r1",
            {"booking_id": "b-1"},
            (datetime(1, 1, 2, tzinfo=UTC), datetime(1, 1, 2, 1, tzinfo=UTC)),
        ),
        (
            EventType.BOOKING_CREATE,
            "room:r1",
            {"booking_id": "b-2"},
            (NOW + timedelta(days=800), NOW + timedelta(days=800, hours=1)),
        ),
        (
            EventType.PRESENCE_SAMPLE,
            "room:r1",
            {"occupied_minutes": 1, "count_band": "1-2"},
            (NOW - timedelta(days=400), NOW - timedelta(days=400) + timedelta(minutes=15)),
        ),
    ],
)
async def test_far_times_are_refused_with_a_reason(
    world: World,
    type: str,
    resource: str,
    payload: dict[str, Any],
    times: tuple[datetime, datetime],
) -> None:
    panel = await world.enroll(room="r1")
    [result] = await world.send(panel, panel.event(type, resource, payload, *times))
    assert (result["outcome"], result["code"]) == ("rejected", Code.INVALID)
    assert "central's clock" in result["reason"]


async def test_a_visitor_signed_in_in_9999_is_refused(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    payload = {"visitor_id": "v-9", "name": "Zed", "host_id": "p-vis", "accepted_terms": True}
    [result] = await world.send(
        kiosk,
        kiosk.event(
            EventType.VISITOR_SIGNIN,
            "lobby:l1",
            payload,
            created_at=datetime(9999, 1, 1, tzinfo=UTC),
        ),
    )
    assert (result["outcome"], result["code"]) == ("rejected", Code.INVALID)
    assert await world.count("visitor_signins") == 0


# 7. enrollment is rate limited ---------------------------------------------------------------


async def test_enrollment_guessing_is_slowed_per_address_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = []
    with caplog.at_level(logging.WARNING):
        for _ in range(12):
            response = await world.client.post(
                "/v1/enroll",
                json={"code": "AAAAA-BBBBB-CCCCC", "public_key": "x", "signature": "y"},
            )
            statuses.append(response.status_code)
    assert statuses[0] in (400, 403) and statuses[-1] == 429
    limited = next(r for r in (await _last(world)) if r)
    assert limited.headers.get("retry-after", "").isdigit()
    assert any(
        "enrollment" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records
    )


async def _last(world: World) -> list[httpx.Response]:
    response = await world.client.post(
        "/v1/enroll", json={"code": "AAAAA-BBBBB-CCCCC", "public_key": "x", "signature": "y"}
    )
    return [response]


async def test_other_addresses_still_enroll_until_the_global_limit(world: World) -> None:
    # a guesser at one address does not lock the technicians at another one out
    for _ in range(15):
        await world.client.post(
            "/v1/enroll", json={"code": "X", "public_key": "x", "signature": "y"}
        )
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.client._transport.app, client=("127.0.0.2", 4000)),  # type: ignore[attr-defined]
        base_url="http://central",
    )
    async with other:
        response = await other.post(
            "/v1/enroll", json={"code": "X", "public_key": "x", "signature": "y"}
        )
    assert response.status_code != 429


# 8. an event is bound to the device that sealed it -----------------------------------------


async def _upload_as(world: World, uploader: Device, sealer: Device, *events: SealedEvent) -> Any:
    """``sealer``'s batch (its epoch, its events) sent with ``uploader``'s token."""
    response = await world.client.post(
        "/v1/events", json=sealer.batch(*events), headers=uploader.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def test_a_copy_uploaded_by_another_device_does_not_open(world: World) -> None:
    panel, thief = await world.enroll(room="r1"), await world.enroll(room="r1")
    event = _good(panel, "i-stolen")
    [copied] = await _upload_as(world, thief, panel, event)
    assert (copied["outcome"], copied["code"]) == ("rejected", Code.UNSEALABLE)
    [own] = await world.send(panel, event)  # the rightful device still delivers it
    assert own["outcome"] == "applied"
    assert await world.count("issue_reports", "id = 'i-stolen'") == 1


def _unbound(device: Device, report: str, created: datetime) -> SealedEvent:
    return seal_payload(
        device.epoch,
        event_id=new_event_id(),
        seq=next(device.seq),
        type=EventType.ISSUE_REPORT,
        resource="room:r1",
        payload={"report_id": report, "category": "other"},
        created_at=created,
    )


async def test_events_queued_before_an_upgrade_are_still_delivered(world: World) -> None:
    """A device upgraded with old, unbound events in its queue loses none of them, in
    whatever order central and the devices are upgraded; once it binds, an unbound event
    made later is a copy and does not open."""
    panel = await world.enroll(room="r1")
    async with world.pool.connection() as conn:  # enrolled before central bound events
        await conn.execute("UPDATE devices SET binds_since = NULL WHERE id = %s", [panel.id])
    queued = _unbound(panel, "i-queued", datetime.now(UTC) - timedelta(minutes=5))
    [old] = await world.send(panel, _unbound(panel, "i-old", datetime.now(UTC)))
    assert old["outcome"] == "applied"  # not upgraded yet: unbound is all it can do
    [bound] = await world.send(panel, _good(panel, "i-bound"))  # upgraded
    assert bound["outcome"] == "applied"
    later_copy = _unbound(panel, "i-copy", datetime.now(UTC) + timedelta(seconds=5))
    results = await world.send(panel, queued, later_copy)
    assert [(r["outcome"], r.get("code")) for r in results] == [
        ("applied", None),
        ("rejected", Code.UNSEALABLE),
    ]


async def test_a_new_device_takes_no_unbound_copies(world: World) -> None:
    panel, thief = await world.enroll(room="r1"), await world.enroll(room="r1")
    stolen = _unbound(panel, "i-unbound", datetime.now(UTC) + timedelta(seconds=1))
    [copied] = await _upload_as(world, thief, panel, stolen)
    assert (copied["outcome"], copied["code"]) == ("rejected", Code.UNSEALABLE)

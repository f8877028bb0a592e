"""Exactly-once application, conflicts and seal checks for ``POST /v1/events``."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, datetime, timedelta

from tests.central.conftest import World, at, later


async def test_a_batch_sent_twice_applies_once(world: World) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    events = [
        panel.event(
            "booking.create", "room:r1", {"booking_id": "b-1", "booked_by": "p-vis"}, start, end
        ),
        panel.event(
            "presence.sample",
            "room:r1",
            {"occupied_minutes": 3, "count_band": "1-2"},
            start - timedelta(minutes=5),
            start,
        ),
        panel.event("issue.report", "room:r1", {"report_id": "i-1", "category": "display"}),
    ]
    first = await world.send(panel, *events)
    assert [r["outcome"] for r in first] == ["applied"] * 3
    again = await world.send(panel, *events)
    assert [r["outcome"] for r in again] == ["duplicate"] * 3
    assert await world.count("bookings") == 1
    assert await world.count("presence_samples") == 1
    assert await world.count("issue_reports") == 1
    assert await world.count("applied_events") == 3


async def test_repeats_within_one_batch_are_duplicates(world: World) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    event = panel.event("booking.create", "room:r1", {"booking_id": "b-1"}, start, end)
    results = await world.send(panel, event, event)
    assert [r["outcome"] for r in results] == ["applied", "duplicate"]
    assert await world.count("bookings") == 1


async def test_two_devices_booking_the_same_slot(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    mine = panel.event("booking.create", "room:r1", {"booking_id": "b-panel"}, start, end)
    theirs = kiosk.event("booking.create", "room:r1", {"booking_id": "b-kiosk"}, start, end)
    [won] = await world.send(panel, mine)
    [lost] = await world.send(kiosk, theirs)
    assert won["outcome"] == "applied"
    assert lost["outcome"] == "rejected"
    assert lost["code"] == "conflict"
    assert lost["reason"].startswith("the room is already booked from ")
    [again] = await world.send(kiosk, theirs)
    assert again == lost  # a resend gets the same answer
    assert await world.count("bookings") == 1


async def test_concurrent_bookings_race_to_one_winner(world: World) -> None:
    kiosks = [await world.enroll(lobby="l1") for _ in range(4)]
    start, end = later(days=2)
    sends = [
        world.send(k, k.event("booking.create", "desk:d1", {"booking_id": f"b-{i}"}, start, end))
        for i, k in enumerate(kiosks)
    ]
    outcomes = sorted(r[0]["outcome"] for r in await asyncio.gather(*sends))
    assert outcomes == ["applied", "rejected", "rejected", "rejected"]
    assert await world.count("bookings") == 1


async def test_booking_over_a_calendar_meeting_is_rejected(world: World) -> None:
    panel = await world.enroll(room="r1")
    [result] = await world.send(
        panel,
        panel.event("booking.create", "room:r1", {"booking_id": "b-1"}, at(10, 30), at(11, 30)),
    )
    assert result["outcome"] == "rejected"
    assert result["reason"] == "the room is booked in the calendar from 10:00 to 11:00"
    [ok] = await world.send(
        panel, panel.event("booking.create", "room:r1", {"booking_id": "b-2"}, at(11), at(11, 30))
    )
    assert ok["outcome"] == "applied"


async def test_bookings_within_one_batch_conflict_with_each_other(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    results = await world.send(
        kiosk,
        kiosk.event("booking.create", "desk:d1", {"booking_id": "b-1"}, start, end),
        kiosk.event("booking.create", "desk:d1", {"booking_id": "b-2"}, start, end),
        kiosk.event(
            "booking.create", "desk:d1", {"booking_id": "b-1"}, end, end + timedelta(hours=1)
        ),
    )
    assert [r["outcome"] for r in results] == ["applied", "rejected", "rejected"]
    assert results[1]["reason"].startswith("the desk is already booked")
    assert "already used" in results[2]["reason"]


async def test_tampered_clear_fields_are_unsealable(world: World) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    event = panel.event("booking.create", "room:r1", {"booking_id": "b-1"}, start, end)
    tampered = dataclasses.replace(event, ends_at=(end + timedelta(hours=3)).isoformat())
    [result] = await world.send(panel, tampered)
    assert result["outcome"] == "rejected"
    assert result["code"] == "unsealable"
    [again] = await world.send(panel, tampered)
    assert again == result
    assert await world.count("bookings") == 0
    assert await world.count("applied_events", "outcome = 'rejected' AND code = 'unsealable'") == 1


async def test_an_epoch_sealed_to_another_key_is_unsealable(world: World) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from sync.wire import EpochKey

    panel = await world.enroll(room="r1")
    panel.epoch = EpochKey.generate(X25519PrivateKey.generate().public_key())
    [result] = await world.send(
        panel, panel.event("issue.report", "room:r1", {"report_id": "i", "category": "other"})
    )
    assert result["code"] == "unsealable"


async def test_scope_and_type_rules(world: World) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    results = await world.send(
        panel,
        panel.event("booking.create", "room:b1", {"booking_id": "b-1"}, start, end),
        panel.event("booking.create", "room:r2", {"booking_id": "b-2"}, start, end),
        panel.event("visitor.signin", "lobby:l1", {"visitor_id": "v"}),
        panel.event("teleport.start", "room:r1", {}),
        panel.event("booking.create", "room:r1", {"booking_id": "b-3"}),
        panel.event("booking.create", "spaceship:x", {"booking_id": "b-4"}, start, end),
        panel.event("issue.report", "room:r1", {"report_id": "i", "category": "volcano"}),
        panel.event("booking.create", "room:r1", {"booking_id": 7}, start, end),
        panel.event(
            "issue.report",
            "room:r1",
            {"report_id": "i", "category": "other"},
            created_at=datetime.now(UTC) - timedelta(days=200),
        ),
    )
    codes = [r.get("code") for r in results]
    assert codes == [
        "forbidden",
        "forbidden",
        "forbidden",
        "unknown_type",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "expired",
    ]
    assert all(r["outcome"] == "rejected" and r["reason"] for r in results)
    assert "not part of site alpha" in results[0]["reason"]
    assert await world.count("applied_events", "outcome = 'rejected'") == len(results)


async def test_extend_and_end(world: World) -> None:
    panel = await world.enroll(room="r1")
    results = await world.send(
        panel,
        panel.event("booking.create", "room:r1", {"booking_id": "b"}, at(11), at(11, 30)),
        panel.event("booking.extend", "room:r1", {"booking_id": "b"}, ends_at=at(12)),
        panel.event("booking.extend", "room:r1", {"booking_id": "b"}, ends_at=at(13, 30)),
        panel.event("booking.end", "room:r1", {"booking_id": "b"}, ends_at=at(11, 45)),
        panel.event("booking.extend", "room:r1", {"booking_id": "nope"}, ends_at=at(12)),
    )
    assert [r["outcome"] for r in results] == [
        "applied",
        "applied",
        "rejected",
        "applied",
        "rejected",
    ]
    assert results[2]["reason"] == "the room is booked in the calendar from 13:00 to 14:00"
    assert results[4]["code"] == "not_found"
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT upper(during), status FROM bookings WHERE id = 'b'")
        assert await cur.fetchone() == (at(11, 45), "ended")


async def test_extend_into_another_booking(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    start, end = later()
    results = await world.send(
        kiosk,
        kiosk.event("booking.create", "desk:d1", {"booking_id": "a"}, start, end),
        kiosk.event(
            "booking.create", "desk:d1", {"booking_id": "b"}, end, end + timedelta(hours=1)
        ),
        kiosk.event(
            "booking.extend", "desk:d1", {"booking_id": "a"}, ends_at=end + timedelta(minutes=10)
        ),
    )
    assert [r["outcome"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["reason"].startswith("the desk is already booked from")


async def test_checkin_and_release(world: World) -> None:
    panel = await world.enroll(room="r1")
    results = await world.send(
        panel,
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-open", "person_id": "p-vis"}),
        panel.event("meeting.release", "room:r1", {"meeting_id": "m-open"}),
        panel.event("meeting.release", "room:r1", {"meeting_id": "m-private"}),
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-private"}),
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-open"}),
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-elsewhere"}),
    )
    outcomes = [r["outcome"] for r in results]
    assert outcomes == ["applied", "rejected", "applied", "rejected", "applied", "rejected"]
    assert "checked in" in results[1]["reason"]
    assert "released" in results[3]["reason"]
    assert results[5]["code"] == "not_found"
    assert await world.count("checkins") == 1
    assert await world.count("releases") == 1
    # the released slot is free again for a booking
    [booked] = await world.send(
        panel, panel.event("booking.create", "room:r1", {"booking_id": "b"}, at(13), at(13, 30))
    )
    assert booked["outcome"] == "applied"
    calendar = await world.client.get("/v1/snapshot/calendar?room=r1", headers=panel.headers)
    status = {m["id"]: m["status"] for m in calendar.json()["meetings"]}
    assert status == {
        "m-open": "checked_in",
        "m-private": "released",
        "b": "confirmed",
        "m-hidden-org": "confirmed",
    }


async def test_release_needs_auto_release(world: World) -> None:
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO meetings (id, room_id, during) VALUES ('m2', 'r2', tstzrange(%s, %s))",
            [at(10), at(11)],
        )
    panel = await world.enroll(room="r2")
    [result] = await world.send(
        panel, panel.event("meeting.release", "room:r2", {"meeting_id": "m2"})
    )
    assert result["code"] == "state"
    assert "does not release" in result["reason"]


async def test_visitors_notify_their_host(world: World) -> None:
    from central.visitor_setup import publish_terms

    await publish_terms(world.pool, "alpha", "t1", "en", "Terms", "Be nice.")
    kiosk = await world.enroll(lobby="l1")
    visitor = {
        "visitor_id": "v-1",
        "name": "Ada",
        "company": "Acme",
        "email": "ada@acme.example",
        "host_id": "p-vis",
        "accepted_terms": True,
        "terms_version": "t1",
    }
    results = await world.send(
        kiosk,
        kiosk.event("visitor.signin", "lobby:l1", visitor),
        kiosk.event(
            "visitor.signin", "lobby:l1", {**visitor, "visitor_id": "v-2", "accepted_terms": False}
        ),
        kiosk.event(
            "visitor.signin", "lobby:l1", {**visitor, "visitor_id": "v-3", "host_id": "p-gone"}
        ),
        kiosk.event("visitor.signout", "lobby:l1", {"visitor_id": "v-1"}),
        kiosk.event("visitor.signout", "lobby:l1", {"visitor_id": "v-9"}),
    )
    assert [r["outcome"] for r in results] == [
        "applied",
        "rejected",
        "applied",
        "applied",
        "rejected",
    ]
    assert "terms" in results[1]["reason"]
    assert await world.count("host_notifications", "host_id = 'p-vis'") == 1
    # v-3's host is not at the site: reception is told instead
    assert await world.count("host_notifications", "recipient = 'reception'") == 1
    assert await world.count("host_notifications") == 2
    assert await world.count("visitor_signins", "id = 'v-3' AND host_id IS NULL") == 1
    assert await world.count("visitor_signins", "id = 'v-1' AND signed_out_at IS NOT NULL") == 1


async def test_issue_photos_are_checked(world: World) -> None:
    panel = await world.enroll(room="r1")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    results = await world.send(
        panel,
        panel.event(
            "issue.report",
            "room:r1",
            {"report_id": "i-1", "category": "video", "text": "no HDMI", "photo": png},
        ),
        panel.event(
            "issue.report",
            "room:r1",
            {"report_id": "i-2", "category": "video", "photo": "bm90IGFuIGltYWdl"},
        ),
        panel.event(
            "issue.report", "room:r1", {"report_id": "i-3", "category": "video", "text": "a\x00b"}
        ),
        panel.event("issue.report", "desk:d1", {"report_id": "i-4", "category": "furniture"}),
    )
    assert [r["outcome"] for r in results] == ["applied", "rejected", "rejected", "rejected"]
    assert results[3]["code"] == "forbidden"
    assert await world.count("issue_reports", "photo_type = 'image/png'") == 1


async def test_malformed_events_with_an_id_are_answered_alone(world: World) -> None:
    panel = await world.enroll(room="r1")
    start, end = later()
    good = panel.event("booking.create", "room:r1", {"booking_id": "b"}, start, end)
    broken = {**good.to_wire(), "id": "0190a000-0000-7000-8000-000000000001", "seq": -1}
    orphan = {**panel.event("issue.report", "room:r1", {}).to_wire(), "epoch": "elsewhere"}
    body = panel.batch(good)
    body["events"] += [broken, orphan]
    response = await world.client.post("/v1/events", json=body, headers=panel.headers)
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["applied", "rejected", "rejected"]
    assert results[1]["code"] == results[2]["code"] == "malformed"
    assert await world.count("applied_events") == 1


async def test_people_activity_is_refreshed(world: World) -> None:
    async with world.pool.connection() as conn:
        await conn.execute("UPDATE people SET last_active_at = now() - interval '300 days'")
    panel = await world.enroll(room="r1")
    start, end = later()
    await world.send(
        panel,
        panel.event(
            "booking.create", "room:r1", {"booking_id": "b", "booked_by": "p-vis"}, start, end
        ),
    )
    assert await world.count("people", "last_active_at > now() - interval '1 hour'") == 1

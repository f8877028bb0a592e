from __future__ import annotations

import pytest

from central import NotFound, forget_person, revoke_device
from tests.central.conftest import World, later


async def test_forget_person_erases_and_tells_every_device_of_the_site(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    revoked = await world.enroll(lobby="l1")
    elsewhere = await world.enroll(lobby="bl1")
    await revoke_device(world.pool, revoked.id)
    start, end = later()
    await world.send(
        panel,
        panel.event(
            "booking.create",
            "room:r1",
            {"booking_id": "b", "booked_by": "p-vis", "subject": "Vera's 1:1"},
            start,
            end,
        ),
        panel.event("meeting.checkin", "room:r1", {"meeting_id": "m-open", "person_id": "p-vis"}),
    )
    await world.send(
        kiosk,
        kiosk.event(
            "visitor.signin",
            "lobby:l1",
            {"visitor_id": "v", "name": "Ada", "host_id": "p-vis", "accepted_terms": True},
        ),
    )

    report = await forget_person(world.pool, "p-vis")

    assert report.site_id == "alpha"
    assert report.commands == 2
    assert report.rows["people"] == 1
    assert report.rows["bookings"] == 1
    assert report.rows["meetings"] == 2
    assert await world.count("people", "id = 'p-vis'") == 0
    assert await world.count("bookings", "booked_by IS NULL AND subject = ''") == 1
    assert (
        await world.count("meetings", "organiser_id = 'p-vis' OR 'p-vis' = ANY(attendee_ids)") == 0
    )
    assert await world.count("checkins", "person_id IS NULL") == 1
    assert await world.count("visitor_signins", "host_id IS NULL") == 1
    assert await world.count("host_notifications") == 0

    listed = await world.client.get("/v1/commands", headers=panel.headers)
    [command] = listed.json()["commands"]
    assert command["kind"] == "forget_person"
    assert command["args"] == {"person_id": "p-vis"}
    ack = await world.client.post(f"/v1/commands/{command['id']}/ack", headers=panel.headers)
    assert ack.status_code == 200
    assert ack.json()["first_time"] is True
    again = await world.client.post(f"/v1/commands/{command['id']}/ack", headers=panel.headers)
    assert again.json()["first_time"] is False
    assert (await world.client.get("/v1/commands", headers=panel.headers)).json() == {
        "commands": []
    }
    foreign = await world.client.post(f"/v1/commands/{command['id']}/ack", headers=kiosk.headers)
    assert foreign.status_code == 404
    assert (
        await world.client.post("/v1/commands/abc/ack", headers=kiosk.headers)
    ).status_code == 404
    assert (await world.client.get("/v1/commands", headers=elsewhere.headers)).json() == {
        "commands": []
    }
    directory = await world.client.get("/v1/snapshot/directory", headers=kiosk.headers)
    assert directory.json()["people"] == []

    with pytest.raises(NotFound):
        await forget_person(world.pool, "p-vis")

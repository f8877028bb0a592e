from __future__ import annotations

import json

from tests.central.conftest import World


async def test_rooms_and_desks_are_the_devices_site_only(world: World) -> None:
    panel = await world.enroll(room="r1")
    rooms = (await world.client.get("/v1/snapshot/rooms", headers=panel.headers)).json()
    assert rooms["site"] == {"id": "alpha", "name": "Alpha HQ", "timezone": "Europe/Stockholm"}
    assert [r["id"] for r in rooms["rooms"]] == ["r1", "r2"]
    assert rooms["rooms"][1]["auto_release"] is False
    assert rooms["lobbies"] == [{"id": "l1", "name": "l1"}]
    desks = (await world.client.get("/v1/snapshot/desks", headers=panel.headers)).json()
    assert [d["id"] for d in desks["desks"]] == ["d1"]
    kiosk = await world.enroll(lobby="bl1")
    beta = (await world.client.get("/v1/snapshot/rooms", headers=kiosk.headers)).json()
    assert [r["id"] for r in beta["rooms"]] == ["b1"]


async def test_directory_lists_visible_people_with_display_fields_only(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    response = await world.client.get("/v1/snapshot/directory", headers=kiosk.headers)
    people = response.json()["people"]
    assert [p["id"] for p in people] == ["p-vis"]
    assert set(people[0]) == {
        "id",
        "name",
        "title",
        "department",
        "phone",
        "photo",
        "role",
        "badge_id",
    }
    assert "Ivan" not in response.text
    assert "@" not in response.text


async def test_calendar_hides_private_details_and_invisible_people(world: World) -> None:
    panel = await world.enroll(room="r1")
    response = await world.client.get("/v1/snapshot/calendar?room=r1", headers=panel.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["room_id"] == "r1"
    assert body["timezone"] == "Europe/Stockholm"
    meetings = {m["id"]: m for m in body["meetings"]}
    assert list(meetings) == ["m-open", "m-private", "m-hidden-org"]
    assert meetings["m-open"]["subject"] == "Roadmap"
    assert meetings["m-open"]["organiser_id"] == "p-vis"
    assert meetings["m-open"]["attendee_ids"] == ["p-vis"]
    assert meetings["m-open"]["start"].endswith(("+01:00", "+02:00"))
    private = meetings["m-private"]
    assert private["private"] is True
    assert private["subject"] is None
    assert private["organiser_id"] is None
    assert private["attendee_ids"] == []
    assert "Secret" not in response.text
    assert meetings["m-hidden-org"]["organiser_id"] is None
    assert "p-inv" not in response.text


async def test_etag_and_304(world: World) -> None:
    panel = await world.enroll(room="r1")
    for path in ("rooms", "desks", "directory", "calendar?room=r1", "availability"):
        first = await world.client.get(f"/v1/snapshot/{path}", headers=panel.headers)
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        again = await world.client.get(
            f"/v1/snapshot/{path}", headers={**panel.headers, "If-None-Match": etag}
        )
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        weak = await world.client.get(
            f"/v1/snapshot/{path}", headers={**panel.headers, "If-None-Match": f'"x", W/{etag}'}
        )
        assert weak.status_code == 304
    stale = await world.client.get(
        "/v1/snapshot/directory", headers={**panel.headers, "If-None-Match": '"old"'}
    )
    assert stale.status_code == 200


async def test_etag_changes_with_content(world: World) -> None:
    panel = await world.enroll(room="r1")
    before = await world.client.get("/v1/snapshot/directory", headers=panel.headers)
    async with world.pool.connection() as conn:
        await conn.execute("UPDATE people SET visibility = 'visible' WHERE id = 'p-inv'")
    after = await world.client.get(
        "/v1/snapshot/directory",
        headers={**panel.headers, "If-None-Match": before.headers["etag"]},
    )
    assert after.status_code == 200
    assert len(after.json()["people"]) == 2


async def test_calendar_scope(world: World) -> None:
    panel = await world.enroll(room="r1")
    kiosk = await world.enroll(lobby="l1")
    cases = [
        (panel, "/v1/snapshot/calendar?room=r2", "panel of room 'r1'"),
        (panel, "/v1/snapshot/calendar?room=b1", "panel of room 'r1'"),
        (kiosk, "/v1/snapshot/calendar?room=r1", "availability"),
    ]
    for device, path, reason in cases:
        response = await world.client.get(path, headers=device.headers)
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
        assert reason in response.json()["detail"]
    missing = await world.client.get("/v1/snapshot/calendar", headers=panel.headers)
    assert missing.status_code == 400
    unknown = await world.client.get("/v1/snapshot/people", headers=panel.headers)
    assert unknown.status_code == 404


async def test_availability_is_free_busy_without_details(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    response = await world.client.get("/v1/snapshot/availability", headers=kiosk.headers)
    body = response.json()
    rooms = {r["id"]: r["busy"] for r in body["rooms"]}
    assert set(rooms) == {"r1", "r2"}
    assert len(rooms["r1"]) == 3
    assert rooms["r2"] == []
    assert set(json.dumps(body).split('"')) & {"Roadmap", "subject", "organiser_id"} == set()

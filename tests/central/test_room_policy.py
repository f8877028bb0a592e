"""Room policies and badge ids on central (migration 0004), against the real PostgreSQL.

Rooms carry ask-the-booker, presence check-in and the empty-room offer/release timings;
people carry a badge id, unique per site, that only the directory snapshot sends and
only for visible people. The demo seed gives central the demo device's values, and
they survive the trip central snapshot -> ``tapin.device.snapshots``.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

import central.migrate
from central import init_db
from central.directory import upsert_people, upsert_rooms
from central.migrate import applied_versions, migrations
from central.seed import seed_demo
from tapin.demo.site import demo_site
from tapin.device.snapshots import parse_directory, parse_rooms
from tapin.domain import Person, Room, Visibility
from tests.central.conftest import NOW, World


async def test_rooms_snapshot_carries_the_room_policies(world: World) -> None:
    async with world.pool.connection() as conn, conn.transaction():
        await upsert_rooms(
            conn,
            "alpha",
            [
                Room(
                    "r2",
                    "Two",
                    1,
                    4,
                    auto_release=False,
                    ask_booker=True,
                    presence_checkin=True,
                    empty_offer=timedelta(minutes=5),
                    empty_release=timedelta(minutes=45),
                )
            ],
        )
    panel = await world.enroll(room="r1")
    rooms = (await world.client.get("/v1/snapshot/rooms", headers=panel.headers)).json()
    r1, r2 = rooms["rooms"]
    assert {k: r1[k] for k in POLICY} == {
        "ask_booker": False,
        "presence_checkin": False,
        "empty_offer_minutes": 10,
        "empty_release_minutes": 20,
    }
    assert {k: r2[k] for k in POLICY} == {
        "ask_booker": True,
        "presence_checkin": True,
        "empty_offer_minutes": 5,
        "empty_release_minutes": 45,
    }
    parsed = parse_rooms(rooms).room("r2")
    assert parsed.ask_booker and parsed.presence_checkin
    assert (parsed.empty_offer, parsed.empty_release) == (
        timedelta(minutes=5),
        timedelta(minutes=45),
    )


POLICY = ("ask_booker", "presence_checkin", "empty_offer_minutes", "empty_release_minutes")


async def test_directory_sends_badges_of_visible_people_only(world: World) -> None:
    async with world.pool.connection() as conn, conn.transaction():
        await upsert_people(
            conn,
            "alpha",
            [
                Person("p-vis", "Vera Visible", "vera@example.com", badge_id="BADGE-VERA"),
                Person(
                    "p-inv",
                    "Ivan Invisible",
                    "ivan@example.com",
                    visibility=Visibility.INVISIBLE,
                    badge_id="BADGE-IVAN",
                ),
            ],
        )
    kiosk = await world.enroll(lobby="l1")
    response = await world.client.get("/v1/snapshot/directory", headers=kiosk.headers)
    (vera,) = response.json()["people"]
    assert vera["id"] == "p-vis" and vera["badge_id"] == "BADGE-VERA"
    assert "BADGE-IVAN" not in response.text
    assert "p-inv" not in response.text
    (parsed,) = parse_directory(response.json())
    assert parsed.badge_id == "BADGE-VERA"


async def test_a_person_without_a_badge_has_badge_id_null(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    (vera,) = (await world.client.get("/v1/snapshot/directory", headers=kiosk.headers)).json()[
        "people"
    ]
    assert vera["badge_id"] is None
    assert parse_directory({"people": [vera]})[0].badge_id is None


async def test_a_reissued_badge_moves_to_its_new_holder(world: World) -> None:
    async with world.pool.connection() as conn, conn.transaction():
        await upsert_people(conn, "alpha", [Person("p-vis", "Vera", "", badge_id="B1")])
        await upsert_people(conn, "alpha", [Person("p-new", "Nora", "", badge_id="B1")])
        # a swap within one batch
        await upsert_people(
            conn,
            "alpha",
            [Person("p-vis", "Vera", "", badge_id="B2"), Person("p-new", "Nora", "", badge_id="")],
        )
        await upsert_people(
            conn,
            "alpha",
            [
                Person("p-vis", "Vera", "", badge_id="B1"),
                Person("p-new", "Nora", "", badge_id="B2"),
            ],
        )
        # the same badge id on another site is another badge
        await upsert_people(conn, "beta", [Person("p-beta", "Bea", "", badge_id="B1")])
        cur = await conn.execute("SELECT id, badge_id FROM people ORDER BY id")
        assert await cur.fetchall() == [
            ("p-beta", "B1"),
            ("p-inv", None),
            ("p-new", "B2"),
            ("p-vis", "B1"),
        ]
        with pytest.raises(ValueError, match="share a badge id"):
            await upsert_people(
                conn,
                "alpha",
                [Person("p-vis", "Vera", "", badge_id="B3"), Person("p-x", "X", "", badge_id="B3")],
            )


async def test_demo_seed_round_trips_to_the_devices_values(world: World) -> None:
    await seed_demo(world.pool, now=NOW)
    site = demo_site()
    assert any(r.ask_booker for r in site.rooms) and any(r.presence_checkin for r in site.rooms)
    panel = await world.enroll(room="aurora")

    rooms = parse_rooms(
        (await world.client.get("/v1/snapshot/rooms", headers=panel.headers)).json()
    )
    assert rooms.id == site.id
    assert {r.id for r in rooms.rooms} == {r.id for r in site.rooms}
    for room in site.rooms:
        got = rooms.room(room.id)
        assert (
            got.ask_booker,
            got.presence_checkin,
            got.empty_offer,
            got.empty_release,
            got.auto_release,
            got.checkin_before,
            got.checkin_after,
        ) == (
            room.ask_booker,
            room.presence_checkin,
            room.empty_offer,
            room.empty_release,
            room.auto_release,
            room.checkin_before,
            room.checkin_after,
        ), room.id

    response = await world.client.get("/v1/snapshot/directory", headers=panel.headers)
    people = {p.id: p for p in parse_directory(response.json())}
    visible = {p.id: p for p in site.people if p.visible}
    assert set(people) == set(visible)
    for person_id, person in visible.items():
        assert person.badge_id is not None
        assert people[person_id].badge_id == person.badge_id
    hidden = [p for p in site.people if not p.visible]
    assert hidden
    for person in hidden:
        assert person.badge_id is not None and person.badge_id not in response.text

    # seeding again changes nothing the device sees
    etag = response.headers["etag"]
    await seed_demo(world.pool, now=NOW)
    again = await world.client.get(
        "/v1/snapshot/directory", headers={**panel.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304


def test_0004_applies_on_an_existing_0003_database(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = [m for m in migrations() if m.version <= 3]
    with monkeypatch.context() as patch:
        patch.setattr(central.migrate, "migrations", lambda: older)
        assert init_db(pg_dsn) == [1, 2, 3]
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name, timezone) VALUES ('s', 'S', 'UTC')")
        conn.execute("INSERT INTO rooms (id, site_id, name) VALUES ('old', 's', 'Old')")
        conn.execute("INSERT INTO people (id, site_id, name) VALUES ('p-old', 's', 'Old')")

    newer = [m.version for m in migrations() if m.version > 3]
    assert newer[0] == 4 and init_db(pg_dsn) == newer
    assert init_db(pg_dsn) == []
    assert applied_versions(pg_dsn) == [1, 2, 3, *newer]
    with psycopg.connect(pg_dsn) as conn:
        room = conn.execute(
            "SELECT ask_booker, presence_checkin, empty_offer, empty_release FROM rooms"
        ).fetchone()
        assert room == (False, False, timedelta(minutes=10), timedelta(minutes=20))
        assert conn.execute("SELECT badge_id FROM people").fetchone() == (None,)


@pytest.mark.parametrize(
    ("offer", "release"),
    [
        ("0 minutes", "20 minutes"),
        ("-5 minutes", "20 minutes"),
        ("20 minutes", "20 minutes"),
        ("30 minutes", "20 minutes"),
        ("90 seconds", "20 minutes"),  # the wire carries whole minutes
        ("10 minutes", "2 days"),
    ],
)
def test_the_schema_refuses_unusable_empty_room_timings(
    pg_dsn: str, offer: str, release: str
) -> None:
    init_db(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name, timezone) VALUES ('s', 'S', 'UTC')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO rooms (id, site_id, name, empty_offer, empty_release)"
                " VALUES ('r', 's', 'R', %s, %s)",
                [offer, release],
            )


def test_badge_ids_are_unique_per_site(pg_dsn: str) -> None:
    init_db(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (id, name, timezone) VALUES ('s', 'S', 'UTC'), ('t', 'T', 'UTC')"
        )
        conn.execute(
            "INSERT INTO people (id, site_id, name, badge_id) VALUES"
            " ('a', 's', 'A', 'B1'), ('b', 's', 'B', NULL), ('c', 's', 'C', NULL),"
            " ('d', 't', 'D', 'B1')"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO people (id, site_id, name, badge_id) VALUES ('e', 's', 'E', 'B1')"
            )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO people (id, site_id, name, badge_id) VALUES ('f', 's', 'F', '')"
            )

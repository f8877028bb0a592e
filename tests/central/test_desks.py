"""Desk bookings from lobby kiosks against a real database: booking races, private
bookings, ``desk.checkin``, release, the ``desk_bookings`` and ``desks`` snapshots,
retention (with time travel) and forgetting a person.

The app's clock is today 09:00 in Stockholm (tests/central/conftest.py); site ``alpha``
has desk ``d1`` on floor 1, and these tests add ``d2`` (alpha) and ``bd`` (beta).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from central import run_retention
from central.admin import forget_person
from sync.events import BookingCreate, BookingEnd, DeskCheckin, EventType
from tests.central.conftest import NOW, TODAY, Device, World, at

MORNING = (at(9), at(12, 30))  # the morning part, begun: from now
AFTERNOON = (at(12, 30), at(19))


def _book(
    device: Device, desk: str, booking_id: str, span: tuple[datetime, datetime], **extra: Any
) -> Any:
    payload = BookingCreate(booking_id, **extra).payload()
    return device.event(EventType.BOOKING_CREATE, f"desk:{desk}", payload, *span)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _checkin(device: Device, desk: str, booking_id: str, when: datetime = NOW) -> Any:
    payload = DeskCheckin(booking_id, person_id="p-vis").payload()
    return device.event(EventType.DESK_CHECKIN, f"desk:{desk}", payload, created_at=when)


async def _more_desks(world: World) -> None:
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO desks (id, site_id, name, floor, neighbourhood, out_of_use) VALUES"
            " ('d2', 'alpha', '1.02', 1, 'Product', false),"
            " ('d3', 'alpha', '1.03', 1, '', true), ('bd', 'beta', 'B.01', 0, '', false)"
        )


async def test_two_kiosks_booking_one_desk_one_wins_and_private_is_stored(world: World) -> None:
    first, second = await world.enroll(lobby="l1"), await world.enroll(lobby="l1")
    [won] = await world.send(first, _book(first, "d1", "b-1", MORNING, private=True))
    overlap = (at(11), at(13))
    [lost] = await world.send(second, _book(second, "d1", "b-2", overlap, booked_by="p-vis"))
    assert won["outcome"] == "applied"
    assert (lost["outcome"], lost["code"]) == ("rejected", "conflict")
    detail: Any = lost["detail"]
    assert detail["with"] == "booking"
    assert (_time(detail["start"]), _time(detail["end"])) == MORNING
    [after] = await world.send(second, _book(second, "d1", "b-3", AFTERNOON, private=False))
    assert after["outcome"] == "applied"
    # "private" is true or false: anything else is the device's bug, refused as such
    [odd] = await world.send(second, _book(second, "d1", "b-4", (at(19), at(20)), private="yes"))
    assert (odd["outcome"], odd["code"]) == ("rejected", "invalid")
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT id, private FROM bookings ORDER BY id")
        assert await cur.fetchall() == [("b-1", True), ("b-3", False)]


async def test_desk_checkin_outcomes(world: World) -> None:
    await _more_desks(world)
    kiosk, panel = await world.enroll(lobby="l1"), await world.enroll(room="r1")
    beta = await world.enroll(lobby="bl1")
    assert [r["outcome"] for r in await world.send(kiosk, _book(kiosk, "d1", "b-1", MORNING))] == [
        "applied"
    ]
    [theirs] = await world.send(beta, _book(beta, "bd", "b-beta", MORNING))
    assert theirs["outcome"] == "applied"

    results = await world.send(
        kiosk,
        _checkin(kiosk, "d1", "b-1"),
        _checkin(kiosk, "d1", "b-1", NOW + timedelta(minutes=5)),  # twice: nothing changes
        _checkin(kiosk, "d1", "b-unknown"),
        _checkin(kiosk, "d1", "b-beta"),
        _checkin(kiosk, "d2", "b-1"),
    )
    assert [(r["outcome"], r.get("code")) for r in results] == [
        ("applied", None),
        ("applied", None),
        ("rejected", "not_found"),
        ("rejected", "forbidden"),
        ("rejected", "invalid"),
    ]
    [denied] = await world.send(panel, _checkin(panel, "d1", "b-1"))
    assert (denied["outcome"], denied["code"]) == ("rejected", "forbidden")
    async with world.pool.connection() as conn:
        cur = await conn.execute("SELECT checked_in_at FROM bookings WHERE id = 'b-1'")
        assert await cur.fetchone() == (NOW,)


async def test_booking_end_releases_a_desk(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    await world.send(kiosk, _book(kiosk, "d1", "b-1", MORNING))
    end = BookingEnd("b-1").payload()
    ended = at(10)
    [released] = await world.send(
        kiosk, kiosk.event(EventType.BOOKING_END, "desk:d1", end, ends_at=ended)
    )
    assert released["outcome"] == "applied"
    [late] = await world.send(kiosk, _checkin(kiosk, "d1", "b-1", at(10, 5)))
    assert (late["outcome"], late["code"]) == ("rejected", "state")
    why: Any = late["detail"]
    assert (why["why"], _time(why["at"])) == ("released", ended)
    [next_one] = await world.send(kiosk, _book(kiosk, "d1", "b-2", (at(10), at(12, 30))))
    assert next_one["outcome"] == "applied"  # the rest of the morning is free again


async def test_desk_bookings_snapshot_names_only_visible_non_private_bookers(
    world: World,
) -> None:
    await _more_desks(world)
    kiosk, panel = await world.enroll(lobby="l1"), await world.enroll(room="r1")
    beta = await world.enroll(lobby="bl1")
    await world.send(
        kiosk,
        _book(kiosk, "d1", "b-vis", MORNING, booked_by="p-vis"),
        _book(kiosk, "d1", "b-private", AFTERNOON, booked_by="p-vis", private=True),
        _book(kiosk, "d2", "b-inv", MORNING, booked_by="p-inv"),
        _book(
            kiosk,
            "d2",
            "b-tomorrow",
            (at(9, day=TODAY + timedelta(days=1)), at(10)),
            booked_by="p-vis",
        ),
        _checkin(kiosk, "d1", "b-vis"),
    )
    await world.send(beta, _book(beta, "bd", "b-beta", MORNING))
    response = await world.client.get("/v1/snapshot/desk_bookings", headers=kiosk.headers)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "day": TODAY.isoformat(),
        "bookings": [
            {
                "booking_id": "b-vis",
                "desk_id": "d1",
                "start": MORNING[0].isoformat(),
                "end": MORNING[1].isoformat(),
                "person_id": "p-vis",
                "checked_in": True,
            },
            {
                "booking_id": "b-inv",
                "desk_id": "d2",
                "start": MORNING[0].isoformat(),
                "end": MORNING[1].isoformat(),
                "person_id": None,
                "checked_in": False,
            },
            {
                "booking_id": "b-private",
                "desk_id": "d1",
                "start": AFTERNOON[0].isoformat(),
                "end": AFTERNOON[1].isoformat(),
                "person_id": None,
                "checked_in": False,
            },
        ],
        "unavailable": ["d3"],
    }
    assert "p-inv" not in response.text
    again = await world.client.get(
        "/v1/snapshot/desk_bookings",
        headers={**kiosk.headers, "If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304
    denied = await world.client.get("/v1/snapshot/desk_bookings", headers=panel.headers)
    assert denied.status_code == 403

    desks = await world.client.get("/v1/snapshot/desks", headers=kiosk.headers)
    assert [(d["id"], d["neighbourhood"]) for d in desks.json()["desks"]] == [
        ("d1", ""),
        ("d2", "Product"),
        ("d3", ""),
    ]


async def test_booking_history_goes_after_90_days_and_forget_unlinks_desks(
    world: World,
) -> None:
    kiosk = await world.enroll(lobby="l1")
    await world.send(
        kiosk,
        _book(kiosk, "d1", "b-desk", MORNING, booked_by="p-vis", private=True),
        kiosk.event(
            EventType.BOOKING_CREATE,
            "room:r2",
            BookingCreate("b-room", booked_by="p-vis").payload(),
            at(15),
            at(15, 30),
        ),
        _checkin(kiosk, "d1", "b-desk"),
    )
    assert await world.count("bookings") == 2
    counts = await run_retention(world.pool, NOW + timedelta(days=89))
    assert counts["bookings"] == 0
    counts = await run_retention(world.pool, MORNING[1] + timedelta(days=90, minutes=1))
    assert counts["bookings"] == 1  # the desk's, ended 12:30; the room's ends 15:30
    assert await world.count("bookings", "id = 'b-room'") == 1
    await run_retention(world.pool, at(15, 31) + timedelta(days=90))
    assert await world.count("bookings") == 0

    await world.send(kiosk, _book(kiosk, "d1", "b-again", AFTERNOON, booked_by="p-vis"))
    report = await forget_person(world.pool, "p-vis")
    assert report.rows["bookings"] == 1
    assert await world.count("bookings", "booked_by IS NOT NULL") == 0
    assert await world.count("bookings", "id = 'b-again'") == 1  # kept for statistics


async def test_the_demo_seed_places_every_desk_and_room_and_books_some(world: World) -> None:
    from central.seed import seed_demo

    report = await seed_demo(world.pool, now=NOW)
    assert (report.floors, report.desk_bookings) == (3, 5)
    kiosk = await world.enroll(lobby="lobby-main")

    async def get(kind: str) -> Any:
        response = await world.client.get(f"/v1/snapshot/{kind}", headers=kiosk.headers)
        assert response.status_code == 200
        return response.json()

    desks, rooms, floors = await get("desks"), await get("rooms"), await get("floors")
    placed = {d["id"] for f in floors["floors"] for d in f["desks"]}
    assert placed == {d["id"] for d in desks["desks"]}
    assert {r["id"] for f in floors["floors"] for r in f["rooms"]} == {
        r["id"] for r in rooms["rooms"]
    }
    for floor in floors["floors"]:  # each desk and room drawn on its own floor
        assert {
            d["floor"] for d in desks["desks"] if d["id"] in {p["id"] for p in floor["desks"]}
        } == {floor["floor"]}
    async with world.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT department FROM people WHERE site_id = %s", [report.site_id]
        )
        departments = {row[0] for row in await cur.fetchall()}
    assert {d["neighbourhood"] for d in desks["desks"]} - {""} <= departments

    today = await get("desk_bookings")
    people = {b["desk_id"]: b["person_id"] for b in today["bookings"]}
    assert people == {
        "d-201": "p-anna",
        "d-202": None,  # private
        "d-205": "p-bjorn",
        "d-206": None,  # p-farid is invisible
        "d-303": "p-jonas",
    }
    assert [b["desk_id"] for b in today["bookings"] if b["checked_in"]] == ["d-201"]
    assert today["unavailable"] == ["d-207"]
    assert "p-farid" not in str(today) and "p-carla" not in str(today)
    again = await seed_demo(world.pool, now=NOW)  # idempotent
    assert again.desk_bookings == 5 and await world.count("bookings") == 5


async def test_a_desk_out_of_use_is_refused_with_its_reason_and_the_others_booked(
    world: World,
) -> None:
    from central.desk_state import set_in_use, set_out_of_use

    await _more_desks(world)  # d3 is out of use (no reason given)
    kiosk = await world.enroll(lobby="l1")
    results = await world.send(
        kiosk, _book(kiosk, "d3", "b-out", MORNING), _book(kiosk, "d2", "b-ok", MORNING)
    )
    assert [(r["outcome"], r.get("code")) for r in results] == [
        ("rejected", "state"),
        ("applied", None),
    ]
    assert results[0]["detail"] == {"why": "out_of_use", "reason": ""}
    async with world.pool.connection() as conn:
        state = await set_out_of_use(conn, "d2", "  Broken\tchair ", site_id="alpha")
    to_come = 1 if MORNING[1] > datetime.now(UTC) else 0  # counted against the real clock
    assert (state.out_of_use, state.reason, state.booked_today) == (True, "Broken chair", to_come)
    [refused] = await world.send(kiosk, _book(kiosk, "d2", "b-later", AFTERNOON))
    assert refused["code"] == "state"
    assert refused["detail"] == {"why": "out_of_use", "reason": "Broken chair"}
    assert "out of use: Broken chair" in refused["reason"]
    assert await world.count("bookings", "id = 'b-ok'") == 1  # made before: it stays
    async with world.pool.connection() as conn:
        back = await set_in_use(conn, "d2")
    assert (back.out_of_use, back.reason) == (False, "")
    [booked] = await world.send(kiosk, _book(kiosk, "d2", "b-again", AFTERNOON))
    assert booked["outcome"] == "applied"


def test_desk_commands_set_out_of_use_in_use_and_neighbourhood(
    pg_dsn: str, tmp_path: Any, capsys: Any
) -> None:
    import psycopg

    from central.cli import main
    from tapin.pending import rejection_words

    assert main(["init-db", "--dsn", pg_dsn, "--key-file", str(tmp_path / "k.pem")]) == 0
    assert main(["seed", "--demo", "--dsn", pg_dsn]) == 0
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["desk", args[0], "--dsn", pg_dsn, *args[1:]])
        out = capsys.readouterr()
        return status, out.out, out.err

    def row() -> tuple[Any, ...]:
        with psycopg.connect(pg_dsn) as conn:
            found = conn.execute(
                "SELECT out_of_use, out_of_use_reason, neighbourhood FROM desks WHERE id = 'd-208'"
            ).fetchone()
            assert found is not None
            return tuple(found)

    status, out, _ = run("out-of-use", "d-208", "--reason", "Broken chair")
    assert status == 0
    assert out == "desk d-208 (2.08, nordlys-sthlm) is out of use: Broken chair\n"
    assert row() == (True, "Broken chair", "Platform")
    status, out, _ = run("neighbourhood", "d-208", "Sales")
    assert status == 0 and out.endswith("its neighbourhood is Sales\n")
    assert row() == (True, "Broken chair", "Sales")
    status, out, _ = run("in-use", "d-208")
    assert (status, out) == (0, "desk d-208 (2.08, nordlys-sthlm) is in use\n")
    assert row() == (False, "", "Sales")
    # refused in one line, nothing changed
    for args, message in (
        (("out-of-use", "d-nope"), "there is no desk 'd-nope'"),
        (("in-use", "d-208", "--site", "elsewhere"), "there is no desk 'd-208' at site elsewhere"),
        (("out-of-use", "d-208", "--reason", "x" * 201), "at most 200 characters"),
        (("neighbourhood", "d-208", "bell\x07"), "printable text"),
    ):
        status, out, err = run(*args)
        assert status == 1 and out == "", args
        assert err.startswith("central: ") and err.count("\n") == 1 and message in err, err
    assert row() == (False, "", "Sales")
    # a kiosk words central's refusal in its own language, the reason as the admin wrote it
    utc = ZoneInfo("UTC")
    words = rejection_words("state", {"why": "out_of_use", "reason": "Broken chair"}, "desk:d", utc)
    assert words == "This desk is out of use: Broken chair"
    assert rejection_words("state", {"why": "out_of_use", "reason": ""}, "desk:d", utc) == (
        "This desk is out of use"
    )

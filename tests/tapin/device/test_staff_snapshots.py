"""The staff side's snapshots on a device: ``desks`` (with neighbourhoods), ``floors``
and ``desk_bookings`` parsed strictly (a bad one is refused, the old one kept), held in
memory only, and fetched by a kiosk with its other snapshots."""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tapin.demo.runtime import demo_config, demo_runtime
from tapin.demo.staff import DemoDesks, desks_snapshot, floors_snapshot
from tapin.device.services import snapshot_requests
from tapin.device.snapshots import SnapshotError
from tapin.device.staff_snapshots import parse_desk_bookings, parse_desks, parse_floors

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def floors() -> dict[str, Any]:
    return {
        "site_id": "nordlys-sthlm",
        "floors": [
            {
                "floor": 2,
                "name": "Floor 2",
                "width": 1200,
                "height": 700,
                "image": None,
                "outline": [[0, 0], [1200, 0], [1200, 700], [0, 700]],
                "desks": [{"id": "d-201", "x": 100, "y": 80, "w": 40, "h": 24, "rotation": 0}],
                "rooms": [{"id": "aurora", "x": 600, "y": 40, "w": 220, "h": 160}],
            }
        ],
    }


def bookings() -> dict[str, Any]:
    return {
        "day": "2026-12-01",
        "bookings": [
            {
                "booking_id": "b-1",
                "desk_id": "d-201",
                "start": "2026-12-01T07:00:00+01:00",
                "end": "2026-12-01T12:30:00+01:00",
                "person_id": "p-anna",
                "checked_in": False,
            },
            {
                "booking_id": "b-2",
                "desk_id": "d-202",
                "start": "2026-12-01T07:00:00+01:00",
                "end": "2026-12-01T19:00:00+01:00",
                "person_id": None,
                "checked_in": True,
            },
        ],
        "unavailable": ["d-207"],
    }


def test_floors_parse_with_positions_and_an_image() -> None:
    plans = parse_floors(floors())
    floor = plans.floor(2)
    assert floor is not None and floor.width == 1200 and floor.desks[0].id == "d-201"
    assert floor.rooms[0].w == 220 and plans.floor(3) is None
    data = floors()
    data["floors"][0]["image"] = {
        "png_b64": base64.b64encode(PNG).decode(),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }
    assert parse_floors(data).floors[0].image == PNG


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["floors"][0]["desks"][0].update(x=1190),  # outside the floor
        lambda d: d["floors"][0]["desks"][0].update(w=0),
        lambda d: d["floors"][0].update(width="wide"),
        lambda d: d["floors"].append(copy.deepcopy(d["floors"][0])),  # a floor twice
        lambda d: d["floors"][0]["desks"].append(dict(d["floors"][0]["desks"][0])),
        lambda d: d["floors"][0].update(image={"png_b64": "!!", "sha256": "0" * 64}),
        lambda d: d["floors"][0].update(
            image={"png_b64": base64.b64encode(PNG).decode(), "sha256": "0" * 64}
        ),
        lambda d: d["floors"][0].update(outline=[[0, 0, 0]]),
        lambda d: d.update(site_id=None),
    ],
)
def test_a_bad_floors_snapshot_is_refused(change: Any) -> None:
    data = floors()
    change(data)
    with pytest.raises(SnapshotError):
        parse_floors(data)


def test_desk_bookings_parse_private_has_no_person() -> None:
    today = parse_desk_bookings(bookings())
    assert [b.person_id for b in today.bookings] == ["p-anna", None]
    assert today.unavailable == {"d-207"} and today.bookings[1].checked_in
    assert "p-anna" not in repr(today) and "p-anna" not in repr(today.bookings[0])


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(day="today"),
        lambda d: d["bookings"][0].update(end="2026-12-01T06:00:00+01:00"),
        lambda d: d["bookings"][1].update(booking_id="b-1"),
        lambda d: d["bookings"][0].update(person_id="p anna\n"),
        lambda d: d["bookings"][0].update(start="2026-12-01T07:00:00"),  # no offset
        lambda d: d.update(unavailable="d-207"),
    ],
)
def test_a_bad_desk_bookings_snapshot_is_refused(change: Any) -> None:
    data = bookings()
    change(data)
    with pytest.raises(SnapshotError):
        parse_desk_bookings(data)


def test_desks_carry_their_neighbourhood() -> None:
    desks, hoods = parse_desks(
        {"desks": [{"id": "d-1", "name": "1", "floor": 2, "neighbourhood": "Product"}]}
    )
    assert desks[0].floor == 2 and hoods == {"d-1": "Product"}
    with pytest.raises(SnapshotError):
        parse_desks({"desks": [{"id": "d-1", "name": "1", "floor": 2, "equipment": "x"}]})


def test_the_runtime_keeps_the_old_one_and_a_rooms_snapshot_keeps_the_desks(
    tmp_path: Path,
) -> None:
    runtime = demo_runtime(demo_config(tmp_path, "kiosk"))
    assert runtime.floors is not None and [f.floor for f in runtime.floors.floors] == [2, 3, 4]
    placed = {d.id for f in runtime.floors.floors for d in f.desks}
    assert placed == {d.id for d in runtime.site.desks}  # every demo desk is on a map
    before = runtime.floors, runtime.desk_bookings
    bad = floors()
    bad["floors"][0]["desks"][0]["x"] = -5
    assert not runtime.apply_snapshot("floors", bad)
    assert not runtime.apply_snapshot("desk_bookings", {"day": "x", "bookings": []})
    assert (runtime.floors, runtime.desk_bookings) == before
    rooms = {
        "site": {"id": "nordlys-sthlm", "name": "N", "timezone": "Europe/Stockholm"},
        "rooms": [{"id": "aurora", "name": "Aurora", "floor": 3, "capacity": 8}],
    }
    assert runtime.apply_snapshot("rooms", rooms)
    assert len(runtime.site.desks) == 24  # desks come in their own snapshot
    assert runtime.apply_snapshot("desks", desks_snapshot(runtime.site))
    assert runtime.neighbourhoods["d-201"] == "Product"


def test_the_demo_shapes_are_the_contracts(tmp_path: Path) -> None:
    runtime = demo_runtime(demo_config(tmp_path, "kiosk"))
    parse_floors(floors_snapshot(runtime.site))
    today = parse_desk_bookings(DemoDesks(runtime).snapshot())
    shown = {b.person_id for b in today.bookings}
    assert None in shown  # the private one and the invisible person's
    assert not shown & {p.id for p in runtime.site.people if not p.visible}
    assert not list(tmp_path.rglob("*.json"))  # memory only


def test_a_kiosk_fetches_floors_and_desk_bookings_a_panel_does_not() -> None:
    kiosk = type("I", (), {"scope_kind": "lobby", "scope_id": "lobby-main"})()
    panel = type("I", (), {"scope_kind": "room", "scope_id": "aurora"})()
    assert {"floors", "desk_bookings", "desks"} <= set(snapshot_requests(kiosk))
    assert not {"floors", "desk_bookings"} & set(snapshot_requests(panel))

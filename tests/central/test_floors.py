"""Floor plans: ``tapin central floor-import`` from JSON, CSV and SVG against a real
database (the demo site's floor 2: desks d-201..d-208, rooms hav and sol), and the
kiosk's ``floors`` snapshot."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from central.cli import main
from central.floors import FloorError, parse_floor
from tests.central.conftest import World

FLOOR_2: dict[str, Any] = {
    "name": "Second",
    "width": 1000,
    "height": 600,
    "image": None,
    "outline": [[0, 0], [1000, 0], [1000, 600], [0, 600]],
    "desks": [
        {"id": "d-201", "x": 100, "y": 80, "w": 40, "h": 24, "rotation": 0},
        {"id": "d-202", "x": 150.5, "y": 80, "w": 40, "h": 24, "rotation": 90},
    ],
    "rooms": [{"id": "hav", "x": 600, "y": 40, "w": 220, "h": 160}],
}

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 500">
  <polygon id="outline" points="0,0 800,0 800,500 0,500"/>
  <rect x="0" y="0" width="800" height="500" fill="#eee"/>
  <g id="team">
    <rect id="desk:d-203" x="10" y="20" width="30" height="20" data-neighbourhood="Product"/>
    <rect id="desk:d-204" x="50" y="20" width="30" height="20" transform="rotate(45)"/>
  </g>
  <rect id="room:sol" x="400px" y="100" width="120" height="90"/>
  <text x="5" y="490">Floor 2</text>
</svg>
"""

BOMB = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><text>&b;</text></svg>
"""


def _floor_rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT f.floor, f.name, f.width, f.height,"
            " (SELECT count(*) FROM floor_desks d WHERE d.floor = f.floor),"
            " (SELECT count(*) FROM floor_rooms r WHERE r.floor = f.floor)"
            " FROM floors f WHERE f.site_id = 'nordlys-sthlm' ORDER BY 1"
        ).fetchall()


@pytest.fixture
def demo(pg_dsn: str, tmp_path: Path) -> list[str]:
    """The demo site in a fresh database; returns the floor-import command's start."""
    assert main(["init-db", "--dsn", pg_dsn, "--key-file", str(tmp_path / "k.pem")]) == 0
    assert main(["seed", "--demo", "--dsn", pg_dsn]) == 0
    return ["floor-import", "--dsn", pg_dsn, "--site", "nordlys-sthlm", "--floor", "2"]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return str(path)


def test_json_import_replaces_the_floor(
    demo: list[str], pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    seeded = _floor_rows(pg_dsn)
    assert [row[0] for row in seeded] == [2, 3, 4]  # the demo seed placed every floor
    assert seeded[0][4:] == (8, 2)

    assert main([*demo, _write(tmp_path, "f2.json", json.dumps(FLOOR_2))]) == 0
    assert capsys.readouterr().out.strip() == (
        "floor 2 of nordlys-sthlm imported: 2 desks, 1 rooms"
    )
    assert _floor_rows(pg_dsn)[0] == (2, "Second", 1000, 600, 2, 1)
    assert _floor_rows(pg_dsn)[1:] == seeded[1:]  # other floors untouched

    smaller = {**FLOOR_2, "desks": FLOOR_2["desks"][:1], "rooms": []}
    path = _write(tmp_path, "f2b.json", json.dumps(smaller))
    assert main([*demo, "--name", "Plan B", path]) == 0
    assert _floor_rows(pg_dsn)[0] == (2, "Plan B", 1000, 600, 1, 0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{not json", "not JSON"),
        ("list.json", "[]", "must be an object"),
        (
            "unknown.json",
            json.dumps({**FLOOR_2, "desks": [{"id": "d-999", "x": 1, "y": 1, "w": 1, "h": 1}]}),
            "desk d-999 is not a desk of site nordlys-sthlm",
        ),
        (
            "other-floor.json",
            json.dumps({**FLOOR_2, "rooms": [{"id": "aurora", "x": 1, "y": 1, "w": 1, "h": 1}]}),
            "room aurora is on floor 3, not 2",
        ),
        (
            "outside.json",
            json.dumps({**FLOOR_2, "width": 700, "outline": None}),
            "room hav at 600,40 size 220x160 is outside the 700x600 floor",
        ),
        ("short.csv", "desk,d-201,1,2,3\n", "line 1: expected kind,id,x,y,w,h"),
        ("nan.csv", "desk,d-201,1,2,x,4\n", "line 1: desk d-201: w must be a plain number"),
        ("twice.csv", "desk,d-201,1,2,3,4\ndesk,d-201,5,5,3,4\n", "desk d-201 is placed twice"),
        ("kind.csv", "chair,c-1,1,2,3,4\n", "kind must be desk or room"),
        ("bomb.svg", BOMB, "DOCTYPE or entities"),
        ("html.svg", "<html/>", "not an SVG"),
        ("broken.svg", "<svg viewBox='0 0 9 9'><rect", "not XML"),
        (
            "moved.svg",
            '<svg viewBox="0 0 99 99"><g transform="translate(5)">'
            '<rect id="desk:d-201" x="1" y="1" width="2" height="2"/></g></svg>',
            "inside a transformed group",
        ),
        ("plan.txt", "desk,d-201,1,2,3,4", "must end in .json, .csv or .svg"),
    ],
)
def test_a_bad_file_is_refused_in_one_line_and_nothing_changes(
    demo: list[str],
    pg_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    message: str,
) -> None:
    before = _floor_rows(pg_dsn)
    capsys.readouterr()
    size = ["--width", "800", "--height", "500"] if name.endswith(".csv") else []
    assert main([*demo, *size, _write(tmp_path, name, content)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert err.startswith(f"central: {name}: ")
    assert _floor_rows(pg_dsn) == before


def test_csv_import_needs_a_size_and_sets_neighbourhoods(
    demo: list[str], pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        "f2.csv",
        "kind,id,x,y,w,h,rotation,neighbourhood\n# the window row\n"
        "desk,d-201,10,10,40,24,0,Window team\ndesk, d-202 ,60,10,40,24\n\n"
        "room,sol,100,100,80,60\n",
    )
    assert main([*demo, path]) == 1
    assert "needs --width and --height" in capsys.readouterr().err
    assert main([*demo, "--width", "300", "--height", "200", path]) == 0
    assert _floor_rows(pg_dsn)[0] == (2, "Floor 2", 300, 200, 2, 1)
    with psycopg.connect(pg_dsn) as conn:
        hoods: dict[str, str] = dict(
            conn.execute(
                "SELECT id, neighbourhood FROM desks WHERE id IN ('d-201', 'd-202')"
            ).fetchall()
        )
    assert hoods == {"d-201": "Window team", "d-202": "Product"}  # d-202 kept the seed's


def test_svg_import_reads_rects_rotation_and_outline(
    demo: list[str], pg_dsn: str, tmp_path: Path
) -> None:
    assert main([*demo, _write(tmp_path, "f2.svg", SVG)]) == 0
    with psycopg.connect(pg_dsn) as conn:
        desks = conn.execute(
            "SELECT desk_id, x, y, w, h, rotation FROM floor_desks WHERE floor = 2 ORDER BY 1"
        ).fetchall()
        rooms = conn.execute(
            "SELECT room_id, x, y, w, h FROM floor_rooms WHERE floor = 2"
        ).fetchall()
        floor = conn.execute("SELECT width, height FROM floors WHERE floor = 2").fetchone()
    assert desks == [("d-203", 10, 20, 30, 20, 0), ("d-204", 50, 20, 30, 20, 45)]
    assert rooms == [("sol", 400, 100, 120, 90)]
    assert floor == (800, 500)


def test_parse_floor_limits() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    good = {"png_b64": base64.b64encode(png).decode(), "sha256": hashlib.sha256(png).hexdigest()}
    plan = parse_floor(json.dumps({**FLOOR_2, "image": good}).encode(), "f.json")
    assert plan.image_png == png and plan.name == "Second"
    for image, message in (
        ({**good, "sha256": "0" * 64}, "does not match"),
        ({"png_b64": base64.b64encode(b"GIF89a").decode()}, "not a PNG"),
        ({"png_b64": "%%%"}, "not base64"),
    ):
        with pytest.raises(FloorError, match=message):
            parse_floor(json.dumps({**FLOOR_2, "image": image}).encode(), "f.json")
    with pytest.raises(FloorError, match="outline point 2000,0 is outside"):
        parse_floor(
            json.dumps({**FLOOR_2, "outline": [[0, 0], [2000, 0], [0, 9]]}).encode(), "f.json"
        )
    with pytest.raises(FloorError, match="rooms cannot be rotated"):
        parse_floor(b"room,sol,1,1,5,5,30\n", "f.csv", width=10, height=10)
    with pytest.raises(FloorError, match="only transform"):
        parse_floor(
            b'<svg viewBox="0 0 9 9"><rect id="desk:a" width="1" height="1"'
            b' transform="scale(2)"/></svg>',
            "f.svg",
        )


async def test_floors_snapshot_is_the_kiosks_sites_plans_only(world: World) -> None:
    kiosk = await world.enroll(lobby="l1")
    panel = await world.enroll(room="r1")
    async with world.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO desks (id, site_id, name, floor) VALUES ('bd', 'beta', 'B', 0)"
        )
    from central.floors import import_floor

    plans = (
        ("alpha", 1, b"desk,d1,10,20,40,24,15\nroom,r1,100,0,50,50\n", 200, 100),
        ("beta", 0, b"desk,bd,1,1,2,2\nroom,b1,5,5,5,5\n", 10, 10),
    )
    for site, floor, csv, width, height in plans:
        async with world.pool.connection() as conn:
            await import_floor(
                conn, site, floor, parse_floor(csv, "p.csv", width=width, height=height)
            )

    png = b"\x89PNG\r\n\x1a\n" + b"\1" * 8
    image = {"png_b64": base64.b64encode(png).decode(), "sha256": hashlib.sha256(png).hexdigest()}
    pictured = json.dumps({"width": 5, "height": 5, "image": image, "desks": [], "rooms": []})
    async with world.pool.connection() as conn:
        await import_floor(conn, "alpha", 5, parse_floor(pictured.encode(), "p.json"))

    response = await world.client.get("/v1/snapshot/floors", headers=kiosk.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["floors"].pop()["image"] == image
    assert body == {
        "site_id": "alpha",
        "floors": [
            {
                "floor": 1,
                "name": "Floor 1",
                "width": 200,
                "height": 100,
                "image": None,
                "outline": [[0, 0], [200, 0], [200, 100], [0, 100]],
                "desks": [{"id": "d1", "x": 10, "y": 20, "w": 40, "h": 24, "rotation": 15}],
                "rooms": [{"id": "r1", "x": 100, "y": 0, "w": 50, "h": 50}],
            }
        ],
    }
    etag = response.headers["etag"]
    again = await world.client.get(
        "/v1/snapshot/floors", headers={**kiosk.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304
    denied = await world.client.get("/v1/snapshot/floors", headers=panel.headers)
    assert denied.status_code == 403


def test_svg_without_defusedxml_still_refuses_entities(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "defusedxml", None)  # as if it were not installed
    with pytest.raises(FloorError, match="DOCTYPE or entities"):
        parse_floor(BOMB.encode(), "bomb.svg")
    plan = parse_floor(SVG.encode(), "f.svg")
    assert [p.id for p in plan.places] == ["d-203", "d-204", "sol"]


def test_an_image_comes_with_any_format_and_reaches_the_kiosks_snapshot(
    demo: list[str], pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tapin.demo.staff import demo_floor_image
    from tapin.device.staff_snapshots import parse_floors

    csv_path = _write(tmp_path, "f2.csv", "desk,d-201,10,10,40,24\nroom,sol,100,100,80,60\n")
    size = ["--width", "300", "--height", "200"]
    png = demo_floor_image({"width": 300, "height": 200, "desks": [], "rooms": []})
    picture = tmp_path / "plan.png"
    picture.write_bytes(png)
    assert main([*demo, *size, "--image", str(picture), csv_path]) == 0
    capsys.readouterr()
    with psycopg.connect(pg_dsn) as conn:
        stored = conn.execute("SELECT image_png FROM floors WHERE floor = 2").fetchone()
    assert stored is not None and bytes(stored[0]) == png

    async def document() -> dict[str, Any]:
        from central.floors import floors_document

        async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
            return await floors_document(conn, "nordlys-sthlm")

    import asyncio

    plans = parse_floors(asyncio.run(document()))  # as a kiosk reads it
    floor_2 = plans.floor(2)
    assert floor_2 is not None and floor_2.image == png
    # not a PNG, or no such file: refused in one line, the floor as it was
    (tmp_path / "plan.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    for image, message in (("plan.gif", "the image is not a PNG"), ("none.png", "cannot read")):
        assert main([*demo, *size, "--image", str(tmp_path / image), csv_path]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    with psycopg.connect(pg_dsn) as conn:
        still = conn.execute("SELECT image_png FROM floors WHERE floor = 2").fetchone()
    assert still is not None and bytes(still[0]) == png

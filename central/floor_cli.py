"""``tapin central floor-import``: store a floor plan of a site from JSON, CSV or SVG.

Mounted by :mod:`central.cli` (same options, exit statuses and messages: 0 done, 1
refused with a one-line reason and nothing stored, 2 central cannot reach its database).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from central.cli import _command as command
from central.cli import _dsn, _fail, _guarded, _with_pool

__all__ = ["add_floor_commands"]


def add_floor_commands(commands: Any) -> None:
    """Add ``floor-import`` to ``commands`` (an argparse subparsers action)."""
    floor = command(
        commands,
        "floor-import",
        "import (or replace) the plan of one floor of a site from JSON, CSV or SVG",
        _floor_import,
    )
    floor.add_argument("--site", required=True, metavar="ID", help="the site")
    floor.add_argument("--floor", required=True, type=int, metavar="N", help="the floor number")
    floor.add_argument("--width", type=float, metavar="W", help="the floor's width (CSV: required)")
    floor.add_argument(
        "--height", type=float, metavar="H", help="the floor's height (CSV: required)"
    )
    floor.add_argument("--name", help="the floor's name (default: the file's, else 'Floor N')")
    floor.add_argument(
        "file",
        metavar="FILE",
        help="a .json floor (the floors snapshot's shape), a .csv of kind,id,x,y,w,h[,rotation]"
        ' lines, or an .svg whose <rect id="desk:ID"> / <rect id="room:ID"> place them',
    )


def _floor_import(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.errors import NotFound
        from central.floors import FloorError, import_floor, parse_floor

        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _fail(f"cannot read {path}: {exc.strerror}", 1)
        try:
            plan = parse_floor(
                data, path.name, width=args.width, height=args.height, name=args.name
            )
        except FloorError as exc:
            return _fail(f"{path.name}: {exc}", 1)

        async def work(pool: Any) -> Any:
            async with pool.connection() as conn:
                return await import_floor(conn, args.site, args.floor, plan)

        try:
            report = _with_pool(_dsn(args), work)
        except (FloorError, NotFound) as exc:
            return _fail(f"{path.name}: {exc}", 1)
        print(
            f"floor {report.floor} of {report.site_id} imported: "
            f"{report.desks} desks, {report.rooms} rooms"
        )
        return 0

    return _guarded(action)

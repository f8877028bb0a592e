"""``tapin central floor-import``: store a floor plan of a site from JSON, CSV or SVG;
``tapin central desk out-of-use DESK [--reason TEXT]``, ``desk in-use DESK`` and ``desk
neighbourhood DESK NAME``: a desk's state (:mod:`central.desk_state`).

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
    """Add ``floor-import`` and ``desk`` to ``commands`` (an argparse subparsers action)."""
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
        "--image",
        metavar="PNG",
        help="the floor's plan as a PNG (at most 2 MiB), drawn under the desks and rooms,"
        " stretched to the floor's width and height (any format; replaces a JSON's own)",
    )
    floor.add_argument(
        "file",
        metavar="FILE",
        help="a .json floor (the floors snapshot's shape), a .csv of kind,id,x,y,w,h[,rotation]"
        ' lines, or an .svg whose <rect id="desk:ID"> / <rect id="room:ID"> place them',
    )
    desk = commands.add_parser(
        "desk",
        help="a desk's state: out of use (and why), in use again, its neighbourhood",
        description="A desk out of use shows as such on every kiosk's map at its next "
        "refresh, and central refuses bookings for it with the reason given.",
    )
    sub = desk.add_subparsers(dest="desk_command", metavar="COMMAND", required=True)
    out = command(sub, "out-of-use", "mark a desk out of use (refused for booking)", _out_of_use)
    out.add_argument("desk_id", metavar="DESK", help="the desk's id")
    out.add_argument(
        "--reason", default="", metavar="TEXT", help="why, as bookers will read it (200 characters)"
    )
    back = command(sub, "in-use", "put a desk back in use", _in_use)
    back.add_argument("desk_id", metavar="DESK", help="the desk's id")
    hood = command(
        sub, "neighbourhood", "set the team that sits at a desk ('' for none)", _neighbourhood
    )
    hood.add_argument("desk_id", metavar="DESK", help="the desk's id")
    hood.add_argument("name", metavar="NAME", help="the team (matched to people's departments)")
    for parser in (out, back, hood):
        parser.add_argument("--site", metavar="ID", help="check that the desk is at this site")


def _floor_import(args: argparse.Namespace) -> int:
    def action() -> int:
        from central.errors import NotFound
        from central.floors import FloorError, import_floor, parse_floor

        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _fail(f"cannot read {path}: {exc.strerror}", 1)
        image = None
        if args.image:
            try:
                image = Path(args.image).read_bytes()
            except OSError as exc:
                return _fail(f"cannot read {args.image}: {exc.strerror}", 1)
        try:
            plan = parse_floor(
                data, path.name, width=args.width, height=args.height, name=args.name, image=image
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


def _desk_state(args: argparse.Namespace, change: Any, *extra: Any) -> int:
    def action() -> int:
        from central.desk_state import DeskState, DeskStateError
        from central.errors import NotFound

        async def work(pool: Any) -> DeskState:
            async with pool.connection() as conn:
                state: DeskState = await change(conn, args.desk_id, *extra, site_id=args.site)
                return state

        try:
            state = _with_pool(_dsn(args), work)
        except (DeskStateError, NotFound) as exc:
            return _fail(str(exc), 1)
        if state.out_of_use:
            why = f": {state.reason}" if state.reason else ""
            print(f"desk {state.desk_id} ({state.name}, {state.site_id}) is out of use{why}")
            if state.booked_today:
                print(
                    f"it still has {state.booked_today} booking(s) to come; they stay booked"
                    " (new bookings are refused)"
                )
        else:
            print(f"desk {state.desk_id} ({state.name}, {state.site_id}) is in use")
        if args.desk_command == "neighbourhood":
            print(f"its neighbourhood is {state.neighbourhood or 'none'}")
        return 0

    return _guarded(action)


def _out_of_use(args: argparse.Namespace) -> int:
    from central.desk_state import set_out_of_use

    return _desk_state(args, set_out_of_use, args.reason)


def _in_use(args: argparse.Namespace) -> int:
    from central.desk_state import set_in_use

    return _desk_state(args, set_in_use)


def _neighbourhood(args: argparse.Namespace) -> int:
    from central.desk_state import set_neighbourhood

    return _desk_state(args, set_neighbourhood, args.name)

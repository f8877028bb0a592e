"""``tapin kiosk --demo --tour DIR``: render every kiosk screen and state to
``DIR/NN-name.png`` (and the printed badge itself as ``NN-badge-label.png``).

For people (a design review, a manual) and for tests. The tour drives the real app on
the demo lobby with a clock it moves by hand, through the same calls a touch would
make (typing into the real fields, drawing strokes on the real pad), and writes one
PNG per step. It fails (exit 1) on a step that raises or shows a button whose label is
cut (:func:`tapin.ui.kit.cut_labels`). Works offscreen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sync.events import EventType
from tapin.demo.clock import ManualClock
from tapin.device.runtime import Runtime

__all__ = ["STEPS", "TOUR_PIN", "run_tour"]

log = logging.getLogger(__name__)

TOUR_PIN = "2468"
"""The admin PIN of the tour's kiosk (the demo has none: the tour shows the keypad)."""


@dataclass
class Step:
    name: str
    setup: Callable[[Any, Any], Any]
    """Prepare the state (``app``, ``tour``); may return an awaitable to finish first."""


@dataclass
class Tour:
    clock: ManualClock[datetime]
    central: Any
    out: Path
    extra: list[Path] = dataclasses.field(default_factory=list)


def _field(app: Any, screen: str, text: str, *, keyboard: bool = False) -> Any:
    from tapin.ui.keyboard import show_keyboard

    field = app.screen(screen).ids.field
    if keyboard:
        show_keyboard(field)
    field.text = text
    return field


def _welcome(app: Any, tour: Tour) -> None:
    app.home()


def _staff(app: Any, tour: Tour) -> None:
    app.screen("welcome").staff()


def _name(app: Any, tour: Tour) -> None:
    app.close_dialogs()
    app.start_signin()


def _name_keyboard(app: Any, tour: Tour) -> None:
    _field(app, "name", "Åsa Öb", keyboard=True)


def _invite(app: Any, tour: Tour) -> None:
    _field(app, "name", "Ada Lovelace", keyboard=True)


def _name_problem(app: Any, tour: Tour) -> None:
    app.screen("name").decline_offer()
    _field(app, "name", "R2-D2 🤖")
    app.screen("name").go_next()


def _type(app: Any, tour: Tour) -> None:
    _field(app, "name", "Åsa Öberg").focus = False
    app.screen("name").go_next()


def _company(app: Any, tour: Tour) -> None:
    app.screen("type").choose("contractor")
    _field(app, "company", "Öberg Bygg & Måleri AB", keyboard=True)


def _email_problem(app: Any, tour: Tour) -> None:
    app.screen("company").go_next()
    _field(app, "email", "asa.oberg.example.se").focus = False
    app.screen("email").go_next()


def _host(app: Any, tour: Tour) -> None:
    _field(app, "email", "asa@oberg.example")
    app.screen("email").go_next()
    _field(app, "host", "bj", keyboard=True)


def _host_nobody(app: Any, tour: Tour) -> None:
    _field(app, "host", "Zebulon", keyboard=True)


def _terms(app: Any, tour: Tour) -> None:
    app.screen("host").ids.field.text = "bj"
    host = next(iter(app.screen("host").matches))
    app.screen("host").choose(host)


def _signature(app: Any, tour: Tour) -> None:
    terms = app.screen("terms")
    terms.toggle_accept()
    pad = terms.ids.pad
    stroke = [(0.1 + i * 0.02, 0.35 + 0.25 * ((i % 8) / 8)) for i in range(38)]
    pad.load([stroke, [(0.2, 0.6), (0.5, 0.62), (0.85, 0.55)]])
    terms.signed()


def _photo(app: Any, tour: Tour) -> Any:
    app.screen("terms").go_next()
    screen = app.screen("photo")
    screen.take()

    async def taken() -> None:
        for _ in range(50):
            if screen.taken:
                return
            await asyncio.sleep(0.05)

    return taken()


async def _settle(app: Any) -> None:
    for _ in range(40):
        if not app.tasks:
            return
        await asyncio.gather(*list(app.tasks))


def _done_pending(app: Any, tour: Tour) -> Any:
    app.screen("photo").go_next()
    return _settle(app)


async def _done_told(app: Any, tour: Tour) -> None:
    from tapin.demo.visitors import NOTIFY_AFTER

    await tour.central.drain_once()
    tour.clock.advance(NOTIFY_AFTER + timedelta(seconds=1))
    await tour.central.drain_once()
    printer = app.extras.get("printer")
    if printer is not None and printer.printed:
        path = tour.out / "badge-label.png"
        path.write_bytes(printer.printed[-1])
        tour.extra.append(path)


def _offline(app: Any, tour: Tour, waiting: int = 1) -> None:
    app.runtime.sync_status = SimpleNamespace(
        reachable=False, pending=waiting, inflight=0, last_contact=None, problem=None
    )


async def _done_offline(app: Any, tour: Tour) -> None:
    _offline(app, tour)
    app.home()
    app.start_signin()
    _field(app, "name", "Nils Holgersson")
    app.screen("name").go_next()
    app.screen("type").choose("interview")
    _field(app, "email", "nils@example.se")
    app.screen("email").go_next()
    app.screen("host").ids.field.text = "an"
    app.screen("host").choose(next(iter(app.screen("host").matches)))
    app.screen("terms").toggle_accept()
    app.screen("terms").go_next()
    await _settle(app)


def _scan(app: Any, tour: Tour) -> None:
    app.runtime.sync_status = None
    app.home()
    app.go("scan")


def _invite_qr(app: Any, tour: Tour) -> None:
    from tapin.demo.visitors import invite_qr

    app.scanned([invite_qr("inv-grace")])


def _signout(app: Any, tour: Tour) -> None:
    app.home()
    app.go("signout")


def _signout_confirm(app: Any, tour: Tour) -> None:
    screen = app.screen("signout")
    screen.pick(next(iter(screen.rows)))


def _goodbye(app: Any, tour: Tour) -> Any:
    next(iter(app.dialog.buttons.values())).dispatch("on_release")
    return _settle(app)


def _idle(app: Any, tour: Tour) -> None:
    app.home()
    app.start_signin()
    _field(app, "name", "Selma Lagerlöf", keyboard=True)  # the prompt sends the keyboard away
    app.ask_still_there()


def _offline_banner(app: Any, tour: Tour) -> None:
    app.home()
    _offline(app, tour, waiting=3)


def _revoked(app: Any, tour: Tour) -> None:
    """Revoked at central: the banner says so (sign-ins are refused, see reception)."""
    app.home()
    app.runtime.sync_status = SimpleNamespace(
        reachable=False, pending=0, inflight=0, last_contact=None, problem=None, trouble="revoked"
    )


def _signin_revoked(app: Any, tour: Tour) -> None:
    """A visitor signing in at a revoked kiosk: refused, and sent to reception."""
    from tapin.device.devicesync import revoked_words

    _revoked(app, tour)
    app.go("done")
    app.screen("done").refused(revoked_words("kiosk"))


def _admin_pin(app: Any, tour: Tour) -> None:
    app.runtime.sync_status = None
    app.go("admin_pin")
    screen = app.screen("admin_pin")
    for digit in TOUR_PIN[:2]:
        screen.press(digit)


def _evacuation(app: Any, tour: Tour) -> None:
    _offline(app, tour, waiting=2)
    app.go("evacuation")


# the staff side (issue 11) ---------------------------------------------------------------

MAJA_BADGE = "04A127F3C"
"""Maja Åberg's badge id (the demo directory's), as a USB reader types it."""
BJORN_QR = "TAPIN-STAFF:04A017F3C"
"""Björn Ek's staff QR code on his phone."""


def _staff_identify(app: Any, tour: Tour) -> None:
    app.runtime.sync_status = None
    app.open_staff()
    app.screen("staff_home").open("desk_booking")
    _field(app, "identify", MAJA_BADGE[:5], keyboard=True)  # the reader is typing


def _desk_badge(app: Any, tour: Tour) -> None:
    field = _field(app, "identify", MAJA_BADGE)
    field.dispatch("on_text_validate")  # the reader's Enter


def _desk_picked(app: Any, tour: Tour) -> None:
    app.screen("desk_booking").pick("d-308")


def _desk_pending(app: Any, tour: Tour) -> Any:
    app.screen("desk_booking").book()
    return _settle(app)


async def _desk_confirmed(app: Any, tour: Tour) -> None:
    await tour.central.drain_once()
    app.screen("desk_booking").refresh()


def _staff_my_desk(app: Any, tour: Tour) -> None:
    app.go("staff_home")


def _desk_qr(app: Any, tour: Tour) -> None:
    app.screen("staff_home").not_me()
    app.screen("staff_home").open("desk_booking")
    app.scanned([BJORN_QR])  # as the camera reads it from his phone


def _desk_floor3(app: Any, tour: Tour) -> None:
    screen = app.screen("desk_booking")
    screen.show_floor(3)
    screen.choose_part("afternoon")


def _desk_name(app: Any, tour: Tour) -> None:
    app.screen("desk_booking").not_me()
    app.screen("staff_home").open("desk_booking")
    _field(app, "identify", "la", keyboard=True)


async def _desk_rejected(app: Any, tour: Tour) -> None:
    identify = app.screen("identify")
    identify.choose("p-lars")
    screen = app.screen("desk_booking")
    screen.show_floor(2)
    screen.choose_part("day")
    screen.pick("d-204")
    screen.book()
    await _settle(app)
    # meanwhile another kiosk's booking of the same desk reached central first
    desks = tour.central.desks
    start, end = app.staff.part_bounds("morning")
    desks.take(
        EventType.BOOKING_CREATE,
        "desk:d-204",
        {"booking_id": "b-tour-other", "booked_by": "p-hugo"},
        start.isoformat(),
        end.isoformat(),
        start.isoformat(),
    )
    await tour.central.drain_once()
    screen.refresh()


def _desk_floor4(app: Any, tour: Tour) -> None:
    screen = app.screen("desk_booking")
    screen.show_floor(4)
    screen.pick("d-404")


def _rooms(app: Any, tour: Tour) -> None:
    app.go("staff_home")
    app.screen("staff_home").open("room_finder")


def _rooms_filtered(app: Any, tour: Tour) -> None:
    screen = app.screen("room_finder")
    screen.set_minutes(60)
    screen.set_capacity(4)
    screen.toggle("video")


def _room_booked(app: Any, tour: Tour) -> Any:
    screen = app.screen("room_finder")
    free = screen.found()
    screen.book(free[0].room.id, free[0].choices[-1])
    return _settle(app)


def _people_found(app: Any, tour: Tour) -> None:
    app.go("staff_home")
    app.screen("staff_home").open("people_finder")
    field = _field(app, "people_finder", "an")
    field.focus = False
    screen = app.screen("people_finder")
    screen.pick(next(iter(screen.rows)))


def _people_none(app: Any, tour: Tour) -> None:
    _field(app, "people_finder", "Farid", keyboard=True)  # invisible: nobody


STEPS = [
    Step("welcome", _welcome),
    Step("staff", _staff),
    Step("staff-identify", _staff_identify),
    Step("desk-badge-typed", _desk_badge),
    Step("desk-picked", _desk_picked),
    Step("desk-booked-pending", _desk_pending),
    Step("desk-booked-confirmed", _desk_confirmed),
    Step("staff-my-desk", _staff_my_desk),
    Step("desk-phone-qr", _desk_qr),
    Step("desk-floor-3-afternoon", _desk_floor3),
    Step("identify-by-name", _desk_name),
    Step("desk-rejected", _desk_rejected),
    Step("desk-floor-4", _desk_floor4),
    Step("room-finder", _rooms),
    Step("room-finder-filters", _rooms_filtered),
    Step("room-booked", _room_booked),
    Step("people-finder-result", _people_found),
    Step("people-finder-none", _people_none),
    Step("name", _name),
    Step("name-keyboard", _name_keyboard),
    Step("name-invite", _invite),
    Step("name-problem", _name_problem),
    Step("visitor-type", _type),
    Step("company-keyboard", _company),
    Step("email-problem", _email_problem),
    Step("host-search", _host),
    Step("host-nobody", _host_nobody),
    Step("terms", _terms),
    Step("terms-signature", _signature),
    Step("photo", _photo),
    Step("done-pending", _done_pending),
    Step("done-told", _done_told),
    Step("done-offline", _done_offline),
    Step("scan", _scan),
    Step("invite-qr-terms", _invite_qr),
    Step("signout-list", _signout),
    Step("signout-confirm", _signout_confirm),
    Step("signout-goodbye", _goodbye),
    Step("idle-prompt", _idle),
    Step("offline", _offline_banner),
    Step("revoked", _revoked),
    Step("signin-revoked", _signin_revoked),
    Step("admin-pin", _admin_pin),
    Step("evacuation", _evacuation),
]


def run_tour(runtime: Runtime, lobby_id: str, out: Path, *, size: tuple[int, int]) -> int:
    """Render every step; returns the exit code (0, or 1 if a step failed or showed a
    button whose label is not whole)."""
    from tapin.ui.kivyenv import has_display, prepare_kivy

    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=not has_display())

    from kiosk.app import KioskApp
    from kiosk.launch import default_extras
    from sync.queue import AsyncSealedQueue
    from tapin.demo.central import DemoCentral, demo_key
    from tapin.demo.staff import DemoDesks
    from tapin.demo.visitors import DemoLobby
    from tapin.device.adminpin import hash_pin
    from tapin.ui.screenshot import run_walk, tour_report, tour_shot

    local = datetime.now(runtime.site.timezone).replace(hour=9, minute=20, second=0, microsecond=0)
    clock = ManualClock(local.astimezone(UTC))
    runtime.clock = clock
    runtime.config = dataclasses.replace(runtime.config, admin_pin_hash=hash_pin(TOUR_PIN))
    runtime.tick()  # the demo's lobby and today's visitors
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []

    async def main() -> None:
        key = demo_key(runtime.config.state_dir)
        path = runtime.config.state_dir / "kiosk-tour-queue.db"
        for old in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            old.unlink(missing_ok=True)  # each tour starts with the demo's morning
        queue = AsyncSealedQueue(path, key.public_key())
        await queue.open()
        app = KioskApp(runtime, lobby_id, sink=queue, extras=default_extras(runtime))
        lobby = DemoLobby(runtime)
        central = DemoCentral(
            queue,
            key,
            runtime.calendar,
            app.controller.on_results,
            lobby=lobby,
            desks=DemoDesks(runtime),
        )
        lobby.publish()
        tour = Tour(clock, central, out)
        app.idle_clock = lambda: 0.0  # the tour asks "Still there?" itself

        async def walk() -> None:
            await asyncio.sleep(0.3)
            for number, step in enumerate(STEPS, start=1):
                try:
                    outcome = step.setup(app, tour)
                    if outcome is not None:
                        await outcome
                except Exception:
                    log.exception("tour step %s failed", step.name)
                    failed.append(step.name)
                    continue
                app.refresh()
                await asyncio.sleep(0.3)  # frames: layout, then the drawing triggers
                path = out / f"{number:02d}-{step.name}.png"
                written.append(tour_shot(path, step.name, failed))
            written.extend(tour.extra)
            app.stop()

        await run_walk(app, walk, queue)

    asyncio.run(main())
    return tour_report(written, failed)

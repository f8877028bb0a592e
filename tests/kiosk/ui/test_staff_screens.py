"""The kiosk's staff side by real touches on the offscreen window (1280x800): a desk
booked after identifying by a badge (typed on the on-screen keys, or typed by a USB
reader), by the staff QR code on a phone shown to the (demo) camera, and by name; the
bookings sealed in the queue (opened with central's key); a booking central refuses
shown as refused in the kiosk's language; two kiosks booking the same desk offline,
one applied and the other shown refused; an invisible person in no result, count or
map; the room finder's filters and book now."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tapin.demo.central import DemoCentral
from tapin.demo.staff import DemoDesks
from tests.kiosk.ui.conftest import KEY, sealed
from tests.kiosk.ui.test_kiosk_screens import button, settle, shown, tap, type_into
from tests.tapin.ui.test_keyboard import tap_key

pytestmark = pytest.mark.ui

HUGO_BADGE = "04A077F3C"
FARID_BADGE = "04A057F3C"  # an invisible person's


def central_for(k: Any) -> DemoCentral:
    """The demo central answering this kiosk's queue, desks too."""
    return DemoCentral(
        k.queue,
        KEY,
        k.app.runtime.calendar,
        k.app.controller.on_results,
        desks=DemoDesks(k.app.runtime),
    )


def to_identify(screen: Any, app: Any) -> Any:
    tap(screen, app.root, "Staff")
    assert app.current() == "staff_home"
    tap(screen, app.root, "Book a desk")
    assert app.current() == "identify"
    return app.screen("identify")


async def book_picked(screen: Any, app: Any, desk: str, part: str) -> None:
    booking = app.screen("desk_booking")
    for _attempt in range(3):  # a loaded machine may swallow a tap on a toggle
        tap(screen, app.root, f"Floor {desk[0]}")
        for _ in range(10):
            await asyncio.sleep(0.02)
            screen.frames(1)
            if booking.floor == int(desk[0]):
                break
        if booking.floor == int(desk[0]):
            break
    assert booking.floor == int(desk[0]), f"floor {desk[0]} not shown"
    tap(screen, app.root, part)
    await tap_listed(screen, app, f"{desk} · Free")
    tap(screen, app.root, f"Book {desk}: {part.lower()}")
    await settle(app, screen)


async def tap_listed(screen: Any, app: Any, label: str) -> None:
    """Tap a button in a scrolling list (the scroll view hands the touch on after its
    timeout, so frames must pass)."""
    booking = app.screen("desk_booking")
    name = label.split(" · ")[0]
    for _attempt in range(3):  # a loaded machine may let the scroll view's timeout pass
        tap(screen, app.root, label)
        for _ in range(50):
            await asyncio.sleep(0.02)
            screen.frames(1)
            desk = app.staff.desk(booking.desk_id) if booking.desk_id else None
            if desk is not None and desk.name == name:
                return
    raise AssertionError(f"{label!r} was not picked")


async def test_a_badge_typed_on_the_keys_books_a_desk(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    central = central_for(k)
    identify = to_identify(screen, app)
    type_into(screen, identify.ids.field, HUGO_BADGE.lower())
    tap_key(screen, "enter")
    screen.frames(2)
    assert app.current() == "desk_booking"
    assert "Hugo Berg" in shown(screen)  # who is identified, with "Not you?"
    await book_picked(screen, app, "2.03", "Morning")
    assert any(t.startswith("Desk 2.03 is yours: 10:30–12:30") for t in shown(screen))
    [(kind, payload)] = await sealed(k.queue)
    assert kind == "booking.create" and payload["booked_by"] == "p-hugo"
    assert not payload.get("private")
    await central.drain_once()
    app.refresh()
    screen.frames(2)
    assert "Booked. The desk is yours." in shown(screen)
    assert "2.03 · Yours" in shown(screen)
    tap(screen, app.root, "Back")
    assert any(t.startswith("Your desk today: 2.03, floor 2") for t in shown(screen))
    tap(screen, app.root, "Check in")
    await settle(app, screen)
    assert "Checked in. Have a good day!" in shown(screen)
    tap(screen, app.root, "Release the desk")
    await settle(app, screen)
    assert "The desk is free again for others. Thank you!" in shown(screen)
    kinds = [kind for kind, _p in await sealed(k.queue)]
    assert kinds == ["desk.checkin", "booking.end"]


async def test_a_usb_reader_types_the_badge_and_enter(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    identify = to_identify(screen, app)
    field = identify.ids.field
    assert field.focus  # the reader's keystrokes go to the field
    field.text = f"{HUGO_BADGE}"  # as the reader types it, then its Enter
    field.dispatch("on_text_validate")
    screen.frames(2)
    assert app.current() == "desk_booking" and app.staff.who.id == "p-hugo"
    tap(screen, app.root, "Not you?")
    assert app.current() == "staff_home" and app.staff.who is None
    tap(screen, app.root, "Book a desk")
    identify.ids.field.text = FARID_BADGE  # invisible: not found
    identify.ids.field.dispatch("on_text_validate")
    screen.frames(2)
    assert app.current() == "identify"
    assert "Badge or name not recognised; try again" in shown(screen)


async def test_a_phone_qr_code_identifies_then_a_private_booking(screen, kiosk) -> None:
    from tapin.hardware.qr import qr_png

    k = kiosk(camera=True)
    app = k.app
    to_identify(screen, app)
    assert app.scanner is not None and app.scanner.running
    app.extras["camera"].show(qr_png("TAPIN-STAFF:04A117F3C"))  # Lars's phone
    for _ in range(100):
        await asyncio.sleep(0.03)
        screen.frames(1)
        if app.current() == "desk_booking":
            break
    assert app.current() == "desk_booking" and app.staff.who.id == "p-lars"
    assert not app.scanner.running
    tap(screen, app.root, "Private: hide my name")
    await book_picked(screen, app, "2.04", "All day")
    [(_kind, payload)] = await sealed(k.queue)
    assert payload["booked_by"] == "p-lars" and payload["private"] is True


async def test_by_name_then_refused_as_central_refuses_it(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    central = central_for(k)
    identify = to_identify(screen, app)
    type_into(screen, identify.ids.field, "lar")
    tap(screen, app.root, "Lars Persson")
    assert app.current() == "desk_booking"
    await book_picked(screen, app, "2.04", "All day")
    start, end = app.staff.part_bounds("morning")  # someone else's reached central first
    assert central.desks is not None
    central.desks.take(
        "booking.create",
        "desk:d-204",
        {"booking_id": "b-other", "booked_by": "p-nils"},
        start.isoformat(),
        end.isoformat(),
        start.isoformat(),
    )
    await central.drain_once()
    app.refresh()
    screen.frames(2)
    assert "Not booked: The desk is already booked from 10:30 to 12:30" in shown(screen)
    assert "2.04 · Booked" in shown(screen) and "2.04 · Yours" not in shown(screen)


async def test_two_kiosks_offline_book_the_same_desk(screen, kiosk, tmp_path: Path) -> None:
    from kiosk.staff import StaffController
    from tests.kiosk.support import CENTRAL, demo_kiosk

    k = kiosk()
    app = k.app
    (tmp_path / "b").mkdir()
    async with demo_kiosk(tmp_path / "b", now=k.clock()) as other:
        desks = DemoDesks(app.runtime, other.runtime)
        here = DemoCentral(
            k.queue, KEY, app.runtime.calendar, app.controller.on_results, desks=desks
        )
        staff_b = StaffController(other.runtime, other.queue)
        there = DemoCentral(
            other.queue, CENTRAL, other.runtime.calendar, staff_b.on_results, desks=desks
        )
        app.runtime.sync_status = SimpleNamespace(
            reachable=False, pending=1, inflight=0, problem=None
        )
        staff_b.identify_person("p-nils")
        await staff_b.book_desk("d-203", "day")  # kiosk B, offline too: queued
        identify = to_identify(screen, app)
        type_into(screen, identify.ids.field, "lar")
        tap(screen, app.root, "Lars Persson")
        await book_picked(screen, app, "2.03", "Morning")
        assert "2.03 · Yours" in shown(screen)  # pending, shown at once
        await there.drain_once()  # back online: B's reaches central first
        await here.drain_once()
        app.refresh()
        screen.frames(2)
        assert staff_b.rejected is None and not staff_b.pending(staff_b.mine()[0].booking_id)
        assert "Not booked: The desk is already booked from 10:30 to 19:00" in shown(screen)
        assert "2.03 · Booked" in shown(screen)


async def test_an_invisible_person_is_in_no_result_count_or_map(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    tap(screen, app.root, "Staff")
    tap(screen, app.root, "Find a colleague")
    finder = app.screen("people_finder")
    type_into(screen, finder.ids.field, "f")  # Farid Haddad (invisible), Nils Forsberg
    assert "1 colleague found" in shown(screen)
    assert any(t.startswith("Nils Forsberg") for t in shown(screen))
    assert not [t for t in shown(screen) if "Farid" in t or "Haddad" in t]
    finder.ids.field.text = ""
    type_into(screen, finder.ids.field, "haddad")
    assert "Nobody by that name. Check the spelling." in shown(screen)
    assert finder.rows == {} and finder.ids.map.highlight == ""
    finder.ids.field.text = "carla"  # booked privately: no desk shown
    screen.frames(2)
    assert any("no desk booked today" in t for t in shown(screen))
    # the desk map: Farid's desk is booked, with no name anywhere
    tap(screen, app.root, "Back")
    app.staff.identify_person("p-lars")
    app.go("desk_booking")
    screen.frames(2)
    tap(screen, app.root, "Floor 2")
    await tap_listed(screen, app, "2.06 · Booked")
    assert "Desk 2.06: booked" in " ".join(shown(screen))
    assert app.screen("desk_booking").ids.map.desk_states["d-206"] == "booked"
    assert not [t for t in shown(screen) if "Farid" in t or "Haddad" in t]


async def test_the_room_finder_filters_and_books(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    tap(screen, app.root, "Staff")
    tap(screen, app.root, "Find a free room")
    finder = app.screen("room_finder")
    everything = len(finder.rows)
    assert everything and f"{everything} rooms are free" in shown(screen)
    tap(screen, app.root, "8+ seats")
    tap(screen, app.root, "Video calls")
    rooms = {r.id: r for r in app.runtime.site.rooms}
    assert finder.rows and all(
        rooms[r].capacity >= 8 and "video" in rooms[r].equipment for r in finder.rows
    )
    first = next(iter(finder.rows))
    row = finder.rows[first]
    minutes = button(row, row.children[0].text)
    tap(screen, row, minutes.text)
    await settle(app, screen)
    assert any(t.endswith("Confirming with the server…") for t in shown(screen))
    assert first not in finder.rows
    [(kind, _payload)] = await sealed(k.queue)
    assert kind == "booking.create"

"""The lobby kiosk by real touches on the offscreen window (1280x800): a visitor signs
in end to end (the sealed queue holds their sign-in, opened with central's key), the
idle prompt forgets what was typed, invisible people cannot be found as hosts, a
visitor signs out from the list, and the evacuation list needs the admin PIN."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tapin.device.adminpin import hash_pin
from tests.kiosk.ui.conftest import sealed
from tests.tapin.ui.test_keyboard import type_on_keys

pytestmark = pytest.mark.ui

PIN = "2468"


def texts(widget: Any) -> list[str]:
    found = [widget.text] if isinstance(getattr(widget, "text", None), str) else []
    for child in widget.children:
        found += texts(child)
    return found


def shown(screen: Any) -> list[str]:
    """Every text in the window (screens and open dialogs)."""
    found: list[str] = []
    for child in screen.window.children:
        found += texts(child)
    return found


def button(root: Any, label: str) -> Any:
    from kivy.uix.button import Button

    for widget in root.walk():
        if isinstance(widget, Button) and widget.text == label and widget.opacity > 0:
            return widget
    raise AssertionError(f"no button {label!r}; buttons: {[t for t in texts(root) if t]}")


def tap(screen: Any, root: Any, label: str) -> None:
    screen.tap_widget(button(root, label))
    screen.frames(2)


async def settle(app: Any, screen: Any) -> None:
    for _ in range(40):
        screen.frames(1)
        if not app.tasks:
            break
        await asyncio.sleep(0.02)
    app.refresh()
    screen.frames(3)


def type_into(screen: Any, field: Any, text: str) -> None:
    """Tap the field (the on-screen keyboard docks) and type on its keys."""
    screen.tap_widget(field)
    screen.frames(2)
    type_on_keys(screen, text)


async def test_a_visitor_signs_in_by_touch(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    assert "Sign in as a visitor" in shown(screen)
    tap(screen, app.root, "Sign in as a visitor")
    name = app.screen("name")
    assert app.current() == "name"
    type_into(screen, name.ids.field, "Ada Byron")
    assert name.ids.field.text == "Ada Byron" and not name.offer  # no invite by that name
    tap(screen, app.root, "Continue")
    assert app.current() == "type"
    tap(screen, app.root, "Interview")  # email, host, terms
    email = app.screen("email")
    assert app.current() == "email" and "3 of 5" in shown(screen)
    type_into(screen, email.ids.field, "ada")
    tap(screen, app.root, "Continue")
    assert app.current() == "email"
    assert "An email address has an @, like ada@example.org" in shown(screen)
    email.ids.field.focus = True
    type_on_keys(screen, "@example.org")
    tap(screen, app.root, "Continue")
    host = app.screen("host")
    assert app.current() == "host"
    type_into(screen, host.ids.field, "bj")
    tap(screen, app.root, "Björn Ek")
    assert app.current() == "terms" and "5 of 5" in shown(screen)
    assert button(app.root, "Sign in").disabled  # not before the terms are accepted
    tap(screen, app.root, "I have read and accept the terms")
    tap(screen, app.root, "Sign in")
    await settle(app, screen)
    assert app.current() == "done"
    assert "Welcome, Ada." in shown(screen)
    assert "We are letting Björn know you are here…" in shown(screen)
    ((kind, payload),) = await sealed(k.queue)
    assert kind == "visitor.signin"
    assert payload["name"] == "Ada Byron" and payload["host_id"] == "p-bjorn"
    assert payload["email"] == "ada@example.org" and payload["visitor_type"] == "interview"
    assert payload["accepted_terms"] is True and payload["terms_version"]
    printed = app.extras["printer"].printed
    assert len(printed) == 1 and printed[0][:8] == b"\x89PNG\r\n\x1a\n"  # the badge
    assert app.screen("done").has_badge
    # nothing typed lingers in the steps
    assert app.screen("name").ids.field.text == "" and app.flow.draft.name == ""
    # central applies it and, a moment later, tells Björn
    from tapin.demo.visitors import NOTIFY_AFTER

    assert await k.central.drain_once() == 1
    k.clock.advance(NOTIFY_AFTER + timedelta(seconds=1))
    await k.central.drain_once()
    await settle(app, screen)
    assert "Björn has been told you are here." in shown(screen)


async def test_offline_the_visitor_is_told_honestly(screen, kiosk) -> None:
    """Offline, and no printer: no badge, and the sign-in goes on."""
    from types import SimpleNamespace

    k = kiosk(printer=False)
    app = k.app
    app.runtime.sync_status = SimpleNamespace(reachable=False, pending=2, inflight=0, problem=None)
    app.refresh()
    screen.frames(2)
    assert any(t.startswith("Offline: hosts will be told") for t in shown(screen))
    assert any("2 sign-ins and sign-outs waiting" in t for t in shown(screen))
    tap(screen, app.root, "Sign in as a visitor")
    type_into(screen, app.screen("name").ids.field, "Bo Ek")
    tap(screen, app.root, "Continue")
    tap(screen, app.root, "Delivery")  # company only
    type_into(screen, app.screen("company").ids.field, "DHL")
    tap(screen, app.root, "Sign in")
    await settle(app, screen)
    assert "Welcome, Bo." in shown(screen)
    assert "We'll let reception know as soon as we're back online." in shown(screen)
    assert not app.screen("done").has_badge
    assert not any("badge" in t for t in shown(screen))
    ((kind, payload),) = await sealed(k.queue)
    assert (
        kind == "visitor.signin" and payload["company"] == "DHL" and payload.get("host_id") is None
    )


async def test_still_there_then_everything_typed_is_forgotten(screen, kiosk) -> None:
    from kiosk.app import PROMPT_SECONDS

    k = kiosk()
    app = k.app
    tap(screen, app.root, "Sign in as a visitor")
    field = app.screen("name").ids.field
    type_into(screen, field, "Selma")
    assert field.text == "Selma"
    k.idle[0] = 59.0
    app.check_idle()
    assert app.prompt is None  # not yet: the lobby's idle_seconds is 60
    k.idle[0] = 61.0
    app.check_idle()
    screen.frames(2)
    assert "Still there?" in shown(screen)
    from tapin.ui.keyboard import dock

    assert not field.focus and dock.height == 0  # the keyboard went: the question shows
    k.idle[0] = 61.0 + PROMPT_SECONDS
    app.check_idle()
    screen.frames(2)
    assert app.current() == "welcome" and "Still there?" not in shown(screen)
    assert field.text == "" and app.flow.draft.name == ""
    tap(screen, app.root, "Sign in as a visitor")
    assert app.screen("name").ids.field.text == ""
    assert await sealed(k.queue) == []


async def test_an_invisible_person_cannot_be_found_as_host(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    app.start_signin()
    app.flow.set_name("Ada Byron")
    app.next_step()
    app.screen("type").choose("interview")
    app.flow.set_email("ada@example.org")
    app.next_step()
    screen.frames(2)
    host = app.screen("host")
    assert app.current() == "host"
    type_into(screen, host.ids.field, "farid")  # Farid Haddad is invisible
    assert host.matches == {} and not any("Farid" in t for t in shown(screen))
    assert any(t.startswith("Nobody by that name") for t in shown(screen))
    assert host.ids.field.text == "farid"
    host.ids.field.text = "ha"  # Farid Haddad, Hugo Berg? only the visible
    screen.frames(2)
    assert "p-farid" not in host.matches


async def test_a_visitor_signs_out_from_the_list(screen, kiosk) -> None:
    k = kiosk()
    app = k.app
    tap(screen, app.root, "Sign out")
    assert app.current() == "signout"
    rows = [t for t in texts(app.screen("signout").ids.visitors) if t]
    assert "Alan T. · Bletchley Park Ltd" in rows
    assert not any("Turing" in t for t in shown(screen))  # first name and initial only
    tap(screen, app.root, "Alan T. · Bletchley Park Ltd")
    assert "Sign out Alan T.?" in shown(screen)
    tap(screen, app.dialog, "Sign out")
    await settle(app, screen)
    assert "Goodbye, Alan. Thank you for visiting!" in shown(screen)
    assert "Alan T. · Bletchley Park Ltd" not in texts(app.screen("signout").ids.visitors)
    ((kind, payload),) = await sealed(k.queue)
    assert kind == "visitor.signout"
    assert payload["visitor_id"] == "v-demo-alan" and payload["via"] == "list"


async def test_the_evacuation_list_needs_the_pin(screen, kiosk, monkeypatch) -> None:
    import kiosk.screens.welcome as welcome

    monkeypatch.setattr(welcome, "HOLD_SECONDS", 0.05)
    k = kiosk(pin_hash=hash_pin(PIN))
    app = k.app
    logo = app.screen("welcome").ids.logo
    screen.tap_widget(logo)  # a tap is not a hold
    screen.frames(3)
    assert app.current() == "welcome"
    from kivy.tests.common import UnitTestTouch

    x, y = logo.to_window(*logo.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    await asyncio.sleep(0.1)
    screen.frames(3)
    touch.touch_up()
    screen.frames(2)
    assert app.current() == "admin_pin"
    pin = app.screen("admin_pin")
    for digit in "1111":
        tap(screen, pin, digit)
    tap(screen, pin, "OK")
    await settle(app, screen)
    assert app.current() == "admin_pin"  # wrong: no list
    assert not any("Margaret Hamilton" in t for t in shown(screen))
    for digit in PIN:
        tap(screen, pin, digit)
    tap(screen, pin, "OK")
    await settle(app, screen)
    assert app.current() == "evacuation"
    listed = shown(screen)
    assert "Margaret Hamilton" in listed and "Host: David Okafor" in listed
    assert "3 visitors in the building" in listed
    tap(screen, app.root, "Back")
    assert app.current() == "welcome"


async def test_the_language_changes_at_once(screen, kiosk) -> None:
    from tapin import i18n

    k = kiosk()
    app = k.app
    try:
        tap(screen, app.root, "Svenska")
        assert "Skriv in dig som besökare" in shown(screen)
        assert "Sign in as a visitor" not in shown(screen)
        tap(screen, app.root, "Skriv in dig som besökare")
        assert "Ditt namn" in shown(screen) and "Tillbaka" in shown(screen)
        tap(screen, app.root, "Tillbaka")
        tap(screen, app.root, "English")
        assert "Sign in as a visitor" in shown(screen)
    finally:
        i18n.use("en_GB")


async def test_qr_codes_an_invite_goes_to_the_terms_a_badge_signs_out(screen, kiosk) -> None:
    from tapin.demo.visitors import invite_qr
    from tapin.hardware.qr import qr_png

    k = kiosk(camera=True)
    app = k.app
    camera = app.extras["camera"]

    async def seen(condition: Any) -> None:
        for _ in range(100):
            await asyncio.sleep(0.03)
            screen.frames(1)
            if condition():
                return
        raise AssertionError(f"the code was not acted on: on {app.current()}, {shown(screen)}")

    tap(screen, app.root, "Scan a QR code")
    assert app.current() == "scan" and app.scanner is not None and app.scanner.running
    camera.show(qr_png(invite_qr("inv-ada")))
    await seen(lambda: app.current() == "terms")
    assert app.flow.draft.invite is not None and app.flow.draft.name == "Ada Lovelace"
    assert "1 of 2" not in shown(screen) and "2 of 3" in shown(screen)  # name, type known
    assert not app.scanner.running  # scanning stops off the scan screens
    # a badge of a visitor signed in here signs them out
    app.home()
    app.start_signin()
    app.flow.set_name("Bo Ek")
    app.next_step()
    app.screen("type").choose("delivery")
    app.flow.set_company("DHL")
    app.next_step()
    await settle(app, screen)
    visit = app.visit
    assert visit is not None
    app.home()
    screen.frames(2)
    tap(screen, app.root, "Sign out")
    assert app.current() == "signout", app.current()
    camera.show(qr_png(f"TAPIN-OUT:{visit.visitor_id}:{visit.badge_token}"))
    await seen(lambda: "Goodbye, Bo. Thank you for visiting!" in shown(screen))
    events = await sealed(k.queue)
    assert [kind for kind, _ in events] == ["visitor.signin", "visitor.signout"]
    assert events[1][1]["via"] == "badge" and events[1][1]["badge_token"] == visit.badge_token


async def test_a_contractor_signs_with_a_finger(screen, kiosk) -> None:
    import base64

    from kivy.tests.common import UnitTestTouch

    k = kiosk()
    app = k.app
    app.start_signin()
    flow = app.flow
    flow.set_name("Grete Ek")
    app.next_step()
    app.screen("type").choose("contractor")
    flow.set_company("Ek Bygg")
    app.next_step()
    flow.set_email("grete@ekbygg.se")
    app.next_step()
    assert flow.choose_host("p-carla")
    app.next_step()
    screen.frames(3)
    assert app.current() == "terms"
    tap(screen, app.root, "I have read and accept the terms")
    assert button(app.root, "Sign in").disabled  # accepted, but not signed yet
    pad = app.screen("terms").ids.pad
    x, y = pad.to_window(pad.x, pad.y)
    touch = UnitTestTouch(x + pad.width * 0.1, y + pad.height * 0.4)
    touch.touch_down()
    for step in range(1, 12):
        touch.touch_move(
            x + pad.width * (0.1 + step * 0.07), y + pad.height * (0.4 + step % 3 * 0.1)
        )
        screen.frames(1)
    touch.touch_up()
    screen.frames(2)
    assert pad.drawn and not button(app.root, "Sign in").disabled
    tap(screen, app.root, "Sign in")  # no camera: no photo step, terms are the last
    assert app.current() == "done"
    await settle(app, screen)
    ((kind, payload),) = await sealed(k.queue)
    assert kind == "visitor.signin" and payload["host_id"] == "p-carla"
    assert base64.b64decode(payload["signature"])[:8] == b"\x89PNG\r\n\x1a\n"

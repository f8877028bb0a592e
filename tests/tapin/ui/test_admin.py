"""The admin PIN prompt and the admin screen, rendered with real Kivy and real touches."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from panel.controller import PanelController
from presence.interface import Occupancy, OccupancyReading, SimulatedOccupancy
from sync.agent import SyncStatus
from sync.queue import AsyncSealedQueue
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.device.adminpin import MAX_FAILURES, PIN_STATE_FILE, PinGuard, hash_pin
from tapin.ui.context import ScreenContext

pytestmark = pytest.mark.ui

PIN = "2468"
PIN_HASH = hash_pin(PIN)  # once per module: scrypt takes a moment
MONDAY_0920 = datetime(2026, 11, 30, 8, 20, tzinfo=UTC)  # 09:20 in Stockholm


def texts(widget: Any) -> list[str]:
    found = [widget.text] if isinstance(getattr(widget, "text", None), str) else []
    for child in widget.children:
        found += texts(child)
    return found


def buttons(widget: Any) -> dict[str, Any]:
    from kivy.uix.button import Button

    found = {widget.text: widget} if isinstance(widget, Button) else {}
    for child in widget.children:
        found.update(buttons(child))
    return found


def save_png(screen: Any, tmp_path: Path, name: str) -> Path:
    """Write a screenshot; also into $TAPIN_UI_SHOTS when set, for people to look at."""
    png = screen.save(tmp_path / name)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shots = os.environ.get("TAPIN_UI_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(shots) / name)
    return png


@dataclass
class Panel:
    ctx: ScreenContext
    clock: ManualClock
    manager: Any
    went: list[str] = field(default_factory=list)

    def show(self, name: str) -> Any:
        self.manager.current = name
        return self.manager.get_screen(name)


class LoopRunner:
    """``ctx.run`` for tests: one loop; each call runs it until nothing is left to do.
    A coroutine started from inside another (a screen shown from a coroutine) becomes a
    task that the outer call finishes, as on the app's running loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, awaitable: Awaitable[Any]) -> None:
        async def wrap() -> None:
            await awaitable

        self.loop.create_task(wrap())
        if self.loop.is_running():
            return
        while pending := [t for t in asyncio.all_tasks(self.loop) if not t.done()]:
            self.loop.run_until_complete(asyncio.gather(*pending))

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


@pytest.fixture
def panel(screen: Any, tmp_path: Path) -> Iterator[Any]:
    """Both admin screens in a ScreenManager in the test window, over a real runtime,
    a real controller and a real sealed queue."""
    from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

    from tapin.ui.screens.admin import AdminScreen
    from tapin.ui.screens.admin_pin import AdminPinScreen

    made: list[Any] = []
    run = LoopRunner()

    def build(*, with_pin: bool = True, extras: dict[str, Any] | None = None) -> Panel:
        clock = ManualClock(MONDAY_0920)
        state = tmp_path / ("state" if not made else f"state{len(made)}")
        state.mkdir()
        runtime = demo_runtime(demo_config(state), clock=clock)
        queue = AsyncSealedQueue(state / "queue.db", X25519PrivateKey.generate().public_key())
        run(queue.open())
        controller = PanelController(
            runtime.calendar,
            "aurora",
            queue,
            clock=clock,
            room=lambda: runtime.room("aurora"),
            occupancy=SimulatedOccupancy(),
        )
        manager = ScreenManager(transition=NoTransition())
        panel = Panel(None, clock, manager)  # type: ignore[arg-type]

        def go(name: str) -> None:
            panel.went.append(name)
            if manager.has_screen(name):
                manager.current = name

        panel.ctx = ScreenContext(
            runtime=runtime,
            actions=controller,
            resource="room:aurora",
            clock=clock,
            go=go,
            run=run,
            extras=extras or {},
            occupancy=controller.occupancy,
        )
        guard = PinGuard(PIN_HASH, state / PIN_STATE_FILE, clock) if with_pin else None
        manager.add_widget(Screen(name="status"))
        manager.add_widget(AdminPinScreen(panel.ctx, guard))
        manager.add_widget(AdminScreen(panel.ctx))
        screen.window.add_widget(manager)
        made.append((manager, queue))
        screen.frames(2)
        return panel

    yield build
    for manager, queue in made:
        manager.current = "status"  # on_leave cancels the screens' clocks
        screen.frames(1)
        screen.window.remove_widget(manager)
        run(queue.close())
    run.close()
    screen.frames(1)


def type_pin(screen: Any, pin_screen: Any, digits: str) -> None:
    keys = buttons(pin_screen.ids.keypad)
    for digit in digits:
        screen.tap_widget(keys[digit])
    screen.tap_widget(keys["OK"])


def test_keys_are_big_enough_for_a_finger(screen, panel) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    keys = buttons(pin_screen)
    assert set(keys) == {*"0123456789", "Delete", "OK", "Cancel"}
    for label, key in keys.items():
        assert key.width >= 56 and key.height >= 56, f"{label} is {key.size}"


def test_right_pin_opens_admin(screen, panel, tmp_path) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    assert pin_screen.message == "Enter the admin PIN"
    keys = buttons(pin_screen.ids.keypad)
    for digit in PIN[:2]:
        screen.tap_widget(keys[digit])
    screen.frames(2)
    assert pin_screen.digits == 2
    save_png(screen, tmp_path, "admin-pin-typing.png")
    for digit in PIN[2:]:
        screen.tap_widget(keys[digit])
    screen.tap_widget(keys["OK"])
    assert p.went == ["admin"]
    assert pin_screen.digits == 0


def test_delete_and_short_pins(screen, panel) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    keys = buttons(pin_screen.ids.keypad)
    for digit in "123":
        screen.tap_widget(keys[digit])
    assert keys["OK"].disabled  # fewer than 4 digits
    screen.tap_widget(keys["Delete"])
    assert pin_screen.digits == 2
    for digit in "9" * 10:  # at most 8 digits are taken
        screen.tap_widget(keys[digit])
    assert pin_screen.digits == 8
    assert PIN not in " ".join(texts(pin_screen))  # the digits are never drawn as text


def test_five_wrong_pins_lock_and_the_lock_survives_a_restart(screen, panel, tmp_path) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    for attempt in range(1, MAX_FAILURES):
        type_pin(screen, pin_screen, "1111")
        left = MAX_FAILURES - attempt
        assert pin_screen.message == f"Wrong PIN ({left} {'try' if left == 1 else 'tries'} left)"
        assert pin_screen.digits == 0
    screen.frames(2)
    save_png(screen, tmp_path, "admin-pin-wrong.png")
    type_pin(screen, pin_screen, "1111")
    assert pin_screen.message == "Locked for 5 min"
    assert not pin_screen.keypad_on
    # Even the right PIN is refused while locked: the keypad does nothing.
    type_pin(screen, pin_screen, PIN)
    assert p.went == []
    # The countdown follows the clock.
    p.clock.now += timedelta(seconds=28)
    deadline = time.monotonic() + 3
    while pin_screen.message != "Locked for 4 min 32 s" and time.monotonic() < deadline:
        screen.frames(1)
    assert pin_screen.message == "Locked for 4 min 32 s"
    assert "Locked for 4 min 32 s" in texts(pin_screen)
    save_png(screen, tmp_path, "admin-pin-locked.png")
    # A new guard over the same state file (a reboot) is still locked.
    restarted = PinGuard(PIN_HASH, tmp_path / "state" / PIN_STATE_FILE, p.clock)
    assert restarted.locked
    # After the lock, the right PIN works.
    p.clock.now += timedelta(minutes=5)
    p.show("status")
    pin_screen = p.show("admin_pin")
    screen.frames(2)
    assert pin_screen.keypad_on and pin_screen.message == "Enter the admin PIN"
    type_pin(screen, pin_screen, PIN)
    assert p.went == ["admin"]


def test_cancel_goes_back_to_status(screen, panel) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    screen.tap_widget(pin_screen.ids.cancel)
    assert p.went == ["status"]


def test_without_a_pin_hash_admin_cannot_be_opened(screen, panel, tmp_path, caplog) -> None:
    p = panel(with_pin=False)
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    shown = texts(pin_screen)
    assert "No admin PIN is set for this device" in shown
    assert pin_screen.detail == (
        "To set one, run “tapin admin hash-pin” on the device, add the line it prints to "
        "the device's configuration file under [admin], then restart Tapin."
    )
    assert pin_screen.detail in shown and "panel" not in " ".join(shown)  # kiosks too
    # No keypad that looks usable: there is none, and no dots to fill.
    assert not pin_screen.keypad_on and pin_screen.keypad.parent is None
    assert set(buttons(pin_screen)) == {"Cancel"} and pin_screen.ids.dots.opacity == 0
    for x, y in ((650, 60), (650, 200), (700, 330)):  # where the keys would be
        screen.tap(x, y)
    pin_screen.press("1")  # even if something pressed a key
    pin_screen.submit()
    assert pin_screen.digits == 0 and p.went == []
    for widget in _labels_and_buttons(pin_screen):
        assert _inside(widget, pin_screen), f"{widget.text!r} at {widget.pos} {widget.size}"
    detail = pin_screen.ids.detail
    assert detail.texture_size[1] <= detail.height  # every line of it shows
    save_png(screen, tmp_path, "admin-pin-not-set-up.png")
    warnings = [r for r in caplog.records if "pin_hash" in r.getMessage()]
    p.show("status")
    p.show("admin_pin")
    assert len([r for r in caplog.records if "pin_hash" in r.getMessage()]) == len(warnings) == 1
    screen.frames(3)
    screen.tap_widget(pin_screen.ids.cancel)
    assert p.went == ["status"]


def test_without_a_pin_the_prompt_names_the_configuration_file(screen, panel) -> None:
    from dataclasses import replace

    p = panel(with_pin=False)
    p.ctx.runtime.config = replace(p.ctx.runtime.config, source="/etc/tapin/tapin.toml")
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    assert "add the line it prints to /etc/tapin/tapin.toml under [admin]" in pin_screen.detail


@pytest.mark.parametrize("size", [(480, 800), (1280, 800)])
def test_without_a_pin_the_words_fit_portrait_and_large_screens(screen, panel, size) -> None:
    screen.window.size = size
    try:
        p = panel(with_pin=False)
        pin_screen = p.show("admin_pin")
        screen.frames(4)
        assert set(buttons(pin_screen)) == {"Cancel"}
        for widget in _labels_and_buttons(pin_screen):
            assert _inside(widget, pin_screen), f"{widget.text!r} at {widget.pos} {widget.size}"
        detail, cancel = pin_screen.ids.detail, pin_screen.ids.cancel
        assert detail.texture_size[1] <= detail.height
        assert detail.to_window(detail.x, detail.y)[1] > cancel.to_window(cancel.x, cancel.y)[1]
        assert min(cancel.size) >= 48
    finally:
        screen.window.size = (800, 480)
        screen.frames(2)


def test_admin_screen_shows_device_facts_and_no_personal_data(screen, panel, tmp_path) -> None:
    synced: list[bool] = []

    async def sync_now() -> dict[str, Any]:
        await asyncio.sleep(0)
        synced.append(True)
        p.ctx.runtime.sync_status.pending = 0
        p.ctx.runtime.sync_status.reachable = True
        return {"reachable": True, "queue": {"pending": 0}}

    p = panel(extras={"sync_now": sync_now})
    runtime = p.ctx.runtime
    runtime.sync_status = SyncStatus(
        device_id="dev-7f3a91",
        reachable=False,
        last_sync=(MONDAY_0920 - timedelta(minutes=4)).isoformat(),
        last_error="ConnectError: connection refused",
        pending=3,
        inflight=1,
        rejected=2,
        quarantined=0,
    )
    p.ctx.occupancy.set(  # type: ignore[attr-defined]
        "aurora", OccupancyReading(Occupancy.OCCUPIED, count_band="3-5", confidence=0.8)
    )
    admin = p.show("admin")
    deadline = time.monotonic() + 3
    while admin.network is None and time.monotonic() < deadline:
        screen.frames(1)
    screen.frames(3)
    shown = texts(admin)
    assert "dev-7f3a91" in shown
    assert "Aurora (aurora)" in shown
    assert "UNREACHABLE" in shown and "09:16" in shown
    assert "ConnectError: connection refused" in shown
    assert [
        admin.ids[name].number for name in ("pending", "inflight", "rejected", "quarantined")
    ] == [
        3,
        1,
        2,
        0,
    ]
    assert {"3", "1", "2", "0"} <= set(shown)
    assert "Occupied" in shown and "3-5" in shown and "80 %" in shown
    assert any(t.startswith("Tapin 0.") for t in shown)
    assert admin.network is not None and admin.network.hostname in shown
    save_png(screen, tmp_path, "admin.png")

    # No personal data anywhere: no person's name, no meeting subject, no email.
    everything = " | ".join(texts(screen.window))
    people = [person.name for person in runtime.site.people]
    subjects = {
        m.subject for room in runtime.site.rooms for m in runtime.calendar.meetings(room.id)
    }
    assert subjects and people
    for secret in [*people, *subjects, *(n.split()[0] for n in people)]:
        assert secret not in everything, secret
    assert "@" not in everything

    screen.tap_widget(admin.ids.sync_now)
    assert synced == [True]
    assert admin.sync_result == "09:20: synced; 0 waiting"
    assert admin.ids.pending.number == 0
    assert "reachable" in texts(admin)
    screen.frames(2)
    save_png(screen, tmp_path, "admin-synced.png")

    screen.tap_widget(admin.ids.close)
    assert p.went[-1] == "status"


def test_sync_now_failure_is_shown_and_demo_has_no_sync(screen, panel, tmp_path) -> None:
    async def broken() -> None:
        raise ConnectionError("central down")

    p = panel(extras={"sync_now": broken})
    admin = p.show("admin")
    screen.frames(3)
    screen.tap_widget(admin.ids.sync_now)
    assert admin.sync_result == "Sync failed: ConnectionError" and admin.sync_error
    screen.frames(2)
    save_png(screen, tmp_path, "admin-sync-failed.png")
    assert "demo (not enrolled)" in texts(admin)

    q = panel()
    admin = q.show("admin")
    screen.frames(3)
    assert admin.ids.sync_now.disabled
    assert "Sync is not available here (demo mode or not enrolled)" in texts(admin)


def test_ip_brief_parsing() -> None:
    from tapin.ui.screens.admin import parse_ip_brief

    out = (
        "lo               UNKNOWN        127.0.0.1/8 ::1/128 \n"
        "eth0             UP             192.168.1.20/24 fe80::1/64 2001:db8::5/64 \n"
        "wlan0@phy0       DOWN           \n"
        "garbage\n"
    )
    assert parse_ip_brief(out) == ("eth0 192.168.1.20", "eth0 2001:db8::5")
    assert parse_ip_brief("") == ()


@pytest.fixture
def swedish() -> Iterator[None]:
    from tapin import i18n

    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def test_swedish(swedish, screen, panel, tmp_path) -> None:
    p = panel()
    pin_screen = p.show("admin_pin")
    screen.frames(3)
    shown = texts(pin_screen)
    assert "Enhetsadministration" in shown and "Endast för tekniker" in shown
    assert "Ange admin-PIN" in shown and "4 till 8 siffror" in shown
    assert set(buttons(pin_screen)) == {*"0123456789", "Radera", "OK", "Avbryt"}
    type_pin(screen, pin_screen, "1111")
    assert pin_screen.message == "Fel PIN (4 försök kvar)" and pin_screen.detail == "Försök igen"
    screen.frames(2)
    save_png(screen, tmp_path, "admin-pin-sv-wrong.png")
    for _ in range(MAX_FAILURES - 1):
        type_pin(screen, pin_screen, "1111")
    assert (
        pin_screen.message == "Låst i 5 min" and pin_screen.detail == "För många felaktiga försök"
    )
    screen.frames(2)
    save_png(screen, tmp_path, "admin-pin-sv-locked.png")

    p.ctx.runtime.sync_status = SyncStatus(
        device_id="dev-7f3a91",
        reachable=False,
        last_sync=(MONDAY_0920 - timedelta(minutes=4)).isoformat(),
        last_error="ConnectError: connection refused",
        pending=3,
        inflight=1,
        rejected=2,
        quarantined=0,
    )
    admin = p.show("admin")
    deadline = time.monotonic() + 3
    while admin.network is None and time.monotonic() < deadline:
        screen.frames(1)
    screen.frames(3)
    shown = texts(admin)
    for word in ("Enhetsadministration", "Inga personuppgifter visas här", "ENHET", "NÄTVERK"):
        assert word in shown, word
    for word in ("NÄRVARO", "CENTRALSERVER", "KÖ", "väntar", "skickas", "i karantän"):
        assert word in shown, word
    for word in ("Enhets-id", "Värdnamn", "Anslutning", "NÅS INTE", "Senaste synk", "Stäng"):
        assert word in shown, word
    assert "Synk är inte tillgänglig här (demoläge eller ej registrerad)" in shown
    save_png(screen, tmp_path, "admin-sv.png")

    q = panel(with_pin=False)
    pin_screen = q.show("admin_pin")
    screen.frames(3)
    shown = texts(pin_screen)
    assert "Ingen admin-PIN är inställd för den här enheten" in shown
    assert pin_screen.detail == (
        "Kör ”tapin admin hash-pin” på enheten, lägg raden den skriver ut under [admin] i "
        "enhetens konfigurationsfil och starta sedan om Tapin."
    )
    assert set(buttons(pin_screen)) == {"Avbryt"}
    save_png(screen, tmp_path, "admin-pin-sv-not-set-up.png")


def _inside(widget: Any, screen_widget: Any) -> bool:
    x, y = widget.to_window(widget.x, widget.y)
    sx, sy = screen_widget.to_window(screen_widget.x, screen_widget.y)
    return (
        sx - 1 <= x
        and sy - 1 <= y
        and x + widget.width <= sx + screen_widget.width + 1
        and y + widget.height <= sy + screen_widget.height + 1
    )


def _labels_and_buttons(widget: Any) -> Iterator[Any]:
    from kivy.uix.label import Label

    if isinstance(widget, Label) and widget.text and widget.opacity > 0:
        yield widget
    for child in widget.children:
        yield from _labels_and_buttons(child)


@pytest.mark.parametrize("size", [(480, 800), (1280, 800)])
def test_layout_fits_portrait_and_large_screens(screen, panel, size) -> None:
    """Stacked in portrait, side by side otherwise; nothing off screen, no small keys.
    (No PNGs here: the offscreen window keeps its first size for grabs.)"""
    from kivy.uix.button import Button

    screen.window.size = size
    try:
        p = panel()
        pin_screen = p.show("admin_pin")
        screen.frames(4)
        assert pin_screen.portrait == (size[1] > size[0])
        keys = buttons(pin_screen)
        assert set(keys) == {*"0123456789", "Delete", "OK", "Cancel"}
        for label, key in keys.items():
            assert min(key.size) >= 48, f"{label} is {key.size}"
        for widget in _labels_and_buttons(pin_screen):
            assert _inside(widget, pin_screen), f"{widget.text!r} at {widget.pos} {widget.size}"
        title = next(w for w in _labels_and_buttons(pin_screen) if w.text == "Device admin")
        cancel, keypad = pin_screen.ids.cancel, pin_screen.ids.keypad
        if pin_screen.portrait:  # stacked: title, keypad, Cancel at the bottom
            assert title.y > keypad.top > keypad.y > cancel.top
            assert keypad.width > pin_screen.width * 0.8
        else:  # side by side: keypad on the right
            assert keypad.x > cancel.right and keypad.x > title.x
        type_pin(screen, pin_screen, "1111")
        screen.frames(2)
        assert pin_screen.error and pin_screen.message.startswith("Wrong PIN")
        if pin_screen.portrait:  # the dots and the message stay above the keypad
            assert pin_screen.ids.dots.y > pin_screen.ids.message.top > keypad.top
        for widget in _labels_and_buttons(pin_screen):
            assert _inside(widget, pin_screen), f"{widget.text!r} at {widget.pos} {widget.size}"

        admin = p.show("admin")
        screen.frames(4)
        assert admin.portrait == (size[1] > size[0])
        for widget in _labels_and_buttons(admin):
            assert _inside(widget, admin), f"{widget.text!r} at {widget.pos} {widget.size}"
            if isinstance(widget, Button):
                assert min(widget.size) >= 48, f"{widget.text} is {widget.size}"
        left, right = admin.ids.left_column, admin.ids.right_column
        queue, sync_now = admin.ids.queue, admin.ids.sync_now
        to_win = lambda w: w.to_window(w.x, w.y)  # noqa: E731
        if admin.portrait:  # one column: left sections over right ones, buttons last
            assert abs(to_win(left)[0] - to_win(right)[0]) < 1
            assert to_win(left)[1] >= to_win(right)[1] + right.height
            assert to_win(right)[1] > to_win(queue)[1] > to_win(sync_now)[1] + sync_now.height
            assert admin.unit == pytest.approx(1.0)
        else:
            assert to_win(right)[0] > to_win(left)[0] + left.width
    finally:
        screen.window.size = (800, 480)
        screen.frames(2)

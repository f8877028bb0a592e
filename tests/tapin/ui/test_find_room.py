"""The "find a free room" screen, rendered with real Kivy offscreen and tapped for real."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from panel.controller import PanelController
from sync.queue import AsyncSealedQueue
from sync.wire import open_epoch_key, open_payload
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.device.runtime import Runtime
from tapin.ui.context import ScreenContext
from tapin.ui.screenshot import Frame, write_png
from tapin.ui.theme import PALETTE, contrast

pytestmark = pytest.mark.ui

NOW = datetime(2026, 11, 30, 8, 20, tzinfo=UTC)  # 09:20 in Stockholm, a Monday


def local(h: int, m: int = 0) -> datetime:
    """Today at h:m in Stockholm (UTC+1 in November), as a UTC instant."""
    return datetime(2026, 11, 30, h - 1, m, tzinfo=UTC)


def texts(widget: Any) -> list[str]:
    found = [widget.text] if isinstance(getattr(widget, "text", None), str) else []
    for child in widget.children:
        found += texts(child)
    return found


class Panel:
    """One screen of the panel in the test window, over a real runtime, controller and
    sealed queue. ``ctx.run`` collects coroutines; :meth:`settle` runs them."""

    def __init__(self, screen: Any, tmp_path: Path) -> None:
        from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

        self.screen = screen
        self.clock = ManualClock(NOW)
        self.runtime: Runtime = demo_runtime(demo_config(tmp_path / "state"), clock=self.clock)
        self.key = X25519PrivateKey.generate()
        self.queue = AsyncSealedQueue(tmp_path / "queue.db", self.key.public_key())
        self.controller = PanelController(
            self.runtime.calendar,
            "aurora",
            self.queue,
            clock=self.clock,
            room=lambda: self.runtime.room("aurora"),
        )
        self.went: list[str] = []
        self.pending: list[Awaitable[Any]] = []
        self.ctx = ScreenContext(
            runtime=self.runtime,
            actions=self.controller,
            resource="room:aurora",
            clock=self.clock,
            go=self._go,
            run=self.pending.append,
        )
        self.manager = ScreenManager(transition=NoTransition())
        self.manager.add_widget(Screen(name="status"))
        screen.window.add_widget(self.manager)

    def _go(self, name: str) -> None:
        self.went.append(name)
        if self.manager.has_screen(name):
            self.manager.current = name

    def show(self, make: Callable[[ScreenContext], Any]) -> Any:
        widget = make(self.ctx)
        self.manager.add_widget(widget)
        self.manager.current = widget.name
        self.screen.frames(4)
        return widget

    def settle(self) -> None:
        """Run what the screen handed to ``ctx.run``, as the app's loop would."""
        while self.pending:
            asyncio.run(self._await(self.pending.pop(0)))
        self.screen.frames(3)

    @staticmethod
    async def _await(awaitable: Awaitable[Any]) -> None:
        await awaitable

    def render(self, path: Path) -> Frame:
        """The panel drawn into its own framebuffer at the window's current size, saved
        as a PNG. (The offscreen window's own framebuffer keeps its first size, so
        ``screen.save`` is right only at 800x480.)"""
        texture = self.manager.export_as_image().texture
        width, height = (int(v) for v in texture.size)
        frame = Frame(width, height, bytes(texture.pixels))  # rows already top first
        write_png(path, frame)
        return frame

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """What central would read: every queued event, opened with its private key."""

        async def take() -> list[tuple[str, dict[str, Any]]]:
            batch = await self.queue.take_batch(100)
            await self.queue.release_inflight()
            out = []
            for event in batch.events:
                key = open_epoch_key(event.epoch, batch.epochs[event.epoch], self.key)
                out.append((event.type, open_payload(event, key)))
            return out

        return asyncio.run(take())

    def close(self) -> None:
        for coroutine in self.pending:
            close = getattr(coroutine, "close", None)
            if close is not None:
                close()
        asyncio.run(self.queue.close())
        self.manager.current = "status"  # screens stop their timers when left
        self.screen.frames(2)
        self.screen.window.remove_widget(self.manager)
        self.screen.window.size = (800, 480)
        self.screen.frames(1)


@pytest.fixture
def panel(screen: Any, tmp_path: Path) -> Iterator[Panel]:
    harness = Panel(screen, tmp_path)
    yield harness
    harness.close()


def show_find_room(panel: Panel) -> Any:
    from tapin.ui.screens.find_room import FindRoomScreen

    return panel.show(FindRoomScreen)


def rows(find_room: Any) -> list[Any]:
    return list(reversed(find_room.ids.rows.children))  # Kivy lists children last first


def test_free_rooms_same_floor_first_with_until_times(panel: Panel, tmp_path: Path) -> None:
    panel.runtime.availability = {
        "aurora": ((local(9), local(10)),),
        "fjall": ((local(8), local(9)), (local(11), local(12))),  # floor 3: until 11:00
        "skog": ((local(9), local(10)),),  # floor 3: busy now
        "hav": (),  # floor 2: the rest of the day
        "sol": ((local(9, 15), local(9, 45)),),  # floor 2: busy now
        "mane": ((local(9, 50), local(11)),),  # floor 4: 30 minutes
        "alv": ((local(9, 25), local(10)),),  # floor 4: 5 minutes, not worth it
    }
    find_room = show_find_room(panel)
    shown = [(r.name, r.free, r.detail) for r in rows(find_room)]
    assert shown == [
        ("Fjäll", "Free until 11:00", "for 1 h 40 min"),
        ("Hav", "Free for the rest of the day", ""),
        ("Måne", "Free for 30 min", "until 09:50"),
    ]
    assert rows(find_room)[0].details == "Floor 3  ·  4 seats  ·  display"
    everything = " | ".join(texts(find_room))
    for busy in ("Skog", "Sol", "Älv", "Aurora"):
        assert busy not in everything
    assert "09:20" in everything and "Free rooms now" in everything
    assert find_room.ids.more.text == ""
    screen = panel.screen
    first = rows(find_room)[0]
    x, y = first.to_window(first.x + 2, first.center_y)
    assert screen.grab().pixel(int(x), int(screen.window.height - y))[:3] == (0x1B, 0x7A, 0x3A)
    screen.save(tmp_path / "find_room.png")


def test_rows_follow_the_demo_availability(panel: Panel) -> None:
    availability = panel.runtime.availability
    assert availability is not None
    find_room = show_find_room(panel)
    names = {r.name for r in rows(find_room)}
    for room in panel.runtime.site.rooms:
        busy_now = any(start <= NOW < end for start, end in availability.get(room.id, ()))
        if busy_now or room.id == "aurora":
            assert room.name not in names


def test_back_tap_goes_to_status(panel: Panel) -> None:
    find_room = show_find_room(panel)
    back = find_room.ids.back
    assert back.height >= 56 and back.width >= 56  # at least 9 mm on the 7" screen
    panel.screen.tap_widget(back)
    assert panel.went == ["status"]
    assert panel.manager.current == "status"


def test_unknown_availability_never_guesses(panel: Panel, tmp_path: Path) -> None:
    panel.runtime.availability = None
    find_room = show_find_room(panel)
    assert rows(find_room) == []
    assert find_room.ids.message.text == "Free rooms are not known right now (no connection)"
    assert "Free until" not in " ".join(texts(find_room))
    panel.screen.save(tmp_path / "find_room_unknown.png")


def test_none_free_and_more_than_five(panel: Panel, tmp_path: Path) -> None:
    rooms = [r.id for r in panel.runtime.site.rooms]
    panel.runtime.availability = {rid: ((local(8), local(18)),) for rid in rooms}
    find_room = show_find_room(panel)
    assert rows(find_room) == []
    assert find_room.ids.message.text == "No other room is free right now"
    # Shown again later: everything is free, five rows and "+1 more".
    panel.manager.current = "status"
    panel.runtime.availability = {rid: () for rid in rooms}
    panel.manager.current = "find_room"
    panel.screen.frames(3)
    assert len(rows(find_room)) == 5
    assert find_room.ids.message.text == ""
    assert find_room.ids.more.text == "+1 more"
    more = find_room.ids.more
    last = rows(find_room)[-1]
    assert more.top <= last.y  # nothing overlaps
    panel.screen.save(tmp_path / "find_room_full.png")


def test_large_screen_keeps_the_layout(panel: Panel, tmp_path: Path) -> None:
    panel.runtime.availability = {r.id: () for r in panel.runtime.site.rooms}
    panel.screen.window.size = (1280, 800)
    find_room = show_find_room(panel)
    panel.screen.frames(4)
    assert find_room.unit == pytest.approx(1.6)
    assert find_room.ids.back.height >= 56 * 1.6
    assert rows(find_room)[-1].y >= 0
    frame = panel.render(tmp_path / "find_room_1280.png")
    assert (frame.width, frame.height) == (1280, 800)
    back = find_room.ids.back
    x, y = back.to_window(back.x + 4, back.center_y)
    # Back is a cancel: words on the screen's background, no button face
    assert frame.pixel(int(x), int(800 - y))[:3] == (0x14, 0x18, 0x1F)
    assert back.role == "cancel" and back.texture_size[0] <= back.width


def test_text_colours_are_readable() -> None:
    for fg, bg in [("ink", "card_bg"), ("muted", "card_bg"), ("ink", "panel_bg")]:
        assert contrast(PALETTE[fg], PALETTE[bg]) >= 4.5
    assert contrast(PALETTE["ink"], PALETTE["timeline_track"]) >= 4.5
    assert contrast(PALETTE["panel_bg"], PALETTE["timeline_meeting"]) >= 4.5


def test_clock_moves_between_visits(panel: Panel) -> None:
    panel.runtime.availability = {"fjall": ((local(11), local(12)),)}
    find_room = show_find_room(panel)
    assert rows(find_room)[0].free == "Free until 11:00"
    panel.manager.current = "status"
    panel.clock.now = NOW + timedelta(hours=1, minutes=15)  # 10:35: 25 minutes left
    panel.manager.current = "find_room"
    panel.screen.frames(3)
    assert [(r.name, r.free) for r in rows(find_room)] == [("Fjäll", "Free for 25 min")]


def test_portrait_layout_fits(panel: Panel, tmp_path: Path) -> None:
    panel.runtime.availability = {r.id: () for r in panel.runtime.site.rooms}
    panel.screen.window.size = (480, 800)
    find_room = show_find_room(panel)
    panel.screen.frames(3)
    assert find_room.portrait and len(rows(find_room)) == 5
    assert find_room.ids.more.y >= 0
    panel.render(tmp_path / "find_room_portrait.png")


def test_the_list_follows_the_clock_only_while_shown(panel: Panel) -> None:
    find_room = show_find_room(panel)
    assert find_room._ticker is not None
    panel.manager.current = "status"
    panel.screen.frames(2)
    assert find_room._ticker is None


@pytest.fixture
def swedish() -> Iterator[None]:
    from tapin import i18n

    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def keep_shot(png: Path) -> None:
    """Also into $TAPIN_UI_SHOTS when set, for people to look at."""
    import os
    import shutil

    shots = os.environ.get("TAPIN_UI_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(shots) / png.name)


def test_swedish(swedish: None, panel: Panel, tmp_path: Path) -> None:
    panel.runtime.availability = {
        "aurora": ((local(9), local(10)),),
        "fjall": ((local(8), local(9)), (local(11), local(12))),
        "hav": (),
        "mane": ((local(9, 50), local(11)),),
    }
    find_room = show_find_room(panel)
    shown = texts(find_room)
    assert "Tillbaka" in shown and "Lediga rum nu" in shown
    assert "Ledigt resten av dagen" in shown and "Ledigt till 11:00" in shown
    assert "Ledigt i 30 min" in shown and "till 09:50" in shown and "i 1 tim 40 min" in shown
    assert any(text.startswith("Våning 3  ·  ") and "platser" in text for text in shown)
    assert not any("Free" in text or "Floor" in text for text in shown)
    keep_shot(panel.screen.save(tmp_path / "find_room_sv.png"))
    panel.runtime.availability = None
    find_room.refresh()
    panel.screen.frames(2)
    assert find_room.ids.message.text == (
        "Det går inte att se lediga rum just nu (ingen anslutning)"
    )
    keep_shot(panel.screen.save(tmp_path / "find_room_sv_unknown.png"))

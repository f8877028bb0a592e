"""The room panel Kivy app: a thin view over the runtime and the controller.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy` (see
:mod:`panel.launch`). Screens are registered in :data:`SCREENS`; each is one ``.kv`` +
``.py`` pair, the panel's own under ``panel/screens/``, the shared ones under
``tapin/ui/screens/``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock, ClockEvent
from kivy.core.window import Window
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

import assets
from panel.context import PanelContext
from panel.controller import PanelController
from panel.notices import NoticeBoard, WithdrawnNotices
from panel.screens.status import StatusScreen
from panel.status_model import build_status_view
from presence.interface import OccupancySource
from tapin.device import watchdog
from tapin.device.availability import is_offline_copy
from tapin.device.runtime import Runtime
from tapin.i18n import _
from tapin.pending import ActionError

if TYPE_CHECKING:
    from sync.queue import EventSink

__all__ = ["SCREENS", "PanelApp"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
RELEASE_CHECK_SECONDS = 15.0
CARE_SECONDS = 5.0

SCREENS = {
    # name: (module, class); a screen whose module is missing is simply not offered
    "find_room": ("tapin.ui.screens.find_room", "FindRoomScreen"),
    "report": ("tapin.ui.screens.report", "ReportScreen"),
    "admin_pin": ("tapin.ui.screens.admin_pin", "AdminPinScreen"),
    "admin": ("tapin.ui.screens.admin", "AdminScreen"),
}


class PanelApp(App):
    """Shows one room. Reads the runtime's memory; never touches the network or disk."""

    title = "Tapin room panel"
    icon = str(assets.path("icons", "tapin.png"))

    def __init__(
        self,
        runtime: Runtime,
        room_id: str,
        *,
        sink: EventSink | None = None,
        occupancy: OccupancySource | None = None,
        extras: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.room_id = room_id
        self.room = runtime.room(room_id)
        self.controller = PanelController(
            runtime.calendar,
            room_id,
            sink if sink is not None else _NoSink(),
            clock=runtime.clock,
            room=lambda: self.room,
            occupancy=occupancy,
            h24=lambda: runtime.h24,
        )
        self.ctx = PanelContext(
            runtime=runtime,
            actions=self.controller,
            resource=self.controller.resource,
            clock=runtime.clock,
            go=self.go,
            run=self.run_action,
            extras=dict(extras or {}),
            occupancy=self.controller.occupancy,
        )
        self.status_screen: StatusScreen | None = None
        self.manager: ScreenManager | None = None
        self.care: Any = None
        self.notice_board = NoticeBoard()
        """How long each notice stands (see :class:`panel.notices.NoticeBoard`)."""
        self.withdrawals = WithdrawnNotices()
        """Bookings central withdrew (the calendar won) that the panel has told about."""
        self.tasks: set[asyncio.Future[Any]] = set()
        self._events: list[ClockEvent] = []
        self._refresh_trigger = Clock.create_trigger(self.refresh)
        self._unsubscribe = runtime.calendar.subscribe(lambda _room: self._refresh_trigger())
        self.controller.subscribe(self._refresh_trigger)

    def build(self) -> ScreenManager:
        """The status screen, drawn at once; every other screen of :data:`SCREENS` is a
        placeholder whose module and KV load when it is first shown (:meth:`screen`)."""
        manager = ScreenManager(transition=NoTransition())
        self.status_screen = StatusScreen(name="status")
        self.status_screen.full_colour = self.runtime.config.screen.colour == "full"
        self.status_screen.ctx = self.ctx
        manager.add_widget(self.status_screen)
        for name, (module, _cls) in SCREENS.items():
            if importlib.util.find_spec(module) is None:
                log.debug("screen %s not available", name)
                continue
            manager.add_widget(_NotLoaded(name=name))
        self.manager = manager
        Window.clearcolor = (0, 0, 0, 1)
        self.refresh()
        self._events = [
            Clock.schedule_interval(self.refresh, REFRESH_SECONDS),
            Clock.schedule_interval(self._release_check, RELEASE_CHECK_SECONDS),
            Clock.schedule_interval(watchdog.ui_heartbeat(), watchdog.BEAT_SECONDS),
        ]
        Window.bind(on_flip=self._start_screen_care)  # not needed to draw the first frame
        Window.bind(on_flip=self._first_frame)
        return manager

    def use_occupancy(self, source: OccupancySource) -> None:
        """Presence readings from ``source`` (the BLE service) for rules and admin."""
        self.controller.occupancy = source
        self.ctx.occupancy = source

    def _default_hardware(self) -> None:
        """A camera for issue photos: simulated in the demo, V4L2 when a device has one."""
        from pathlib import Path

        from tapin.hardware.camera import SimulatedCamera, V4L2Camera

        if "camera" in self.ctx.extras:
            return
        if self.runtime.demo:
            self.ctx.extras["camera"] = SimulatedCamera()
        elif Path("/dev/video0").exists():
            self.ctx.extras["camera"] = V4L2Camera()

    def screen(self, name: str) -> Screen | None:
        """The screen ``name``, loading its module and KV now when it is first shown
        (Kivy's showcase does the same); ``None`` when this panel has no such screen or
        it cannot be loaded (logged)."""
        manager = self.manager
        if manager is None or not manager.has_screen(name):
            return None
        screen = manager.get_screen(name)
        if not isinstance(screen, _NotLoaded):
            return screen
        module, cls = SCREENS[name]
        try:
            screen_class = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            log.exception("screen %s could not be loaded", name)
            manager.remove_widget(screen)
            return None
        if name == "report":
            self._default_hardware()
        loaded = screen_class(ctx=self.ctx, name=name, **self._screen_options(name))
        manager.remove_widget(screen)
        manager.add_widget(loaded)
        return loaded

    def _screen_options(self, name: str) -> dict[str, Any]:
        if name == "admin_pin":
            from tapin.device.adminpin import PinGuard

            return {"guard": PinGuard.from_config(self.runtime.config, self.runtime.clock)}
        return {}

    # screen care: dim, sleep, wake on touch, pixel shift -------------------------------

    def _start_screen_care(self, *_: Any) -> None:
        """Dimming, sleep and pixel shift, from the first frame on (bound in :meth:`build`)."""
        Window.unbind(on_flip=self._start_screen_care)
        from panel.screencare import ScreenCare
        from tapin.hardware.display import DisplayError, SimulatedDisplay, SysfsBacklight

        display: Any = self.ctx.extras.get("display")
        if display is None:
            if self.runtime.demo:
                display = SimulatedDisplay()
            else:
                try:
                    display = SysfsBacklight()
                except DisplayError as exc:
                    log.warning("screen care without display control: %s", exc)
        self.care = ScreenCare(
            self.runtime.config.screen,
            self.runtime.config.timezone,
            display=display,
            awake_since=self.runtime.clock(),
        )
        Window.bind(on_touch_down=self._wake)
        self._events.append(Clock.schedule_interval(self._care_tick, CARE_SECONDS))

    def _wake(self, _window: Any, _touch: Any) -> bool:
        """A touch on a sleeping screen wakes it and does nothing else."""
        return bool(self.care is not None and self.care.touched(self.runtime.clock()))

    def _care_tick(self, *args: Any) -> None:
        from panel.screencare import busy_soon

        if self.care is None or self.manager is None:
            return
        now = self.runtime.clock()
        self.care.update(now, busy_soon=busy_soon(self.controller.meetings(), now))
        self.manager.pos = self.care.pixel_offset(now)

    # navigation and actions ----------------------------------------------------------

    def go(self, name: str) -> None:
        if self.manager is not None and self.screen(name) is not None:
            self.manager.current = name
        elif self.manager is not None:
            log.warning("no screen %s on this panel", name)

    def run_action(self, action: Awaitable[Any]) -> None:
        """Run an action on the loop; its ActionError becomes a notice on the screen."""

        async def guarded() -> None:
            try:
                await action
            except ActionError as exc:
                self.controller.notify(str(exc), error=True)

        task = asyncio.ensure_future(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _release_check(self, *args: Any) -> None:
        async def check() -> None:
            await self.controller.presence_tick()
            await self.controller.release_no_shows()

        self.run_action(check())

    def actions(self) -> tuple[str, ...]:
        c = self.controller
        if not self.runtime.calendar.loaded(self.room_id):
            return ("find", "report")  # no calendar: no booking, but never a dead end
        current = c.current()
        names: list[str] = []
        if c.release_offer is not None:
            names.append("keep")
        if c.checkin_candidate() is not None:
            names.append("checkin")
        if current is None and c.book_now_choices():
            names.append("book")
        if current is not None and current.checked_in and c.extend_choices():
            names.append("extend")
        if current is not None and not is_offline_copy(current):  # times only: nothing to end
            names.append("end")
        names += ["find", "report"]
        if len(names) > 4:
            names.remove("find")
        return tuple(names)

    def refresh(self, *args: Any) -> None:
        """Recompute the status view from memory; assign only when something changed."""
        if self.status_screen is None:
            return
        now = self.runtime.tick()
        self.room = self.runtime.room(self.room_id)  # the rooms snapshot may have arrived
        zone, h24 = self.runtime.calendar.zone, self.runtime.h24
        for words in self.withdrawals.news(self.runtime.withdrawn, now, zone, h24=h24):
            confirmed = _("Booking confirmed")  # no longer true: the withdrawal replaces it
            self.controller.notices = [n for n in self.controller.notices if n.text != confirmed]
            self.controller.notify(words, error=True)  # stays until someone taps it away
        view = build_status_view(
            self.room,
            self.runtime.calendar,
            self.runtime.directory,
            now,
            h24=self.runtime.h24,
            sync_status=self.runtime.sync_status,
            actions=self.actions(),
            **self._notice(),
        )
        if view != self.status_screen.view:
            self.status_screen.view = view

    def _notice(self) -> dict[str, Any]:
        """What the notice area and the rejection dialog are made from: the controller's
        notices, kept as long as each lasts (the board remembers across refreshes)."""
        c = self.controller
        return {
            "notices": tuple(c.notices),
            "board": self.notice_board,
            "last_touch": self.care.last_touch if self.care is not None else None,
            "offer": c.release_offer is not None,
            "rejected": c.rejected,
            "pending": tuple(c.pending_kinds()),
        }

    def _first_frame(self, *_: Any) -> None:
        """systemd's ``READY=1``: the first frame is on the screen."""
        Window.unbind(on_flip=self._first_frame)
        watchdog.current().ready("panel: showing its room")
        watchdog.stop_on_sigterm(self.stop)  # under systemd: a clean stop on SIGTERM

    def on_stop(self) -> None:
        watchdog.current().stopping()
        self._unsubscribe()
        Window.unbind(on_flip=self._start_screen_care, on_touch_down=self._wake)
        Window.unbind(on_flip=self._first_frame)
        for event in self._events:
            event.cancel()
        self._events = []


class _NotLoaded(Screen):
    """A screen of :data:`SCREENS` not shown yet: named, empty, nothing imported."""


class _NoSink:
    """A panel without a queue (not enrolled): actions are refused with a clear word."""

    async def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        raise ActionError(_("This panel is not connected; the action was not saved"))

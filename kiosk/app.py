"""The lobby kiosk Kivy app: a thin view over the runtime, the controller and the flow.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy` (see
:mod:`kiosk.launch`). Screens are registered in :data:`SCREENS`; each is one ``.kv`` +
``.py`` pair under ``kiosk/screens/`` (the admin PIN is the shared one) and loads when
first shown. The sign-in's steps are screens named as the steps of
:class:`kiosk.flow.SignInFlow`.

The app owns what spans screens: moving between the steps, signing in (then the badge:
rendered and printed off the loop when a printer is configured), signing out, the QR
scanner (running only while the scan or sign-out screen is shown), the language (a
switch rebuilds every screen in the new one), the offline banner, and idleness: a flow
left untouched for the lobby's ``idle_seconds`` asks "Still there?" and then forgets
everything typed and returns to the welcome screen.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock, ClockEvent
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

import assets
import kiosk.screens.widgets  # noqa: F401  (the kiosk's KV classes: banner, texts)
from kiosk.context import KioskContext
from kiosk.controller import KioskController, Visit
from kiosk.flow import SignInFlow
from kiosk.staff import StaffController
from kiosk.validate import first_name
from tapin import i18n
from tapin.device import watchdog
from tapin.device.runtime import Runtime
from tapin.device.snapshots import Invite
from tapin.i18n import _, ngettext
from tapin.pending import ActionError

if TYPE_CHECKING:
    from sync.queue import EventSink

__all__ = ["DEFAULT_IDLE_SECONDS", "PROMPT_SECONDS", "SCREENS", "KioskApp"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
DEFAULT_IDLE_SECONDS = 60
PROMPT_SECONDS = 20.0
"""How long "Still there?" waits for a touch before everything is cleared."""
QUIET_SCREENS = ("welcome",)
"""Screens that are never idle (nothing on them belongs to a visitor)."""
SCANNING_SCREENS = ("scan", "signout", "identify")
STAFF_SCREENS = ("staff_home", "identify", "desk_booking", "room_finder", "people_finder")
"""The staff side (issue 11): idle, they go home and forget who was identified."""

SCREENS: dict[str, tuple[str, str]] = {
    # name: (module, class)
    "welcome": ("kiosk.screens.welcome", "WelcomeScreen"),
    "name": ("kiosk.screens.name", "NameScreen"),
    "type": ("kiosk.screens.visitor_type", "TypeScreen"),
    "company": ("kiosk.screens.field", "FieldScreen"),
    "email": ("kiosk.screens.field", "FieldScreen"),
    "host": ("kiosk.screens.host", "HostScreen"),
    "terms": ("kiosk.screens.terms", "TermsScreen"),
    "photo": ("kiosk.screens.photo", "PhotoScreen"),
    "done": ("kiosk.screens.done", "DoneScreen"),
    "signout": ("kiosk.screens.signout", "SignOutScreen"),
    "scan": ("kiosk.screens.scan", "ScanScreen"),
    "admin_pin": ("tapin.ui.screens.admin_pin", "AdminPinScreen"),
    "evacuation": ("kiosk.screens.evacuation", "EvacuationScreen"),
    "staff_home": ("kiosk.screens.staff_home", "StaffHomeScreen"),
    "identify": ("kiosk.screens.identify", "IdentifyScreen"),
    "desk_booking": ("kiosk.screens.desk_booking", "DeskBookingScreen"),
    "room_finder": ("kiosk.screens.room_finder", "RoomFinderScreen"),
    "people_finder": ("kiosk.screens.people_finder", "PeopleFinderScreen"),
}
ALIASES = {"admin": "evacuation", "status": "welcome"}
"""The admin PIN opens "admin": on a kiosk that is reception's evacuation list."""


class KioskApp(App):
    """One lobby. Reads the runtime's memory; never touches the network or disk."""

    title = "Tapin lobby kiosk"
    icon = str(assets.path("icons", "tapin.png"))

    def __init__(
        self,
        runtime: Runtime,
        lobby_id: str,
        *,
        sink: EventSink | None = None,
        extras: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``extras``: ``camera`` (photos and QR codes), ``printer`` (badges); absent:
        no photo step, no scanning, no badge."""
        super().__init__(**kwargs)
        self.runtime = runtime
        self.lobby_id = lobby_id
        self.controller = KioskController(
            runtime, lobby_id, sink if sink is not None else _NoSink()
        )
        self.staff = StaffController(runtime, sink if sink is not None else _NoSink())
        """The staff side's actions (desks, rooms, colleagues), on the same queue."""
        visitor_results = self.controller.on_results

        def results(settled: Any) -> None:  # central's outcomes reach both sides
            visitor_results(settled)
            self.staff.on_results(settled)

        self.controller.on_results = results  # type: ignore[method-assign,assignment]
        self.extras = dict(extras or {})
        self.flow: SignInFlow = self.controller.new_flow(camera=lambda: "camera" in self.extras)
        self.ctx = KioskContext(
            runtime=runtime,
            actions=self.controller,
            resource=self.controller.resource,
            clock=runtime.clock,
            go=self.go,
            run=self.run_action,
            extras=self.extras,
            home="welcome",
            flow=self.flow,
            app=self,
        )
        self.manager: ScreenManager | None = None
        self.banner: Any = None
        self.dialog: Any = None
        """The dialog open now (staff, sign-out confirmation), closed on the way home."""
        self.prompt: Any = None
        """"Still there?" while it is shown."""
        self.visit: Visit | None = None
        """The visitor signed in last (the done screen says whether their host was told)."""
        self.scanner: Any = None
        self.idle_clock: Callable[[], float] = time.monotonic
        self.last_touch = self.idle_clock()
        self.tasks: set[asyncio.Future[Any]] = set()
        self._events: list[ClockEvent] = []
        self._prompt_since = 0.0
        self._refresh_trigger = Clock.create_trigger(self.refresh)
        self.controller.subscribe(self._refresh_trigger)
        self.staff.subscribe(self._refresh_trigger)

    # building -------------------------------------------------------------------------

    def build(self) -> BoxLayout:
        root = BoxLayout(orientation="vertical")
        self.banner = Factory.OfflineBanner()
        root.add_widget(self.banner)
        manager = ScreenManager(transition=NoTransition())
        manager.bind(current=self._screen_changed)
        self.manager = manager
        root.add_widget(manager)
        self._placeholders()
        self.go("welcome")
        Window.clearcolor = (0, 0, 0, 1)
        Window.bind(on_touch_down=self._touched, on_key_down=self._touched)
        self.refresh()
        self._events = [
            Clock.schedule_interval(self._tick, REFRESH_SECONDS),
            Clock.schedule_interval(watchdog.ui_heartbeat(), watchdog.BEAT_SECONDS),
        ]
        Window.bind(on_flip=self._first_frame)
        return root

    def _first_frame(self, *_: Any) -> None:
        """systemd's ``READY=1``: the first frame is on the screen."""
        Window.unbind(on_flip=self._first_frame)
        watchdog.current().ready("kiosk: showing its lobby")
        watchdog.stop_on_sigterm(self.stop)  # under systemd: a clean stop on SIGTERM

    def _placeholders(self) -> None:
        assert self.manager is not None
        for name in SCREENS:
            if not self.manager.has_screen(name):
                self.manager.add_widget(_NotLoaded(name=name))

    def screen(self, name: str) -> Screen | None:
        """The screen ``name``, loaded now when first shown; ``None`` when there is none
        or it cannot be loaded (logged)."""
        name = ALIASES.get(name, name)
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
            return None
        options: dict[str, Any] = {}
        if name == "admin_pin":
            from tapin.device.adminpin import PinGuard

            options["guard"] = PinGuard.from_config(self.runtime.config, self.runtime.clock)
            options["heading"] = _("Reception")  # the evacuation list is behind it
            options["subheading"] = _("The evacuation list: for reception and fire wardens")
        loaded = screen_class(ctx=self.ctx, name=name, **options)
        manager.remove_widget(screen)
        manager.add_widget(loaded)
        return loaded

    def loaded(self) -> list[Screen]:
        if self.manager is None:
            return []
        return [s for s in self.manager.screens if not isinstance(s, _NotLoaded)]

    # navigation ------------------------------------------------------------------------

    def go(self, name: str) -> None:
        target = ALIASES.get(name, name)
        if self.manager is not None and self.screen(target) is not None:
            if self.manager.current == target:
                self.manager.get_screen(target).dispatch("on_pre_enter")
            self.manager.current = target
        else:
            log.warning("no screen %s on this kiosk", name)

    def home(self) -> None:
        """Forget everything of the visitor and show the welcome screen."""
        self.clear()
        self.go("welcome")

    def clear(self) -> None:
        """Every field, answer, photo, signature and dialog forgotten."""
        self.close_dialogs()
        self.flow.clear()
        self.staff.forget()
        for screen in self.loaded():
            reset = getattr(screen, "reset", None)
            if reset is not None:
                reset()

    def close_dialogs(self) -> None:
        for dialog in (self.dialog, self.prompt):
            if dialog is not None:
                dialog.dismiss(animation=False)
        self.dialog = self.prompt = None

    def current(self) -> str:
        return self.manager.current if self.manager is not None else ""

    # the staff side ----------------------------------------------------------------------

    def open_staff(self) -> None:
        """The welcome screen's "Staff": the staff home, nobody identified yet."""
        self.clear()
        self.go("staff_home")

    def identify_then(self, target: str) -> None:
        """Ask who this is (badge, phone QR, name), then show ``target``."""
        screen: Any = self.screen("identify")
        if screen is not None:
            screen.then = target
        self.go("identify")

    # the sign-in -----------------------------------------------------------------------

    def start_signin(self) -> None:
        self.clear()
        self.go(self.flow.step)

    def next_step(self) -> None:
        step = self.flow.next()
        if step == "done":
            self.finish()
        else:
            self.go(step)

    def back_step(self) -> None:
        step = self.flow.back()
        if step is None:
            self.home()
        else:
            self.go(step)

    def use_invite(self, invite: Invite) -> None:
        """The visitor is ``invite``'s guest: on to what is left (usually the terms)."""
        step = self.flow.use_invite(invite)
        if step == "done":
            self.finish()
        else:
            self.go(step)

    def finish(self) -> None:
        """Sign the visitor in (queued, sealed); the done screen, then the badge."""
        draft = self.flow.draft
        self.go("done")
        done: Any = self.screen("done")
        done.signing()
        self.run_action(self._sign_in(draft, done))
        for screen in self.loaded():  # nothing typed lingers in the steps' fields
            if screen.name != "done" and hasattr(screen, "reset"):
                screen.reset()
        self.flow.clear()

    async def _sign_in(self, draft: Any, done: Any) -> None:
        try:
            visit = await self.controller.sign_in(draft)
        except ActionError as exc:
            done.refused(str(exc))
            return
        self.visit = visit
        done.signed_in(visit.name)
        self._update_done()
        printer = self.extras.get("printer")
        if printer is None:
            await done.badge(None, "")
            return
        png, note = await self._print_badge(visit, printer)
        await done.badge(png, note)

    async def _print_badge(self, visit: Visit, printer: Any) -> tuple[bytes | None, str]:
        from kiosk.badge import Badge, render_badge
        from kiosk.screens.visitor_type import language
        from tapin.calendar import site_day

        kind = self.runtime.kiosk.visitor_type(visit.visitor_type) if self.runtime.kiosk else None
        host = self.runtime.directory.get(visit.host_id) if visit.host_id else None
        settings = self.runtime.kiosk
        badge = Badge(
            visitor_id=visit.visitor_id,
            badge_token=visit.badge_token,
            name=visit.name,
            day=site_day(visit.signed_in_at, self.runtime.site.timezone),
            company=visit.company,
            host_name=host.name if host is not None else None,
            visitor_type=kind.name(language()) if kind is not None else "",
            site_name=settings.site_name if settings is not None else self.runtime.site.name,
        )
        try:
            png = await asyncio.to_thread(render_badge, badge)
            await asyncio.to_thread(printer.print_png, png)
        except Exception as exc:  # a printer's trouble never undoes the sign-in
            log.warning("the badge could not be printed: %s", type(exc).__name__)
            return None, _("Your badge could not be printed. Reception will give you one.")
        return png, _("Please take your badge from the printer and wear it where it can be seen.")

    def host_first_name(self, host_id: str | None) -> str | None:
        if host_id is None:
            return None
        person = self.runtime.directory.get(host_id)
        return first_name(person.name) if person is not None else _("your host")

    def _update_done(self) -> None:
        visit = self.visit
        if visit is None or self.current() != "done":
            return
        done: Any = self.screen("done")
        done.update(self.controller.notified(visit.visitor_id), self.host_first_name(visit.host_id))

    # sign-out and QR codes ---------------------------------------------------------------

    def sign_out(
        self, visitor_id: str, *, via: str = "list", badge_token: str | None = None
    ) -> None:
        row = self.controller.find(visitor_id)
        name = row.name if row is not None else ""
        self.dialog = None
        self.go("signout")
        screen: Any = self.screen("signout")

        async def out() -> None:
            try:
                await self.controller.sign_out(visitor_id, via=via, badge_token=badge_token)
            except ActionError as exc:
                screen.problem(str(exc))
                return
            screen.goodbye(name)

        self.run_action(out())

    def scanned(self, texts: list[str]) -> None:
        """Codes the camera read (never logged): an invitation or a badge."""
        from tapin.hardware.qr import parse_badge, parse_invite

        if self.current() == "identify":
            identify: Any = self.screen("identify")
            for text in texts:
                if identify.scanned(text):
                    return
            identify.say(
                _("That is not a staff code. Show the QR code from your phone."), error=True
            )
            return
        for text in texts:
            badge, invite = parse_badge(text), parse_invite(text)
            if badge is not None:
                self._badge(badge.visitor_id, badge.badge_token)
                return
            if invite is not None:
                self.clear()
                if self.flow.scan_invite(text) is None:
                    self._say(_("This invitation is not for today. Please sign in by name."))
                    return
                self.go(self.flow.step)
                return
        self._say(_("That is not a Tapin code. Please try your invitation or your badge."))

    def _badge(self, visitor_id: str, token: str) -> None:
        known = self.controller.badge_matches(visitor_id, token)
        if known is False or self.controller.find(visitor_id) is None:
            self._say(_("This badge is not signed in. Please sign out by name or ask reception."))
            return
        self.sign_out(visitor_id, via="badge", badge_token=token)

    def _say(self, text: str) -> None:
        screen: Any = self.screen(self.current())
        if self.current() == "scan":
            screen.say(text, error=True)
        elif self.current() == "signout":
            screen.problem(text)

    def _screen_changed(self, _manager: Any, name: str) -> None:
        self.touched()
        camera: Any = self.extras.get("camera")
        if name in SCANNING_SCREENS and camera is not None:
            if self.scanner is None:
                from tapin.hardware.qr import QrScanner

                self.scanner = QrScanner(camera, self.scanned, on_state=self._scan_state)
            if hasattr(camera, "scanning"):
                camera.scanning = True
            try:
                self.scanner.start()
            except RuntimeError:  # no running loop (a test driving frames by hand)
                log.debug("QR scanner not started: no running loop")
        elif self.scanner is not None:
            self.scanner.stop()
            if hasattr(camera, "scanning"):
                camera.scanning = False

    def _scan_state(self, state: Any) -> None:
        from tapin.hardware.qr import ScanState

        scan: Any = self.manager.get_screen("scan") if self.manager else None
        if scan is not None and not isinstance(scan, _NotLoaded):
            scan.camera_ok = state != ScanState.CAMERA_FAILED

    # language ----------------------------------------------------------------------------

    def set_language(self, locale: str) -> None:
        """The whole kiosk in ``locale`` now: every screen is made again in it."""
        i18n.use(locale)
        current = self.current() or "welcome"
        self.close_dialogs()
        assert self.manager is not None
        for screen in self.loaded():
            self.manager.remove_widget(screen)
        self._placeholders()
        self.go(current)
        self.refresh()

    # idleness ------------------------------------------------------------------------------

    def _touched(self, *_args: Any) -> bool:
        self.touched()
        return False

    def touched(self) -> None:
        self.last_touch = self.idle_clock()

    def idle_seconds(self) -> float:
        settings = self.runtime.kiosk
        return float(settings.idle_seconds if settings is not None else DEFAULT_IDLE_SECONDS)

    def check_idle(self) -> None:
        """Ask "Still there?" when a visitor's screen was left untouched too long."""
        if self.prompt is not None:
            if self.idle_clock() - self._prompt_since >= PROMPT_SECONDS:
                self.home()  # nobody answered: everything typed is forgotten
            return
        if self.current() in QUIET_SCREENS:
            return
        if self.idle_clock() - self.last_touch < self.idle_seconds():
            return
        if self.current() in ("done", "signout", "scan", "evacuation", "admin_pin", *STAFF_SCREENS):
            self.home()  # nothing half-typed here: just go home
            return
        self.ask_still_there()

    def ask_still_there(self) -> None:
        from tapin.ui.screens.dialogs import Choice, ChoiceDialog

        shown = self.screen(self.current())
        unit = getattr(shown, "unit", 1.0)
        for field in getattr(shown, "fields", list)():
            field.focus = False  # the keyboard goes: the question is in full view
        self.close_dialogs()
        prompt = ChoiceDialog(
            _("Still there?"),
            [Choice(_("Yes, I'm still here"), True, role="primary")],
            lambda _v: self._still_here(),
            detail=_("If not, we will clear what you typed in a few seconds."),
            unit=unit,
            on_cancel=self.home,
        )
        prompt.cancel_text = _("Start over")
        prompt.bind(on_dismiss=lambda *_: self._still_here())  # a touch beside it, too
        self.prompt = prompt
        self._prompt_since = self.idle_clock()
        prompt.open(animation=False)

    def _still_here(self) -> None:
        self.prompt = None
        self.touched()

    # refresh --------------------------------------------------------------------------------

    def _tick(self, *_args: Any) -> None:
        self.refresh()
        self.check_idle()

    def refresh(self, *_args: Any) -> None:
        """The banner and the screen shown, from memory."""
        self.runtime.tick()
        if self.banner is not None:
            offline = self.controller.offline()
            waiting = self.controller.waiting()
            self.banner.text = (
                " ".join(
                    (
                        _("Offline: hosts will be told as soon as we are back online."),
                        ngettext(
                            "{n} sign-in or sign-out waiting.",
                            "{n} sign-ins and sign-outs waiting.",
                            waiting,
                        ).format(n=waiting)
                        if waiting
                        else "",
                    )
                ).strip()
                if offline
                else ""
            )
            if getattr(self.runtime.sync_status, "trouble", None) == "revoked":
                # sync.agent.trouble_code: nothing queued here would ever be sent
                self.banner.text = _("This kiosk was revoked on the server: nothing done here is sent. Please see reception.")  # noqa: E501  # fmt: skip
        name = self.current()
        if name == "done":
            self._update_done()
        elif name in ("signout", "evacuation", "welcome", *STAFF_SCREENS):
            screen: Any = self.screen(name)
            screen.refresh()

    # actions --------------------------------------------------------------------------------

    def run_action(self, action: Awaitable[Any]) -> None:
        """Run a coroutine on the loop; an ActionError is logged (the screens say it)."""

        async def guarded() -> None:
            try:
                await action
            except ActionError as exc:
                log.warning("a kiosk action failed: %s", type(exc).__name__)

        task = asyncio.ensure_future(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_stop(self) -> None:
        watchdog.current().stopping()
        Window.unbind(on_touch_down=self._touched, on_key_down=self._touched)
        Window.unbind(on_flip=self._first_frame)
        if self.scanner is not None:
            self.scanner.stop()
        for event in self._events:
            event.cancel()
        self._events = []
        self.close_dialogs()


class _NotLoaded(Screen):
    """A screen of :data:`SCREENS` not shown yet: named, empty, nothing imported."""


class _NoSink:
    """A kiosk without a queue (not enrolled): sign-ins are refused with a clear word."""

    async def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        raise ActionError(_("This kiosk is not connected; please ask reception"))

"""``tapin panel --demo --tour DIR``: render every screen and state to ``DIR/NN-name.png``.

For people (a design review, a manual) and for tests. The tour drives the real app on
the demo site with a clock it moves by hand, through the same calls a touch would make,
and writes one PNG per step. Works offscreen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tapin.demo.clock import ManualClock
from tapin.device.runtime import Runtime
from tapin.domain import Meeting

__all__ = ["STEPS", "run_tour"]

log = logging.getLogger(__name__)


TourClock = ManualClock[datetime]


@dataclass
class Step:
    name: str
    setup: Callable[[Any, TourClock, datetime], Any]
    """Prepare the state; may return an awaitable to finish first."""


def _meetings(app: Any, *spans: tuple[str, datetime, int, dict[str, Any]]) -> None:
    app.runtime.calendar.clear()  # and what earlier steps changed here
    app.runtime.calendar.replace_room(
        app.room_id,
        [
            Meeting(
                id=mid,
                room_id=app.room_id,
                start=start,
                end=start + timedelta(minutes=minutes),
                organiser_id="p-anna",
                subject=extra.pop("subject", "Design review"),
                **extra,
            )
            for mid, start, minutes, extra in spans
        ],
    )


def _free(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base
    _meetings(
        app,
        ("m1", base + timedelta(minutes=70), 60, {}),
        ("m2", base + timedelta(minutes=180), 30, {"private": True}),
    )


def _soon(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=62)


def _awaiting(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=73)


async def _busy(app: Any, clock: TourClock, base: datetime) -> None:
    await app.controller.check_in()
    _answer(app, "applied")  # central confirms: the plain busy look


def _answer(app: Any, outcome: str, **extra: Any) -> None:
    """Central's answer to everything waiting, as the sync agent would hand it over."""
    pending = app.controller.pending_ids()
    app.controller.on_results([{"id": i, "outcome": outcome, **extra} for i in pending])


def _private(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=185)
    _meetings(app, ("m2", base + timedelta(minutes=180), 30, {"private": True, "checked_in": True}))


def _book_dialog(app: Any, clock: TourClock, base: datetime) -> None:
    _free(app, clock, base)
    app.refresh()
    app.status_screen.act("book")


def _pending(app: Any, clock: TourClock, base: datetime) -> Any:
    _close_dialog(app)
    return app.controller.book_now(30)


def _rejected(app: Any, clock: TourClock, base: datetime) -> None:
    _answer(
        app,
        "rejected",
        reason="the room is booked in the calendar from 09:30 to 10:00",
        code="conflict",
        detail={
            "with": "calendar",
            "start": (base + timedelta(minutes=10)).isoformat(),
            "end": (base + timedelta(minutes=40)).isoformat(),
        },
    )


def _rejected_checkin(app: Any, clock: TourClock, base: datetime) -> Any:
    _close_dialog(app)
    clock.now = base + timedelta(minutes=73)
    _meetings(app, ("c1", base + timedelta(minutes=70), 60, {}))

    async def refused() -> None:
        await app.controller.check_in()
        _answer(
            app,
            "rejected",
            code="state",
            detail={"why": "released", "at": (base + timedelta(minutes=71)).isoformat()},
        )

    return refused()


def _extend_dialog(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=75)
    _meetings(app, ("m1", base + timedelta(minutes=70), 60, {"checked_in": True}))
    app.refresh()
    app.status_screen.act("extend")


def _end_dialog(app: Any, clock: TourClock, base: datetime) -> None:
    _close_dialog(app)
    app.status_screen.act("end")


def _keep_offer(app: Any, clock: TourClock, base: datetime) -> Any:
    from presence.interface import Occupancy, OccupancyReading

    _close_dialog(app)
    clock.now = base + timedelta(minutes=100)
    _meetings(app, ("m1", base + timedelta(minutes=70), 60, {"checked_in": True}))
    app.controller.occupancy.set(
        app.room_id,
        OccupancyReading(Occupancy.VACANT, "0", 0.9, since=clock.now - timedelta(minutes=12)),
    )
    return app.controller.presence_tick()


def _notices_stacked(app: Any, clock: TourClock, base: datetime) -> None:
    from tapin.i18n import _

    _offline(app, clock, base)
    app.controller.notify(_("Could not save this action here; please try again"), error=True)


def _revoked(app: Any, clock: TourClock, base: datetime) -> None:
    """Revoked at central: said where "Offline" shows, and a Book now just refused."""
    from tapin.device.devicesync import revoked_words

    app.controller.acknowledge()
    app.runtime.sync_status = SimpleNamespace(
        reachable=False, pending=0, inflight=0, last_contact=None, problem=None, trouble="revoked"
    )
    app.controller.notify(revoked_words("panel"), error=True)


def _full_colour(app: Any, clock: TourClock, base: datetime) -> Any:
    from presence.interface import OccupancyReading

    app.controller.acknowledge()
    app.runtime.sync_status = None
    _meetings(app, ("m1", base + timedelta(minutes=70), 60, {"checked_in": True}))
    app.controller.occupancy.set(app.room_id, OccupancyReading())  # people came back
    app.status_screen.full_colour = True
    return app.controller.presence_tick()


def _full_colour_soon(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=63)


def _all_day(app: Any, clock: TourClock, base: datetime) -> None:
    app.status_screen.full_colour = False
    clock.now = base
    local = base.astimezone(app.runtime.calendar.zone)
    midnight = local.replace(hour=0, minute=0).astimezone(UTC)
    _meetings(
        app,
        ("d", midnight, 24 * 60, {"subject": "Offsite: board", "checked_in": True}),
    )


def _agenda_full(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(minutes=40)
    _meetings(
        app,
        *[
            (f"a{n}", base + timedelta(minutes=30 + 60 * n), 45, {"subject": f"Sprint {n + 1}"})
            for n in range(7)
        ],
    )


def _evening(app: Any, clock: TourClock, base: datetime) -> None:
    clock.now = base + timedelta(hours=11, minutes=10)  # 20:30
    _meetings(
        app,
        ("e1", base + timedelta(minutes=70), 60, {}),
        ("e2", base + timedelta(hours=11, minutes=40), 60, {"subject": "Call with Tokyo"}),
    )


def _offline(app: Any, clock: TourClock, base: datetime) -> None:
    _close_dialog(app)
    app.runtime.sync_status = SimpleNamespace(
        reachable=False,
        pending=3,
        inflight=0,
        last_contact=(base - timedelta(minutes=12)).isoformat(),
        problem=None,
    )


def _no_calendar(app: Any, clock: TourClock, base: datetime) -> None:
    app.controller.acknowledge()
    app.runtime.calendar.clear()


def _screen(name: str) -> Callable[[Any, TourClock, datetime], None]:
    def go(app: Any, clock: TourClock, base: datetime) -> None:
        app.runtime.sync_status = None
        _free(app, clock, base)
        app.go(name)

    return go


def _report_typing(app: Any, clock: TourClock, base: datetime) -> None:
    """The report screen with its on-screen keyboard open (the field stays in view)."""
    from tapin.ui.keyboard import show_keyboard

    _screen("report")(app, clock, base)
    show_keyboard(app.manager.get_screen("report").ids.description)


def _who_typing(app: Any, clock: TourClock, base: datetime) -> None:
    """ "Who is booking?" being typed into, keyboard open, matches listed."""
    from tapin.ui.screens.who import WhoDialog

    _free(app, clock, base)
    status = app.status_screen
    status.who = WhoDialog(app.runtime.directory, lambda _person: None, unit=status.unit)
    status.who.open(animation=False)  # the field takes focus: the keyboard docks
    status.who.ids.query.text = "b"


def _close_dialog(app: Any) -> None:
    """Close whatever dialog is open (a refusal is acknowledged, as its OK would)."""
    screen = app.status_screen
    if screen is None:
        return
    app.controller.acknowledge()
    for dialog in (screen.dialog, screen.rejection_dialog):
        if dialog is not None:
            dialog.dismiss(animation=False)
    screen.rejection_dialog = None


STEPS = [
    Step("free", _free),
    Step("starting-soon", _soon),
    Step("awaiting-checkin", _awaiting),
    Step("busy-checked-in", _busy),
    Step("private-meeting", _private),
    Step("book-now", _book_dialog),
    Step("book-pending", _pending),
    Step("book-rejected", _rejected),
    Step("checkin-rejected", _rejected_checkin),
    Step("extend", _extend_dialog),
    Step("end-now", _end_dialog),
    Step("keep-offer", _keep_offer),
    Step("offline", _offline),
    Step("notices-stacked", _notices_stacked),
    Step("revoked", _revoked),
    Step("full-colour", _full_colour),
    Step("full-colour-soon", _full_colour_soon),
    Step("all-day", _all_day),
    Step("agenda-full", _agenda_full),
    Step("evening", _evening),
    Step("no-calendar", _no_calendar),
    Step("find-room", _screen("find_room")),
    Step("report", _screen("report")),
    Step("report-typing", _report_typing),
    Step("who-typing", _who_typing),
    Step("admin-pin", _screen("admin_pin")),
    Step("admin", _screen("admin")),
]


def run_tour(runtime: Runtime, room_id: str, out: Path, *, size: tuple[int, int]) -> int:
    """Render every step; returns the exit code (0, or 1 if a step failed or showed a
    button whose label is not whole)."""
    from tapin.ui.kivyenv import has_display, prepare_kivy

    prepare_kivy(runtime.config.state_dir / "kivy", size, offscreen=not has_display())

    from panel.app import PanelApp
    from sync.queue import AsyncSealedQueue
    from tapin.demo.central import demo_key
    from tapin.ui.screenshot import run_walk, tour_report, tour_shot

    local = datetime.now(runtime.site.timezone).replace(hour=9, minute=20, second=0, microsecond=0)
    base = local.astimezone(UTC)
    clock = ManualClock(base)
    runtime.clock = clock
    runtime.calendar.clear()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []

    async def main() -> None:
        key = demo_key(runtime.config.state_dir)
        queue = AsyncSealedQueue(runtime.config.state_dir / "tour-queue.db", key.public_key())
        await queue.open()
        app = PanelApp(runtime, room_id, sink=queue)
        runtime.on_new_day = None  # the tour sets each day's meetings itself

        async def walk() -> None:
            await asyncio.sleep(0.3)
            for number, step in enumerate(STEPS, start=1):
                if step.name in ("find-room", "report", "admin-pin", "admin") and (
                    app.manager is None or not app.manager.has_screen(step.name.replace("-", "_"))
                ):
                    log.warning("tour: screen %s is not available", step.name)
                    continue
                try:
                    outcome = step.setup(app, clock, base)
                    if outcome is not None:
                        await outcome
                except Exception:
                    log.exception("tour step %s failed", step.name)
                    failed.append(step.name)
                    continue
                app.refresh()
                await asyncio.sleep(0.25)  # frames: layout, then the drawing triggers
                path = out / f"{number:02d}-{step.name}.png"
                written.append(tour_shot(path, step.name, failed))
                status = app.status_screen
                if status is not None and status.who is not None:  # closed for the next step
                    status.who.dismiss(animation=False)
                    status.who = None
                if app.manager is not None:
                    app.manager.current = "status"
            app.stop()

        await run_walk(app, walk, queue)

    asyncio.run(main())
    return tour_report(written, failed)

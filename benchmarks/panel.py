"""Panel start-up and memory against the physical floor: ``python -m benchmarks.panel``.

1. First frame, against bare Kivy. Two kinds of fresh process, started alternately
   (``RUNS`` of each after one unmeasured warm-up of each), both offscreen at 800x480
   through the same :func:`tapin.ui.kivyenv.prepare_kivy`:

   * **bare**: a Kivy ``App`` whose root is one ``Label``: the floor no Kivy app
     goes below on this machine;
   * **panel**: ``tapin panel --demo`` as a person starts it (:func:`tapin.cli.main`
     → :func:`panel.launch.run_panel` with the demo runtime and its
     :class:`tapin.device.services.DeviceServices`).

   Each is timed from the parent spawning it to the first frame drawn (the window's
   ``on_flip``), so interpreter start, imports, building and the first draw all count.
   Python's bytecode is cached for both (in the run's temporary directory, written by
   the warm-up), as it is on an installed device.
   Resident memory is read in the child at the first frame and again when it has
   settled (:data:`SETTLE_SECONDS` after the first frame, and for the panel only once
   its device services are open). Medians. Targets: panel first frame <= 2 s and
   <= 1.3 x bare; settled panel RSS <= bare + 25 MB.
2. Memory over a simulated day: one process runs the demo panel for two simulated
   days of 1,440 minutes (a refresh per minute, each drawn, a new calendar snapshot
   every 15 minutes, a book-now and its confirmation every hour) and reads resident
   memory every simulated hour. The first day warms up: every state of the day is drawn
   for the first time (the software renderer here compiles a shader variant per new
   drawing state, the allocator reaches its high-water mark); a leak shows as growth
   from one day to the next, so the target is on the second day, from its start to its
   end: growth <= 5 MB. The first day's growth is printed too.

``--quick`` runs 2 measured pairs and a 6-hour day. The last line is ``panel: first
frame X.XX s vs bare Y.YY s (R.RR×, target <= 1.3); RSS +N MB over bare (target <=
+25); memory growth M.M MB over a simulated day (target <= 5)``.

A child imports what it measures and, from this module, only the standard library's
``os``, ``sys``, ``time``, ``pathlib`` and ``typing`` (the same for both).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

RUNS = 5
QUICK_RUNS = 2
MINUTES = 24 * 60
QUICK_MINUTES = 6 * 60
SIZE = (800, 480)
SETTLE_SECONDS = 1.5
"""How long after the first frame (and the panel's services) resident memory is read."""
SERVICES_WAIT_SECONDS = 10.0
FRAME_WAIT = 1.0
"""Seconds the simulated day waits for each minute's frame (none comes when nothing
changed on screen)."""
CHILD_TIMEOUT = 120.0
DAY_TIMEOUT = 900.0

RATIO_TARGET = 1.3
RSS_TARGET_MB = 25.0
FIRST_FRAME_TARGET = 2.0
GROWTH_TARGET_MB = 5.0


def rss_mb() -> float:
    """This process's resident memory in MB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# children --------------------------------------------------------------------------


def _on_window(callback: Any) -> None:
    """Call ``callback(Window)`` as soon as ``kivy.core.window`` has been imported, by
    whoever imports it first (the measured code imports Kivy itself, after
    ``prepare_kivy``)."""
    import importlib.abc
    import importlib.util

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "kivy.core.window":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.loader is not None
            loader: Any = spec.loader
            execute = loader.exec_module

            def exec_module(module: Any) -> None:
                execute(module)
                callback(module.Window)

            loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Finder())


def _watch_first_frame(state: Path, *, wait_for_services: bool) -> None:
    """Print ``first-frame <time> <rss>`` at the first flip and ``settled <rss>`` once
    settled, then stop the running app."""

    def with_window(window: Any) -> None:
        from kivy.app import App
        from kivy.clock import Clock

        deadline = time.monotonic() + SERVICES_WAIT_SECONDS

        def settled(_dt: float) -> None:
            app: Any = App.get_running_app()
            ready = getattr(app, "services", True) is not None  # None: still opening
            if wait_for_services and not ready and time.monotonic() < deadline:
                Clock.schedule_once(settled, 0.05)
                return
            print(f"settled {rss_mb():.2f} services={'open' if ready else 'NOT OPEN'}", flush=True)
            app.stop()

        def first_frame(*_: Any) -> None:
            window.unbind(on_flip=first_frame)
            now, cpu = time.time(), time.process_time()
            print(f"first-frame {now:.6f} {rss_mb():.2f} {cpu:.3f}", flush=True)
            Clock.schedule_once(settled, SETTLE_SECONDS)

        window.bind(on_flip=first_frame)

    _on_window(with_window)


def child_bare(state: Path) -> None:
    """The floor: one Label, same window, same Kivy preparation."""
    _watch_first_frame(state, wait_for_services=False)
    from tapin.ui.kivyenv import prepare_kivy

    prepare_kivy(state / "kivy", SIZE, offscreen=True)
    from kivy.app import App
    from kivy.uix.label import Label

    class Bare(App):
        def build(self) -> Label:
            return Label(text="Aurora")

    Bare().run()


def child_panel(state: Path) -> None:
    """``tapin panel --demo`` (its demo state under ``state``)."""
    _watch_first_frame(state, wait_for_services=True)
    os.environ["XDG_STATE_HOME"] = str(state / "xdg")
    from tapin.cli import main as tapin_main

    code = tapin_main(["--log-level", "WARNING", "panel", "--demo", "--size", "800x480"])
    if code:
        sys.exit(code)


def child_day(state: Path, minutes: int) -> None:
    """A simulated day of refreshes in one process, each drawn (waiting at most
    :data:`FRAME_WAIT` for the frame); prints ``memory <rss at each simulated hour>
    <rss at the end>``."""
    import asyncio
    import contextlib
    from datetime import UTC, datetime, timedelta

    from tapin.ui.kivyenv import prepare_kivy

    prepare_kivy(state / "kivy", SIZE, offscreen=True)
    from kivy.clock import Clock
    from kivy.core.window import Window

    from panel.app import PanelApp
    from sync.queue import AsyncSealedQueue
    from tapin.demo.central import DemoCentral, demo_key
    from tapin.demo.clock import ManualClock
    from tapin.demo.runtime import demo_config, demo_runtime
    from tapin.demo.site import demo_meetings

    clock = ManualClock(datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0))
    runtime = demo_runtime(demo_config(state / "s"), clock=clock)

    async def main() -> None:
        key = demo_key(state)
        queue = AsyncSealedQueue(state / "q.db", key.public_key())
        await queue.open()
        app = PanelApp(runtime, "aurora", sink=queue)
        central = DemoCentral(queue, key, runtime.calendar, app.controller.on_results)
        hourly: list[float] = []
        drawn = asyncio.Event()
        Window.bind(on_flip=lambda *_: drawn.set())

        async def day() -> None:
            try:
                await simulate()
            finally:
                app.stop()

        async def simulate() -> None:
            await asyncio.sleep(0.2)
            for minute in range(minutes):
                clock.now += timedelta(minutes=1)
                if minute % 15 == 0:
                    meetings = demo_meetings(runtime.site, clock.now.date(), now=clock.now)
                    runtime.calendar.replace_room(
                        "aurora", [m for m in meetings if m.room_id == "aurora"]
                    )
                if minute % 60 == 30 and app.controller.book_now_choices():
                    await app.controller.book_now(app.controller.book_now_choices()[0])
                    await central.drain_once()
                app.refresh()
                drawn.clear()  # each minute is drawn, as on the device
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(drawn.wait(), FRAME_WAIT)
                if minute % 60 == 0:
                    hourly.append(rss_mb())
            hourly.append(rss_mb())
            print("memory " + " ".join(f"{x:.2f}" for x in hourly), flush=True)

        Clock.schedule_once(lambda _dt: asyncio.ensure_future(day()), 0)
        try:
            await app.async_run(async_lib="asyncio")
        finally:
            await queue.close()

    asyncio.run(main())


# parent ----------------------------------------------------------------------------


def spawn(mode: str, state: Path, *extra: str) -> tuple[float, list[str]]:
    """Run one child; returns the wall time it was spawned at and its output lines.
    Exits the benchmark with the child's error output when it fails."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    # bytecode cached as on an installed device (the warm-up writes it), outside the tree
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(state / "pycache")
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.panel", "--child", mode, str(state), *extra],
        capture_output=True,
        text=True,
        timeout=DAY_TIMEOUT if mode == "day" else CHILD_TIMEOUT,
        env=env,
    )
    wanted = {"bare": "settled ", "panel": "settled ", "day": "memory "}[mode]
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not any(x.startswith(wanted) for x in lines):
        sys.exit(f"benchmark child {mode} failed:\n{result.stderr[-3000:]}")
    return started, lines


class Run(NamedTuple):
    """One child's figures."""

    seconds: float
    """From spawn to the first frame."""
    cpu: float
    """CPU seconds the child had used by then (less sensitive to a busy machine)."""
    rss_first: float
    rss_settled: float


def first_frame_run(mode: str, state: Path) -> Run:
    started, lines = spawn(mode, state)
    first = next((x.split() for x in lines if x.startswith("first-frame ")), None)
    settled = next((x.split() for x in lines if x.startswith("settled ")), None)
    if first is None or settled is None:
        sys.exit(f"benchmark child {mode} printed no frame: {lines!r}")
    if settled[2] != "services=open":
        sys.exit(f"benchmark child {mode}: services not open {SERVICES_WAIT_SECONDS} s in")
    return Run(float(first[1]) - started, float(first[3]), float(first[2]), float(settled[1]))


def main() -> None:
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "--child":
        mode, state = args[1], Path(args[2])
        if mode == "bare":
            child_bare(state)
        elif mode == "panel":
            child_panel(state)
        else:
            child_day(state, int(args[3]))
        return
    import statistics
    import tempfile

    quick = "--quick" in args
    runs = QUICK_RUNS if quick else RUNS
    minutes = QUICK_MINUTES if quick else MINUTES
    results: dict[str, list[Run]] = {"bare": [], "panel": []}
    with tempfile.TemporaryDirectory(prefix="tapin-bench-") as tmp:
        state = Path(tmp)
        for mode in results:  # warm-up: bytecode, file caches, the demo's key and queue
            first_frame_run(mode, state)
        for run in range(runs):
            for mode in ("bare", "panel") if run % 2 == 0 else ("panel", "bare"):
                r = first_frame_run(mode, state)
                results[mode].append(r)
                print(
                    f"  {mode:5}: first frame after {r.seconds:.2f} s ({r.cpu:.2f} s CPU), "
                    f"RSS {r.rss_first:.0f} MB, settled {r.rss_settled:.0f} MB"
                )
        _, lines = spawn("day", state, str(2 * minutes))
    bare, panel = (
        Run(*(statistics.median(r[i] for r in results[mode]) for i in range(4)))
        for mode in ("bare", "panel")
    )
    ratio = panel.seconds / bare.seconds
    for name, r in (("bare", bare), ("panel", panel)):
        print(
            f"  median of {runs} {name:5}: {r.seconds:.2f} s ({r.cpu:.2f} s CPU), "
            f"RSS {r.rss_first:.0f} MB at the first frame, {r.rss_settled:.0f} MB settled"
        )
    print(
        f"  panel over bare: {ratio:.2f}× wall, {panel.cpu / bare.cpu:.2f}× CPU; RSS "
        f"{panel.rss_first - bare.rss_first:+.0f} MB at the first frame, "
        f"{panel.rss_settled - bare.rss_settled:+.0f} MB settled (services open)"
    )
    hourly = [float(v) for v in next(x for x in lines if x.startswith("memory ")).split()[1:]]
    hours = minutes // 60
    first_hour, warm, end = hourly[1], hourly[hours], hourly[-1]
    print("  resident memory each simulated hour: " + " ".join(f"{x:.0f}" for x in hourly))
    print(
        f"  first day (warming up): {first_hour:.1f} MB after its first hour, {warm:.1f} MB "
        f"at its end ({warm - first_hour:+.1f} MB); second day: {warm:.1f} MB to "
        f"{end:.1f} MB ({end - warm:+.1f} MB)"
    )
    day = "a simulated day" if minutes == MINUTES else f"{hours} simulated hours"
    print(
        f"panel: first frame {panel.seconds:.2f} s vs bare {bare.seconds:.2f} s ({ratio:.2f}×, "
        f"target <= {RATIO_TARGET}; <= {FIRST_FRAME_TARGET:.0f} s); RSS "
        f"{panel.rss_settled - bare.rss_settled:+.0f} MB over bare (target <= "
        f"+{RSS_TARGET_MB:.0f}); memory growth {end - warm:.1f} MB over {day} "
        f"(target <= {GROWTH_TARGET_MB:.0f})"
    )


if __name__ == "__main__":
    main()

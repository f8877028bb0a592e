"""Panel start-up and memory: ``python -m benchmarks.panel``.

1. Time to first frame: the wall time from spawning ``tapin``-equivalent start-up (a new
   Python process importing the app, building the demo runtime and the screens) to the
   first frame Kivy has drawn, offscreen. Median of 5 runs. Target: <= 2 s.
2. Memory over a simulated day: one process runs the demo panel for 1,440 simulated
   minutes — a refresh per minute, a new calendar snapshot every 15 minutes, a book-now
   and its confirmation every hour — and compares resident memory after the first
   simulated hour (warm) with the end of the day. Target: growth <= 5 MB.

The last line is ``panel: first frame X.XX s (target <= 2); memory growth Y.Y MB over a
simulated day (target <= 5)``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

RUNS = 5
MINUTES = 24 * 60


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, state: Path) -> None:
    """Runs in a fresh process; prints one line for the parent."""
    from tapin.ui.kivyenv import prepare_kivy

    prepare_kivy(state / "kivy", (800, 480), offscreen=True)
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
        samples: list[float] = []

        def first_frame(*_: object) -> None:
            Window.unbind(on_flip=first_frame)
            if mode == "first-frame":
                print(f"first-frame {time.time():.6f}", flush=True)
                app.stop()

        Window.bind(on_flip=first_frame)

        async def day() -> None:
            await asyncio.sleep(0.2)
            for minute in range(MINUTES):
                clock.now += timedelta(minutes=1)
                if minute % 15 == 0:
                    meetings = demo_meetings(runtime.site, clock.now.date(), 7, now=clock.now)
                    runtime.calendar.replace_room(
                        "aurora", [m for m in meetings if m.room_id == "aurora"]
                    )
                if minute % 60 == 30 and app.controller.book_now_choices():
                    await app.controller.book_now(app.controller.book_now_choices()[0])
                    await central.drain_once()
                app.refresh()
                await asyncio.sleep(0)  # a frame
                if minute == 60:
                    samples.append(rss_mb())
            samples.append(rss_mb())
            print(f"memory {samples[0]:.2f} {samples[-1]:.2f}", flush=True)
            app.stop()

        if mode == "day":
            Clock.schedule_once(lambda _dt: asyncio.ensure_future(day()), 0)
        try:
            await app.async_run(async_lib="asyncio")
        finally:
            await queue.close()

    asyncio.run(main())


def spawn(mode: str) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        started = time.time()
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.panel", "--child", mode, tmp],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
    wanted = "first-frame" if mode == "first-frame" else "memory"
    line = next((x for x in result.stdout.splitlines() if x.startswith(wanted)), "")
    if result.returncode != 0 or not line:
        sys.exit(f"benchmark child failed:\n{result.stderr[-3000:]}")
    return started, line


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return
    firsts = []
    for _ in range(RUNS):
        started, line = spawn("first-frame")
        firsts.append(float(line.split()[1]) - started)
        print(f"  first frame after {firsts[-1]:.2f} s")
    _, line = spawn("day")
    warm, end = (float(v) for v in line.split()[1:3])
    print(
        f"  resident memory after the first simulated hour {warm:.1f} MB, "
        f"after the day {end:.1f} MB"
    )
    first = statistics.median(firsts)
    print(
        f"panel: first frame {first:.2f} s (target <= 2); memory growth {end - warm:.1f} MB "
        f"over a simulated day (target <= 5)"
    )


if __name__ == "__main__":
    main()

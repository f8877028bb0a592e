"""systemd's watchdog for a device process (and central's): ping only while healthy.

One :class:`Watchdog` per process (:func:`current`), made from the environment systemd
gives a ``Type=notify`` unit with ``WatchdogSec=`` (:mod:`tapin.device.sdnotify`).

* **Stamps, made by the thing watched.** Each check is a named stamp with a window:
  ``ui`` is stamped by a Kivy ``Clock`` callback (:func:`ui_heartbeat`), ``loop`` and
  ``queue`` by a job of the device's scheduler running on its asyncio loop
  (:func:`device_job`: it asks the sealed queue for its counts, a cheap read),
  ``presence`` each time the Bluetooth scanner's own watchdog step finishes
  (:func:`stamped`), central's ``loop`` by uvicorn's main loop. Nothing stamps on
  behalf of another.
* **The pinger is a thread** that sends ``WATCHDOG=1`` every half of ``WatchdogSec``
  while every stamp is younger than its window. It never stamps: when the loop stalls
  (a callback that blocks, a hung GL call, a deadlock), the stamps age, the pings stop
  and systemd restarts the unit after ``WatchdogSec``. It also says which check went
  stale in ``STATUS=`` (plain words, no personal data).
* A Bluetooth adapter that is merely absent or faulty is *not* a watchdog failure: a
  restart cannot mend a radio and would take the screen down with it; ``tapin status``
  reports it. A scanner whose watchdog step stops finishing (hung in D-Bus) is.

Windows: a stamp is stale after ``max(half of WatchdogSec, 3 x its period)``, so a
screen that loads for two seconds is not restarted, and a loop stalled for about
``WatchdogSec`` is.

``TAPIN_DEBUG_STALL=SECONDS`` (tests only) makes ``SIGUSR2`` block the device's loop
for that long (:func:`install_stall_hook`); without the variable nothing is installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tapin.device.sdnotify import Notifier, watchdog_seconds

__all__ = [
    "BEAT_SECONDS",
    "STALL_ENV",
    "Watchdog",
    "current",
    "device_job",
    "install_stall_hook",
    "notifying_server",
    "notifying_supervisor",
    "stamped",
    "stop_on_sigterm",
    "ui_heartbeat",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

BEAT_SECONDS = 1.0
"""How often the UI and the device's loop stamp their heartbeat."""
PRESENCE_WINDOW = 60.0
"""Seconds the scanner's watchdog step (every 5 s; a power cycle takes a few) may go
without finishing before the process counts as hung."""
STALL_ENV = "TAPIN_DEBUG_STALL"
WHAT = {
    "ui": "the screen's loop has not turned",
    "loop": "the event loop has not turned",
    "queue": "the local queue does not answer",
    "presence": "the Bluetooth scanner's watchdog has not reported",
    "workers": "the server's workers do not answer",
}


class Watchdog:
    """Named stamps with windows, and the pinger thread (see the module docstring)."""

    def __init__(
        self,
        notifier: Notifier,
        seconds: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.seconds = seconds
        """``WatchdogSec=`` in seconds; ``None``: no watchdog for this process."""
        self.interval = seconds / 2 if seconds else None
        """Seconds between pings (half of ``WatchdogSec=``, as ``sd_notify(3)`` advises)."""
        self.clock = clock
        self.pings = 0
        self._stamps: dict[str, float] = {}
        self._windows: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = ""
        self._stale: tuple[str, ...] = ()
        self._stopped = False

    @property
    def pinging(self) -> bool:
        """Whether this process owes systemd watchdog pings."""
        return self.interval is not None and self.notifier.enabled

    def window(self, period: float) -> float:
        """How old a stamp made every ``period`` seconds may get before it is stale."""
        return max(self.interval or 0.0, 3 * period)

    def expect(self, name: str, period: float, *, window: float | None = None) -> None:
        """From now on ``name`` must be stamped every ``period`` seconds (stale after
        :meth:`window`, or ``window`` when given). Counts as just stamped."""
        with self._lock:
            self._windows[name] = max(window or 0.0, self.window(period))
            self._stamps[name] = self.clock()

    def forget(self, name: str) -> None:
        """``name`` is no longer checked (its service closed)."""
        with self._lock:
            self._windows.pop(name, None)
            self._stamps.pop(name, None)

    def stamp(self, name: str) -> None:
        """``name`` is healthy now (called by the thing watched, on its own loop)."""
        self._stamps[name] = self.clock()  # one float under the GIL: no lock needed

    def stale(self) -> tuple[str, ...]:
        """The checks whose stamp is older than their window, sorted."""
        now = self.clock()
        with self._lock:
            return tuple(
                sorted(
                    name
                    for name, window in self._windows.items()
                    if now - self._stamps.get(name, float("-inf")) > window
                )
            )

    def status(self, text: str) -> None:
        """A short plain ``STATUS=`` line (no personal data); kept to restore after a stall."""
        self._status = text
        self.notifier.status(text)

    def ready(self, status: str) -> None:
        """``READY=1`` with ``status``, then the pings start (when this process has a
        watchdog). Calling it again only updates the status."""
        self._status = status
        self._stopped = False
        if self._thread is not None:
            self.notifier.status(status)
            return
        self.notifier.ready(status)
        if self.pinging:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
            self._thread.start()

    def stopping(self, status: str = "stopping") -> None:
        """``STOPPING=1``, once; the pings end (a clean shutdown is not a stall)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.notifier.stopping(status)

    def ping_once(self) -> bool:
        """One step of the pinger: ``WATCHDOG=1`` when nothing is stale, else a
        ``STATUS=`` naming what went stale (once per change). Returns whether it pinged."""
        stale = self.stale()
        if stale != self._stale:
            self._stale = stale
            if stale:
                words = "; ".join(WHAT.get(name, name) for name in stale)
                log.error("watchdog: not pinging systemd: %s", words)
                self.notifier.status(f"unhealthy: {words}")
            else:
                log.warning("watchdog: healthy again")
                self.notifier.status(self._status)
        if stale:
            return False
        if self.notifier.watchdog():
            self.pings += 1
        return True

    def _run(self) -> None:
        interval = self.interval or 1.0
        while True:
            self.ping_once()
            if self._stop.wait(interval):
                return


_current: Watchdog | None = None


def current() -> Watchdog:
    """This process's watchdog, made from (and removing) ``$NOTIFY_SOCKET``,
    ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID`` on first use; without them every method
    is a no-op apart from the bookkeeping."""
    global _current
    if _current is None:
        seconds = watchdog_seconds(os.environ)
        _current = Watchdog(Notifier.from_env(), seconds)
    return _current


def ui_heartbeat(watchdog: Watchdog | None = None) -> Callable[..., None]:
    """Registers the ``ui`` check and returns the callback the app schedules with
    ``Clock.schedule_interval(callback, BEAT_SECONDS)``."""
    dog = watchdog if watchdog is not None else current()
    dog.expect("ui", BEAT_SECONDS)

    def beat(*_: Any) -> None:
        dog.stamp("ui")

    return beat


def stamped(
    name: str, function: Callable[[], Awaitable[T]], watchdog: Watchdog | None = None
) -> Callable[[], Awaitable[T]]:
    """``function`` (an async job) that stamps ``name`` each time it finishes,
    whatever its outcome; it raises what ``function`` raises."""
    dog = watchdog if watchdog is not None else current()

    async def run() -> T:
        try:
            return await function()
        finally:
            dog.stamp(name)

    return run


def device_job(
    queue: Any | None, watchdog: Watchdog | None = None
) -> Callable[[], Awaitable[bool]]:
    """The ``watchdog`` job of the device's scheduler (every :data:`BEAT_SECONDS`):
    stamps ``loop`` (the loop and the scheduler turn) and, when ``queue`` is given,
    ``queue`` after it answered ``counts()`` within its window; registers both checks.
    The job returns whether everything answered; it never raises."""
    dog = watchdog if watchdog is not None else current()
    dog.expect("loop", BEAT_SECONDS)
    queue_every = min(dog.interval or 5.0, 5.0)
    if queue is not None:
        dog.expect("queue", queue_every)
    last_asked = float("-inf")

    async def job() -> bool:
        nonlocal last_asked
        dog.stamp("loop")
        if queue is None or dog.clock() - last_asked < queue_every:
            return True
        last_asked = dog.clock()
        try:
            await asyncio.wait_for(queue.counts(), timeout=dog.window(queue_every))
        except Exception as exc:  # any failure of the queue is "does not answer"
            log.warning("watchdog: the queue did not answer: %s", type(exc).__name__)
            return False
        dog.stamp("queue")
        return True

    return job


def install_stall_hook(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Tests only: with ``$TAPIN_DEBUG_STALL`` = seconds, ``SIGUSR2`` blocks the running
    loop that long (a real stall of the UI and every job). Returns whether it was
    installed; a malformed value is ignored with a warning."""
    raw = os.environ.get(STALL_ENV)
    if not raw:
        return False
    try:
        seconds = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; ignored", STALL_ENV, raw)
        return False
    running = loop if loop is not None else asyncio.get_running_loop()

    def stall() -> None:
        log.warning("debug stall: blocking the loop for %.1f s", seconds)
        time.sleep(seconds)  # deliberately on the loop: this is the fault injected

    running.add_signal_handler(signal.SIGUSR2, stall)
    return True


def stop_on_sigterm(stop: Callable[[], object], watchdog: Watchdog | None = None) -> bool:
    """Under a service manager (``$NOTIFY_SOCKET`` was set), make ``SIGTERM`` (what
    ``systemctl stop`` sends) call ``stop`` on the running loop, so that a screen app
    closes its queue and says ``STOPPING=1`` instead of dying mid-write. Returns
    whether it was installed (not outside systemd: a shell's or a test's process keeps
    Python's own handling)."""
    dog = watchdog if watchdog is not None else current()
    if not dog.notifier.enabled:
        return False
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    except (RuntimeError, ValueError):  # no running loop, or not the main thread
        return False
    return True


# central (uvicorn) -----------------------------------------------------------------------


def notifying_server(base: type[Any], watchdog: Watchdog | None = None) -> type[Any]:
    """A subclass of ``uvicorn.Server`` (``base``) that sends ``READY=1`` once it
    listens, stamps ``loop`` on each turn of uvicorn's own main loop (ten a second) and
    sends ``STOPPING=1`` when it begins to shut down."""
    dog = watchdog if watchdog is not None else current()

    class NotifyingServer(base):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                dog.expect("loop", BEAT_SECONDS)
                dog.ready("central: serving")

        async def on_tick(self, counter: int) -> bool:
            dog.stamp("loop")
            return bool(await super().on_tick(counter))

        async def shutdown(self, sockets: Any = None) -> None:
            dog.stopping()
            await super().shutdown(sockets=sockets)

    return NotifyingServer


def notifying_supervisor(base: type[Any], watchdog: Watchdog | None = None) -> type[Any]:
    """A subclass of uvicorn's ``Multiprocess`` supervisor (``base``) that sends
    ``READY=1`` once every worker answered its first health ping, stamps ``workers``
    after each round in which it pinged them all (a hung worker is replaced by uvicorn
    itself; a hung supervisor stops the pings), and ``STOPPING=1`` before it stops
    them."""
    dog = watchdog if watchdog is not None else current()

    class NotifyingSupervisor(base):
        def init_processes(self) -> None:
            super().init_processes()
            if not dog.notifier.enabled:
                return  # not under systemd: uvicorn's own start, unchanged
            timeout = float(self.config.timeout_worker_healthcheck)
            for process in self.processes:
                process.wait_until_ready(timeout, self.should_exit)
            # each round pings every worker, waiting up to ``timeout`` for each
            dog.expect("workers", 0.5, window=timeout * len(self.processes) + 2.0)
            dog.ready(f"central: serving with {len(self.processes)} workers")

        def keep_subprocess_alive(self) -> None:
            super().keep_subprocess_alive()
            if not self.should_exit.is_set():
                dog.stamp("workers")

        def terminate_all(self) -> None:
            dog.stopping()
            super().terminate_all()

    return NotifyingSupervisor

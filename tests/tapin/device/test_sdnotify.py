"""systemd's notifications arrive on a real ``NOTIFY_SOCKET`` (an AF_UNIX datagram
socket bound here, by path and by abstract name) from the real processes: ``READY=1``
after the panel's first frame, the agent's start and central's listening socket, then
``WATCHDOG=1`` at half of ``WATCHDOG_USEC`` — and the pings stop while the loop stalls
(``TAPIN_DEBUG_STALL`` + ``SIGUSR2`` blocks the process's own loop) or the queue stops
answering."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.queue import AsyncSealedQueue
from tapin.device import watchdog as wd
from tapin.device.sdnotify import Notifier, watchdog_seconds

STALL = 4.0
"""Seconds a debug stall blocks a process's loop."""


@dataclass
class Listener:
    """systemd's end: a bound AF_UNIX SOCK_DGRAM socket read at once by a thread (as
    systemd does: a socket left unread fills up after ten datagrams); every datagram
    kept with the monotonic time it arrived."""

    address: str
    """As ``$NOTIFY_SOCKET`` spells it (``@name`` for the abstract namespace)."""
    sock: socket.socket
    got: list[tuple[float, str]] = field(default_factory=list)
    _closed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock.settimeout(0.1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.got.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._closed.set()
        time.sleep(0.15)
        self.sock.close()

    def poll(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait_for(self, line: str, seconds: float, *, since: int = 0) -> float:
        """Time the first datagram (from index ``since``) holding ``line`` arrived;
        fails after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            for at, message in self.got[since:]:
                if line in message.split("\n"):
                    return at
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {line!r} within {seconds} s; got {self.got!r}")
            time.sleep(0.05)

    def pings(self, since: int = 0) -> list[float]:
        return [at for at, m in self.got[since:] if "WATCHDOG=1" in m.split("\n")]

    def lines(self) -> list[str]:
        return [line for _, m in self.got for line in m.split("\n")]


def bind(kind: str, folder: Path) -> Listener:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        address = str(folder / f"notify-{secrets.token_hex(3)}.sock")
        sock.bind(address)
    else:
        name = f"tapin-test-{secrets.token_hex(6)}"
        sock.bind(b"\0" + name.encode())
        address = "@" + name
    return Listener(address, sock)


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    found = bind(request.param, tmp_path)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def abstract_listener(tmp_path: Path) -> Iterator[Listener]:
    found = bind("abstract", tmp_path)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def path_listener(tmp_path: Path) -> Iterator[Listener]:
    found = bind("path", tmp_path)
    try:
        yield found
    finally:
        found.close()


def notify_env(listener: Listener, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="1000000", **extra)
    return env


def assert_stall_stops_pings(listener: Listener, proc: subprocess.Popen[bytes]) -> None:
    """Regular pings, then SIGUSR2: no ping for most of the stall and a STATUS naming
    it, then pings again once the loop turns."""
    start = len(listener.got)
    listener.poll(2.5)
    before = listener.pings(start)
    assert len(before) >= 3, listener.got[start:]  # every 0.5 s
    assert max(b - a for a, b in itertools.pairwise(before)) < 1.5
    mark = len(listener.got)
    stalled_at = time.monotonic()
    proc.send_signal(signal.SIGUSR2)
    listener.wait_for("WATCHDOG=1", STALL + 6, since=mark + 3)  # pinging again after
    during = [t for t in listener.pings(mark) if t - stalled_at < STALL - 0.3]
    after = [t for t in listener.pings(mark) if t - stalled_at >= STALL - 0.3]
    # the stamps outlive the stall's start by their window (3 s), then the pings stop
    quiet = (after[0] if after else time.monotonic()) - (during[-1] if during else stalled_at)
    assert quiet > 1.0, listener.got[mark:]
    statuses = [m for _, m in listener.got[mark:] if m.startswith("STATUS=unhealthy")]
    assert any("event loop has not turned" in m for m in statuses), listener.got[mark:]
    assert proc.poll() is None


# the protocol ------------------------------------------------------------------------


def test_messages_arrive_on_the_socket_and_nothing_without_one(listener: Listener) -> None:
    notifier = Notifier(listener.address)
    assert notifier.ready("panel:\nshowing\tits room")
    assert notifier.watchdog()
    assert notifier.stopping()
    listener.poll(0.3)
    assert [m for _, m in listener.got] == [
        "READY=1\nSTATUS=panel: showing its room",  # one line, as systemd wants
        "WATCHDOG=1",
        "STOPPING=1",
    ]
    notifier.close()
    env = {"HOME": "/nowhere"}
    silent = Notifier.from_env(env)
    assert not silent.enabled and not silent.ready("x")


def test_the_environment_is_read_then_removed_and_watchdog_pid_honoured() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_seconds(env) == 30.0
    assert watchdog_seconds({**env, "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_seconds({**env, "WATCHDOG_USEC": "soon"}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}) is None
    assert Notifier.from_env(env).enabled
    assert env == {}  # children (lp, central's workers) are not the service


def test_a_queue_that_stops_answering_stops_the_pings(
    path_listener: Listener, tmp_path: Path
) -> None:
    listener = path_listener
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    dog = wd.Watchdog(Notifier(listener.address), 1.0)

    async def scenario() -> tuple[list[bool], list[bool]]:
        queue = AsyncSealedQueue(tmp_path / "queue.db", X25519PrivateKey.generate().public_key())
        await queue.open()
        job = wd.device_job(queue, dog)
        healthy = []
        for _ in range(3):
            assert await job()
            healthy.append(dog.ping_once())
            await asyncio.sleep(0.6)  # past the queue's period: asked each time
        await queue.close()  # from now on it does not answer
        sick = []
        for _ in range(5):
            await job()  # the loop still turns...
            sick.append(dog.ping_once())
            await asyncio.sleep(0.6)
        return healthy, sick

    healthy, sick = asyncio.run(scenario())
    assert healthy == [True, True, True]
    assert sick[0] and not sick[-1]  # ... but the queue's stamp went stale within its window
    listener.poll(0.3)
    assert "STATUS=unhealthy: the local queue does not answer" in listener.lines()
    assert listener.lines().count("WATCHDOG=1") == 3 + sick.count(True)


def test_a_scanner_step_that_never_finishes_stops_the_pings(path_listener: Listener) -> None:
    """The presence check is stamped when the scanner's own watchdog step finishes,
    whatever its outcome; a step hung (in D-Bus, say) lets the stamp age."""
    dog = wd.Watchdog(Notifier(path_listener.address), 0.4)
    dog.expect("presence", 0.1)  # stale after max(0.2, 0.3) s
    hang = asyncio.Event()

    async def step() -> None:
        if hang.is_set():
            await asyncio.sleep(3600)
        raise RuntimeError("the adapter is gone")  # an outcome, not a hang

    check = wd.stamped("presence", step, dog)

    async def scenario() -> tuple[bool, bool]:
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await check()
            await asyncio.sleep(0.1)
        healthy = dog.ping_once()
        hang.set()
        task = asyncio.ensure_future(check())
        await asyncio.sleep(0.5)
        sick = dog.ping_once()
        task.cancel()
        return healthy, sick

    assert asyncio.run(scenario()) == (True, False)
    path_listener.poll(0.2)
    assert "STATUS=unhealthy: the Bluetooth scanner's watchdog has not reported" in (
        path_listener.lines()
    )


# the real processes ------------------------------------------------------------------


@pytest.mark.ui
@pytest.mark.slow
def test_panel_ready_after_first_frame_pings_and_stops_when_its_loop_stalls(
    abstract_listener: Listener, tmp_path: Path
) -> None:
    listener = abstract_listener
    env = notify_env(
        listener,
        TAPIN_DEBUG_STALL=str(STALL),
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "xdg"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapin", "--log-level", "WARNING", "panel", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        listener.wait_for("READY=1", 90)
        listener.wait_for("WATCHDOG=1", 5)
        assert_stall_stops_pings(listener, proc)
        mark = len(listener.got)
        proc.send_signal(signal.SIGTERM)  # systemctl stop
        listener.wait_for("STOPPING=1", 20, since=mark)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "READY=1" in listener.lines()[: listener.lines().index("WATCHDOG=1")]


@pytest.mark.ui
@pytest.mark.slow
def test_kiosk_ready_after_first_frame_pings_and_stops_cleanly(
    path_listener: Listener, tmp_path: Path
) -> None:
    env = notify_env(path_listener, HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapin", "--log-level", "WARNING", "kiosk", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready = path_listener.wait_for("READY=1", 90)
        assert "STATUS=kiosk: showing its lobby" in path_listener.lines()
        path_listener.poll(1.6)
        assert len([t for t in path_listener.pings() if t >= ready]) >= 2
        mark = len(path_listener.got)
        proc.send_signal(signal.SIGTERM)
        path_listener.wait_for("STOPPING=1", 20, since=mark)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.pg
@pytest.mark.slow
def test_central_and_agent_ready_ping_stall_and_stop(
    path_listener: Listener, pg_dsn: str, tmp_path: Path
) -> None:
    listener = path_listener
    from central.local import LocalCentral

    served = bind("path", tmp_path)
    central = LocalCentral(pg_dsn, tmp_path / "central")
    central.extra_env = {"NOTIFY_SOCKET": served.address, "WATCHDOG_USEC": "1000000"}
    try:
        central.prepare().start()
        served.wait_for("READY=1", 10)  # central listens (it answered /v1/health)
        assert "STATUS=central: serving" in served.lines()
        served.poll(1.6)
        assert len(served.pings()) >= 2
        central.extra_env = {}
        device = central.enroll("skog", room="skog")

        proc = subprocess.Popen(
            [sys.executable, "-m", "tapin", "agent", "--config", str(device.config)],
            env=notify_env(listener, TAPIN_DEBUG_STALL=str(STALL)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            listener.wait_for("READY=1", 30)
            assert "STATUS=agent running" in listener.lines()
            assert_stall_stops_pings(listener, proc)
            mark = len(listener.got)
            proc.send_signal(signal.SIGTERM)
            listener.wait_for("STOPPING=1", 10, since=mark)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        mark = len(served.got)
        central.stop()
        served.wait_for("STOPPING=1", 5, since=mark)
    finally:
        central.stop()
        served.close()


@pytest.mark.pg
@pytest.mark.slow
def test_central_with_workers_is_ready_once_every_worker_answers(
    path_listener: Listener, pg_dsn: str, tmp_path: Path
) -> None:
    from central.local import LocalCentral

    central = LocalCentral(pg_dsn, tmp_path / "central", workers=2)
    central.extra_env = {"NOTIFY_SOCKET": path_listener.address, "WATCHDOG_USEC": "1000000"}
    try:
        central.prepare()
        central.start()  # returns once both workers logged their start and /health answered
        ready = path_listener.wait_for("READY=1", 10)
        assert "STATUS=central: serving with 2 workers" in path_listener.lines()
        path_listener.poll(1.6)
        assert len([t for t in path_listener.pings() if t > ready]) >= 2
        mark = len(path_listener.got)
        central.stop()
        path_listener.wait_for("STOPPING=1", 5, since=mark)
    finally:
        central.stop()

"""Running a phase of the fleet simulator: the load-generator processes and what the
parent measures meanwhile (central's and PostgreSQL's CPU and memory, from ``/proc``).

A generator process runs its share of the devices on one asyncio loop (one TLS context,
one connection per device) and reports its rows and its own CPU time, so a reader can
tell whether the generator, not central, was the limit.
"""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks.fleet_device import Device, DeviceState, Phase, Tally, run_device
from benchmarks.fleet_http import Connection, Heads
from sync.client import tls_context

__all__ = ["Generated", "Sampler", "boot", "generate", "percentile"]

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Generated:
    tally: Tally
    states: list[DeviceState]
    cpu: float
    """CPU seconds (user + system) this generator spent in the phase."""
    wall: float


def generate(states: list[DeviceState], phase: Phase) -> Generated:
    """Run these devices for one phase (in a generator process)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    tally = asyncio.run(_generate(states, phase))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Generated(tally, states, cpu, time.perf_counter() - wall)


def boot(states: list[DeviceState], phase: Phase, concurrency: int = 32) -> Generated:
    """Every device fetches everything once, as after a restart (``concurrency`` at a
    time): the ETags the phases start from."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    tally = asyncio.run(_boot(states, phase, concurrency))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Generated(tally, states, cpu, time.perf_counter() - wall)


async def _boot(states: list[DeviceState], phase: Phase, concurrency: int) -> Tally:
    context: ssl.SSLContext = tls_context(phase.ca_file)
    heads = Heads(f"https://{phase.server_name}:{phase.port}")
    tally = Tally()
    todo = list(states)

    async def worker() -> None:
        while todo:
            state = todo.pop()
            conn = Connection(phase.host, phase.port, phase.server_name, context)
            try:
                await Device(state, phase, heads, conn, tally).refresh(0.0)
            finally:
                await conn.close()

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await heads.aclose()
    return tally


async def _generate(states: list[DeviceState], phase: Phase) -> Tally:
    context: ssl.SSLContext = tls_context(phase.ca_file)
    heads = Heads(f"https://{phase.server_name}:{phase.port}")
    tally = Tally()
    ticker = asyncio.ensure_future(_watch_loop(tally, phase.start + phase.seconds))
    try:
        await asyncio.gather(
            *(
                run_device(
                    state,
                    phase,
                    heads,
                    Connection(phase.host, phase.port, phase.server_name, context),
                    tally,
                )
                for state in states
            )
        )
        await ticker
    finally:
        ticker.cancel()
        await heads.aclose()
    return tally


async def _watch_loop(tally: Tally, until: float, every: float = 0.05) -> None:
    """Record how late the loop wakes a timer, until ``until`` (wall clock)."""
    for _ in range(int(max(0.0, until - time.time()) / every) + 1):
        if time.time() >= until:
            return
        asked = time.perf_counter()
        await asyncio.sleep(every)
        tally.loop_lags.append(time.perf_counter() - asked - every)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def _cpu_of(pid: int) -> float | None:
    """CPU seconds (user + system) of a process, ``None`` when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _rss_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (everyone's, not just ours)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


@dataclass
class _CpuWatch:
    """CPU seconds of a changing set of processes over a span of time."""

    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def see(self, pids: Iterable[int], *, at_start: bool = False) -> None:
        for pid in pids:
            cpu = _cpu_of(pid)
            if cpu is None:
                continue
            # a process born during the span spent all its CPU time in it
            self.first.setdefault(pid, cpu if at_start else 0.0)
            self.last[pid] = cpu

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class Sampler:
    """Once a second: central's memory, PostgreSQL's connections to the database; CPU
    time of central's processes and of the database's backends over the phase."""

    def __init__(self, dsn: str, central_pids: Sequence[int]) -> None:
        self.dsn = dsn
        self.central_pids = list(central_pids)
        self.central = _CpuWatch()
        self.postgres = _CpuWatch()
        self.rss_max = 0
        self.connections_max = 0
        self.machine = 0.0
        self.wall = 0.0

    def _backends(self, conn: psycopg.Connection) -> list[int]:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name NOT LIKE 'fleet-%'"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _sample(self, conn: psycopg.Connection, *, at_start: bool = False) -> None:
        backends = self._backends(conn)
        self.connections_max = max(self.connections_max, len(backends))
        self.postgres.see(backends, at_start=at_start)
        self.central.see(self.central_pids, at_start=at_start)
        self.rss_max = max(self.rss_max, sum(_rss_of(pid) for pid in self.central_pids))

    async def run(self, start: float, seconds: float) -> None:
        """Sample from ``start`` (wall clock) for ``seconds``, once a second."""
        await asyncio.sleep(max(0.0, start - time.time()))
        with psycopg.connect(self.dsn, autocommit=True, application_name="fleet-sampler") as conn:
            machine, wall = _machine_busy(), time.perf_counter()
            self._sample(conn, at_start=True)
            for _ in range(int(seconds) + 1):
                left = start + seconds - time.time()
                if left <= 0:
                    break
                await asyncio.sleep(min(1.0, left))
                self._sample(conn)
            self.machine = _machine_busy() - machine
            self.wall = time.perf_counter() - wall

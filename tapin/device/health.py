"""The device's health facts: what a heartbeat carries and ``tapin doctor`` can check.

No personal data: counts, ages, states and short codes only. The last sync error is
a code (:data:`ERROR_CODES`: the agent's own ``trouble`` verdict), never its message
(central's text could name a room's meeting). Everything read from the machine
(``/sys``, ``/proc``, the state directory's file system) goes through :class:`SysPaths`,
so tests point it at folders of their own; :func:`gather` reads them in a worker thread,
never on the UI loop.

Rules of the facts:

* **display** (:func:`display_state`): ``on`` / ``off`` / ``unknown``. A backlight
  (``/sys/class/backlight/*``) is ``off`` when ``bl_power`` is not 0 or ``brightness``
  is 0; with no backlight, a connected DRM connector (``/sys/class/drm/card*-*``) is
  ``off`` when ``enabled`` says ``disabled`` or ``dpms`` says ``Off``; with neither,
  ``unknown``.
* **cpu temperature** (:func:`cpu_temperature`): ``thermal_zone0/temp`` in milli-degrees
  Celsius; ``None`` when absent or unreadable.
* **presence**: the scanner runs, the adapter is usable (the scanner's health is not
  ``fault`` or ``stopped``), seconds since it last heard an advertisement.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tapin
from sync.events import HEARTBEAT_ERROR_CODES

__all__ = [
    "ERROR_CODES",
    "DeviceHealth",
    "PresenceHealth",
    "SysPaths",
    "collect",
    "cpu_temperature",
    "disk_free",
    "display_state",
    "error_code",
    "gather",
    "presence_health",
    "system_uptime",
]

STARTED = time.monotonic()
"""When this process imported the module: the process uptime's zero."""

ERROR_CODES = HEARTBEAT_ERROR_CODES  # the contract with central (sync.events)
"""Every code :func:`error_code` gives (central refuses any other)."""

_PREFIXES = (
    ("central unreachable", "unreachable"),
    ("central does not accept this device", "not_authorised"),
    ("central refused", "refused"),
    ("central answered", "server_trouble"),
    ("central's answer", "server_trouble"),
    ("central's ", "server_trouble"),
    ("snapshot(s) not applied", "snapshot_not_applied"),
)


@dataclass(frozen=True, slots=True)
class SysPaths:
    """Where the machine's facts are read; tests give folders of their own."""

    backlight: Path = Path("/sys/class/backlight")
    drm: Path = Path("/sys/class/drm")
    thermal: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    uptime: Path = Path("/proc/uptime")


_DEFAULT = SysPaths()


@dataclass(frozen=True, slots=True)
class PresenceHealth:
    scanner_running: bool
    adapter_ok: bool
    state: str
    """The scanner's health state (``ok``, ``restarted``, ``power_cycled``, ``fault``,
    ``stopped``)."""
    last_advertisement_age_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """One heartbeat's facts (see the module docstring for each rule)."""

    version: str
    uptime_seconds: float
    """This process's."""
    system_uptime_seconds: float | None = None
    pending: int = 0
    inflight: int = 0
    oldest_pending_age_seconds: float | None = None
    rejected: int = 0
    quarantined: int = 0
    reachable: bool | None = None
    last_error: str | None = None
    """A code of :data:`ERROR_CODES`, or ``None``."""
    display: str = "unknown"
    disk_free_bytes: int | None = None
    cpu_temp_celsius: float | None = None
    presence: PresenceHealth | None = None
    taken_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> dict[str, Any]:
        """The heartbeat body (``PUT /v1/heartbeat``, central/openapi.yaml)."""
        data = asdict(self)
        if self.presence is None:
            data.pop("presence")
        return data


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def display_state(paths: SysPaths = _DEFAULT) -> str:
    """``on``, ``off`` or ``unknown`` (rules in the module docstring). Never raises."""
    try:
        lights = sorted(p for p in paths.backlight.iterdir() if p.is_dir())
    except OSError:
        lights = []
    for light in lights:
        power, brightness = _int(_read(light / "bl_power")), _int(_read(light / "brightness"))
        if power is None and brightness is None:
            continue
        return "off" if (power not in (None, 0) or brightness == 0) else "on"
    try:
        connectors = sorted(p for p in paths.drm.iterdir() if "-" in p.name)
    except OSError:
        connectors = []
    seen = False
    for connector in connectors:
        if _read(connector / "status") != "connected":
            continue
        seen = True
        if _read(connector / "enabled") != "disabled" and _read(connector / "dpms") != "Off":
            return "on"
    return "off" if seen else "unknown"


def cpu_temperature(path: Path = _DEFAULT.thermal) -> float | None:
    """Degrees Celsius, one decimal; ``None`` when there is no such sensor."""
    milli = _int(_read(path))
    return None if milli is None else round(milli / 1000.0, 1)


def system_uptime(path: Path = _DEFAULT.uptime) -> float | None:
    text = _read(path)
    try:
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def disk_free(folder: Path) -> int | None:
    """Bytes free to an unprivileged writer in ``folder``'s file system, or ``None``."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def error_code(message: str | None) -> str | None:
    """The sync status's ``last_error`` reduced to a code of :data:`ERROR_CODES`."""
    if not message:
        return None
    for prefix, code in _PREFIXES:
        if message.startswith(prefix):
            return code
    return "other"


def _status_code(status: Any) -> str | None:
    """The heartbeat's ``last_error`` code. From an agent that gives its own verdict
    (:attr:`sync.agent.SyncStatus.trouble`), that verdict: while it is ``None`` the last
    exchange succeeded, and the only error left is snapshots it did not apply (the one
    message the agent writes then). Only a status without ``trouble`` (a status file
    of an older agent) has its message matched by :func:`error_code`."""
    if status is None:
        return None
    if not hasattr(status, "trouble"):
        return error_code(getattr(status, "last_error", None))
    trouble = status.trouble
    if trouble is not None:
        return str(trouble) if trouble in ERROR_CODES else "other"
    message = getattr(status, "last_error", None)
    if not message:
        return None
    return "snapshot_not_applied" if str(message).startswith("snapshot(s) not applied") else "other"


def presence_health(service: Any, now: float | None = None) -> PresenceHealth | None:
    """The facts of a :class:`presence.service.PresenceService` (``None``: no scanning)."""
    if service is None:
        return None
    scanner = getattr(service, "scanner", None)
    health = getattr(scanner, "health", None)
    state = str(getattr(health, "state", "stopped"))
    running = bool(getattr(service, "scanning", False)) and state != "stopped"
    heard = getattr(scanner, "_last_heard", None)
    clock = getattr(scanner, "_clock", time.monotonic)
    age = None
    if running and isinstance(heard, int | float):
        age = round(max(0.0, (now if now is not None else clock()) - heard), 1)
    return PresenceHealth(
        scanner_running=running,
        adapter_ok=state not in ("fault", "stopped") and not getattr(service, "problem", None),
        state=state,
        last_advertisement_age_seconds=age,
    )


def collect(
    *,
    counts: Any = None,
    status: Any = None,
    presence: PresenceHealth | None = None,
    state_dir: Path | None = None,
    paths: SysPaths = _DEFAULT,
    now: datetime | None = None,
    started: float = STARTED,
) -> DeviceHealth:
    """The facts now, from the queue's :class:`~sync.queue.QueueCounts` ``counts``, the
    agent's :class:`~sync.agent.SyncStatus` ``status`` (either may be ``None``) and the
    machine. Reads files: call it off the UI loop (:func:`gather`). Never raises."""
    moment = now or datetime.now(UTC)
    oldest = getattr(counts, "oldest_pending", None)
    age = None
    if isinstance(oldest, datetime):
        age = round(max(0.0, (moment - oldest).total_seconds()), 1)
    return DeviceHealth(
        version=tapin.__version__,
        uptime_seconds=round(time.monotonic() - started, 1),
        system_uptime_seconds=system_uptime(paths.uptime),
        pending=int(getattr(counts, "pending", 0) or 0),
        inflight=int(getattr(counts, "inflight", 0) or 0),
        oldest_pending_age_seconds=age,
        rejected=int(getattr(counts, "rejected", 0) or 0),
        quarantined=int(getattr(counts, "quarantined", 0) or 0),
        reachable=getattr(status, "reachable", None),
        last_error=_status_code(status),
        display=display_state(paths),
        disk_free_bytes=disk_free(state_dir) if state_dir is not None else None,
        cpu_temp_celsius=cpu_temperature(paths.thermal),
        presence=presence,
        taken_at=moment.isoformat(),
    )


async def gather(
    *,
    queue: Any = None,
    status: Any = None,
    presence_service: Any = None,
    state_dir: Path | None = None,
    paths: SysPaths = _DEFAULT,
    extra: Mapping[str, Any] | None = None,
) -> DeviceHealth:
    """:func:`collect` for a running device: the queue's counts (``await
    queue.counts()``), then the machine's files in a worker thread. Raises what
    ``queue.counts()`` raises (:class:`sync.queue.QueueError`)."""
    counts = await queue.counts() if queue is not None else None
    presence = presence_health(presence_service)
    return await asyncio.to_thread(
        collect,
        counts=counts,
        status=status,
        presence=presence,
        state_dir=state_dir,
        paths=paths,
        **dict(extra or {}),
    )

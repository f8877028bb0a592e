"""The checks of the machine itself for ``tapin doctor`` (:mod:`tapin.device.doctor`):
clock synchronisation, disk space, the Bluetooth adapter, the display and backlight,
and :class:`Check`, what every check gives. Everything read from the machine goes
through :class:`Machine`, whose ``root`` tests point at a folder of fake ``/sys`` and
``/run`` files. The link to central and the queue are checked in
:mod:`tapin.device.doctor`."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FAIL",
    "OK",
    "SKIP",
    "WARN",
    "Check",
    "Machine",
    "bluetooth_check",
    "clock_check",
    "disk_check",
    "display_check",
    "kernel_clock_synced",
]

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_WARN_BYTES = 500 * 1024 * 1024
CLOCK_WARN_SECONDS = 5.0
CLOCK_FAIL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    """``ok``, ``warn``, ``fail`` or ``skip``."""
    words: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "words": self.words, **self.facts}


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_long * 40),  # the rest of struct timex, unread
    ]


_TIME_ERROR = 5
_STA_UNSYNC = 0x40


def kernel_clock_synced() -> bool | None:
    """The kernel's NTP state (what ``timedatectl``'s NTPSynchronized reports), read with
    ``adjtimex``; ``None`` when it cannot be read."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not timex.status & _STA_UNSYNC and timex.maxerror < 16_000_000


def _chrony_synced() -> bool | None:
    """chrony's view (``chronyc -n tracking``); ``None`` without chrony."""
    if shutil.which("chronyc") is None:
        return None
    try:
        out = subprocess.run(
            ["chronyc", "-n", "tracking"], capture_output=True, text=True, timeout=3, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Leap status":
            return value.strip() != "Not synchronised"
    return None


@dataclass(frozen=True)
class Machine:
    """Where the machine's facts come from. ``root`` is ``/`` on a device; with any
    other root the kernel's and chrony's clock state are not asked (they are this
    machine's, not that root's) unless given."""

    root: Path = Path("/")
    statvfs: Callable[[Path], Any] = os.statvfs
    kernel_clock: Callable[[], bool | None] | None = None
    chrony: Callable[[], bool | None] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def clock_sources(self) -> dict[str, bool | None]:
        real = self.root == Path("/")
        kernel = self.kernel_clock or (kernel_clock_synced if real else None)
        chrony = self.chrony or (_chrony_synced if real else None)
        flag = self.path("/run/systemd/timesync/synchronized")
        return {
            "kernel": kernel() if kernel else None,
            "timesyncd": True if flag.exists() else None,
            "chrony": chrony() if chrony else None,
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


# the checks -----------------------------------------------------------------------------


def clock_check(machine: Machine, offset: float | None) -> Check:
    """Synchronised by NTP, and ``offset`` (central minus us, seconds) small."""
    sources = machine.clock_sources()
    synced = (
        True
        if any(v is True for v in sources.values())
        else (False if any(v is False for v in sources.values()) else None)
    )
    facts = {"synchronised": synced, "offset_seconds": offset, "sources": sources}
    gap = f"{abs(offset):g} s {'behind' if offset > 0 else 'ahead of'} central" if offset else ""
    if offset is not None and abs(offset) > CLOCK_FAIL_SECONDS:
        return Check(
            "clock",
            FAIL,
            f"the clock is {gap}: check-ins and bookings would be judged at the wrong time; "
            "enable time sync (timedatectl set-ntp true) and check that NTP is reachable",
            facts,
        )
    ntp_fix = (
        "enable time sync (timedatectl set-ntp true, or chrony) and let it reach an NTP "
        "server: a Pi has no battery clock and starts wrong after a power cut"
    )
    if synced is False:
        if offset is not None and abs(offset) <= CLOCK_WARN_SECONDS:
            return Check(
                "clock",
                WARN,
                f"the clock is not synchronised but agrees with central: {ntp_fix}",
                facts,
            )
        return Check("clock", FAIL, f"the clock is not synchronised: {ntp_fix}", facts)
    if offset is not None and abs(offset) > CLOCK_WARN_SECONDS:
        return Check("clock", WARN, f"the clock is {gap}: check time sync", facts)
    agrees = " and agrees with central" if offset is not None else ""
    if synced is None:
        return Check(
            "clock",
            WARN,
            f"cannot tell whether the clock is synchronised{agrees}: {ntp_fix}",
            facts,
        )
    return Check("clock", OK, f"the clock is synchronised{agrees}", facts)


def disk_check(machine: Machine, state_dir: Path) -> Check:
    if not state_dir.is_dir():
        what = "is not a directory" if state_dir.exists() else "does not exist"
        return Check("disk", FAIL, f"the state directory {state_dir} {what}: fix [paths] state_dir")
    if not os.access(state_dir, os.W_OK):
        return Check(
            "disk", FAIL, f"the state directory {state_dir} is not writable: run as the tapin user"
        )
    try:
        stat = machine.statvfs(state_dir)
    except OSError as exc:
        return Check("disk", FAIL, f"cannot read the free space of {state_dir}: {exc.strerror}")
    free, total = stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize
    facts = {"free_bytes": free, "total_bytes": total, "state_dir": str(state_dir)}
    words = f"{free / 2**20:.0f} MB free of {total / 2**20:.0f} MB for {state_dir}"
    if free < DISK_FAIL_BYTES:
        return Check(
            "disk",
            FAIL,
            f"the disk is full: {words}; the queue cannot keep new bookings. Free space "
            "(journalctl --vacuum-size=50M, old files in /home, apt clean)",
            facts,
        )
    if free < DISK_WARN_BYTES:
        return Check("disk", WARN, f"the disk is nearly full: {words}; free some space", facts)
    return Check("disk", OK, words, facts)


def bluetooth_check(machine: Machine, config: Any) -> Check:
    if not config.presence.scan:
        return Check("bluetooth", SKIP, "presence is off ([presence] scan = false)")
    adapter = config.presence.adapter
    folder = machine.path("/sys/class/bluetooth") / adapter
    if not folder.exists():
        return Check(
            "bluetooth",
            FAIL,
            f"no Bluetooth adapter {adapter} ({folder} is missing): check that the radio is "
            "enabled (no dtoverlay=disable-bt in /boot/firmware/config.txt) and that "
            "bluetooth.service runs; or set [presence] scan = false",
            {"adapter": adapter},
        )
    try:
        switches = sorted(machine.path("/sys/class/rfkill").iterdir())
    except OSError:
        switches = []
    for switch in switches:
        if _read(switch / "type") != "bluetooth":
            continue
        if _read(switch / "soft") == "1" or _read(switch / "hard") == "1":
            return Check(
                "bluetooth",
                FAIL,
                f"the Bluetooth adapter {adapter} is blocked by rfkill: run 'rfkill unblock "
                "bluetooth'",
                {"adapter": adapter},
            )
    return Check("bluetooth", OK, f"Bluetooth adapter {adapter} is present", {"adapter": adapter})


def _office_hours(config: Any, now: datetime) -> bool:
    screen = config.screen
    local = now.astimezone(config.timezone)
    return (
        local.weekday() in screen.office_days
        and screen.office_start <= local.time() < screen.office_end
    )


def display_check(machine: Machine, config: Any, now: datetime) -> Check:
    if config.role not in ("panel", "kiosk"):
        return Check("display", SKIP, "no screen on this device")
    drm = machine.path("/sys/class/drm")
    try:
        connectors = sorted(p for p in drm.iterdir() if "-" in p.name and (p / "status").exists())
    except OSError:
        connectors = []
    states = {c.name.partition("-")[2]: _read(c / "status") for c in connectors}
    connected = [name for name, state in states.items() if state == "connected"]
    lights = []
    with_light = machine.path("/sys/class/backlight")
    if with_light.is_dir():
        lights = sorted(p for p in with_light.iterdir() if (p / "brightness").exists())
    facts: dict[str, Any] = {"connectors": states, "backlight": None}
    if connectors and not connected:
        listed = ", ".join(f"{name}: {state}" for name, state in states.items())
        return Check(
            "display",
            FAIL,
            f"no display is connected ({listed}): check the display's cable and power",
            facts,
        )
    if not connectors and not lights:
        return Check(
            "display",
            FAIL,
            f"no display found (no connector in {drm}, no backlight): is the display "
            "driver loaded (dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt)?",
            facts,
        )
    shown = ", ".join(connected) if connected else "a display"
    if not lights:  # an HDMI screen: no backlight to read
        return Check("display", OK, f"{shown} connected", facts)
    light = lights[0]
    brightness, power = _read(light / "brightness"), _read(light / "bl_power")
    facts["backlight"] = {"name": light.name, "brightness": brightness, "bl_power": power}
    if brightness == "0" or power not in (None, "0"):
        why = "brightness 0" if brightness == "0" else f"bl_power {power}"
        if config.screen.sleep_outside_hours and not _office_hours(config, now):
            return Check(
                "display",
                OK,
                f"{shown} connected; the backlight is off ({why}): the screen sleeps outside "
                "office hours, a touch wakes it",
                facts,
            )
        return Check(
            "display",
            FAIL,
            f"{shown} connected but the backlight is off ({why}) during office hours: "
            f"check {light} (is tapin allowed to write it? the video group and udev rule)",
            facts,
        )
    return Check("display", OK, f"{shown} connected, backlight on ({brightness})", facts)

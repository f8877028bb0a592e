"""Display power and brightness: an interface, a sysfs backlight backend, a simulation.

:class:`SysfsBacklight` drives a Linux backlight device (the Raspberry Pi 7" touch
display is ``/sys/class/backlight/rpi_backlight`` or ``…/10-0045``): ``brightness``
takes ``0..max_brightness``, ``bl_power`` takes ``0`` (on) or ``4`` (powered down).
Those files belong to root unless a udev rule gives them to the ``video`` group; the
error then says so. Writes are a few bytes to sysfs, fast enough for the UI's loop.

:class:`SimulatedDisplay` records every call, for the demo and the tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

__all__ = ["BACKLIGHT_ROOT", "Display", "DisplayError", "SimulatedDisplay", "SysfsBacklight"]

BACKLIGHT_ROOT = Path("/sys/class/backlight")
BL_POWER_ON = 0
BL_POWER_OFF = 4  # FB_BLANK_POWERDOWN
_GROUP_HINT = (
    "add the tapin user to the video group, and make sure a udev rule makes the "
    "backlight files writable by that group"
)


class DisplayError(RuntimeError):
    """The display cannot be driven. The message names the device and what to do."""

    def __init__(self, device: str, problem: str) -> None:
        super().__init__(f"display {device}: {problem}")
        self.device = device
        self.problem = problem


class Display(Protocol):
    def set_brightness(self, percent: int) -> None:
        """Backlight level, 0..100 (clamped). Raises :class:`DisplayError`."""
        ...

    def set_power(self, on: bool) -> None:
        """Backlight on or off. Raises :class:`DisplayError`."""
        ...


def _clamp(percent: int) -> int:
    return max(0, min(100, int(percent)))


class SysfsBacklight:
    """A Linux backlight device under ``/sys/class/backlight``.

    ``path`` is the device folder; by default the first one found under ``root``.
    Raises :class:`DisplayError` when there is none, or when it cannot be written.
    """

    def __init__(self, path: Path | str | None = None, *, root: Path = BACKLIGHT_ROOT) -> None:
        self.path = Path(path) if path is not None else self._find(Path(root))
        self.max_brightness = self._read_max()
        self._brightness_file = self.path / "brightness"
        self._power_file = self.path / "bl_power"
        self.has_power_switch = self._power_file.exists()
        for file in (self._brightness_file, self._power_file):
            if file.exists() and not os.access(file, os.W_OK):
                raise DisplayError(str(self.path), f"cannot write {file.name}: {_GROUP_HINT}")
        self._last_percent = 100

    @staticmethod
    def _find(root: Path) -> Path:
        try:
            found = sorted(p for p in root.iterdir() if (p / "brightness").exists())
        except OSError:
            found = []
        if not found:
            raise DisplayError(
                str(root),
                "no backlight device found (is the display connected and its driver "
                "loaded? set the display to 'simulated' on devices without one)",
            )
        return found[0]

    def _read_max(self) -> int:
        file = self.path / "max_brightness"
        try:
            value = int(file.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            raise DisplayError(
                str(self.path), "not a backlight device (no max_brightness)"
            ) from None
        except (OSError, ValueError) as exc:
            raise DisplayError(str(self.path), f"cannot read max_brightness: {exc}") from None
        if value <= 0:
            raise DisplayError(str(self.path), f"max_brightness is {value}; expected above 0")
        return value

    def _write(self, file: Path, value: int) -> None:
        try:
            with open(file, "w", encoding="ascii") as out:
                out.write(f"{value}\n")
        except PermissionError:
            raise DisplayError(str(self.path), f"cannot write {file.name}: {_GROUP_HINT}") from None
        except OSError as exc:
            raise DisplayError(
                str(self.path), f"cannot write {file.name}: {exc.strerror}"
            ) from None

    def raw_level(self, percent: int) -> int:
        """The ``brightness`` value for a percentage; never 0 unless asked for 0."""
        percent = _clamp(percent)
        level = round(self.max_brightness * percent / 100)
        return max(level, 1) if percent else 0

    def set_brightness(self, percent: int) -> None:
        self._last_percent = _clamp(percent)
        self._write(self._brightness_file, self.raw_level(percent))

    def set_power(self, on: bool) -> None:
        if self.has_power_switch:
            self._write(self._power_file, BL_POWER_ON if on else BL_POWER_OFF)
        else:  # no bl_power: dark is brightness 0, on is the last level asked for
            self._write(self._brightness_file, self.raw_level(self._last_percent) if on else 0)

    def brightness(self) -> int:
        """The current level in percent, read back from sysfs."""
        try:
            raw = int(self._brightness_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            raise DisplayError(str(self.path), f"cannot read brightness: {exc}") from None
        return round(raw * 100 / self.max_brightness)


class SimulatedDisplay:
    """A display that remembers what it was told: ``calls`` in order, and the result."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | bool]] = []
        self.brightness = 100
        self.powered = True

    def set_brightness(self, percent: int) -> None:
        self.brightness = _clamp(percent)
        self.calls.append(("brightness", self.brightness))

    def set_power(self, on: bool) -> None:
        self.powered = bool(on)
        self.calls.append(("power", self.powered))

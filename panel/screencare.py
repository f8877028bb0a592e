"""Screen care for an always-on panel: dim when idle, sleep at night, shift against burn-in.

The rules, from the ``[screen]`` configuration (:class:`tapin.config.ScreenSettings`):

* inside office hours (``office_hours`` on ``office_days``, the site's wall clock) the
  screen is at full brightness for ``dim_after_minutes`` after a touch, then dims to
  ``dim_level`` percent; it never sleeps;
* outside office hours it sleeps (backlight off) once idle, when
  ``sleep_outside_hours``; otherwise it behaves as in office hours;
* a meeting in progress or starting within 10 minutes (``busy_soon``) keeps it awake
  (dimmed when idle) even outside office hours;
* a touch wakes it. The touch that wakes a sleeping screen must not also press a
  button: :meth:`ScreenCare.touched` returns ``True`` and the app swallows it. A touch
  on a dimmed (still readable) screen goes through;
* every ``pixel_shift_minutes`` the whole UI moves to the next of a few offsets of at
  most 4 px, so no pixel shows the same thing all day.

Idle time is measured in real (UTC) time, so a DST change neither dims nor wakes the
screen by itself. Nothing here imports Kivy: the app calls :meth:`ScreenCare.update`
from a clock tick and :meth:`ScreenCare.touched` from the window's touch handler.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from tapin.config import ScreenSettings
from tapin.hardware.display import Display, DisplayError

__all__ = [
    "ASLEEP",
    "AWAKE",
    "BUSY_SOON",
    "DEFAULT_OFFSETS",
    "ScreenCare",
    "ScreenState",
    "busy_soon",
]

log = logging.getLogger(__name__)

FULL_BRIGHTNESS = 100
BUSY_SOON = timedelta(minutes=10)
MAX_SHIFT = 4
# A 3x3 walk around the origin, 2 px apart: each step moves one notch, never back.
DEFAULT_OFFSETS: tuple[tuple[int, int], ...] = (
    (0, 0),
    (2, 0),
    (2, 2),
    (0, 2),
    (-2, 2),
    (-2, 0),
    (-2, -2),
    (0, -2),
    (2, -2),
)


@dataclass(frozen=True, slots=True)
class ScreenState:
    brightness: int
    """Backlight percent, 0..100 (0 when asleep)."""
    asleep: bool


AWAKE = ScreenState(FULL_BRIGHTNESS, False)
ASLEEP = ScreenState(0, True)


class _Timed(Protocol):
    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def busy_soon(meetings: Iterable[_Timed], now: datetime, within: timedelta = BUSY_SOON) -> bool:
    """A meeting is in progress, or starts within ``within`` of ``now``."""
    moment = now.astimezone(UTC)
    return any(m.start.astimezone(UTC) - within <= moment < m.end.astimezone(UTC) for m in meetings)


class ScreenCare:
    """Decides brightness and sleep, and (given a display) drives it.

    ``zone`` is the site's time zone (office hours are wall-clock times there).
    ``awake_since`` counts as the last touch, so a panel that just started is lit.
    Raises :class:`ValueError` for offsets further than 4 px.
    """

    def __init__(
        self,
        settings: ScreenSettings,
        zone: tzinfo,
        *,
        display: Display | None = None,
        awake_since: datetime | None = None,
        offsets: Sequence[tuple[int, int]] = DEFAULT_OFFSETS,
    ) -> None:
        if not offsets or any(abs(dx) > MAX_SHIFT or abs(dy) > MAX_SHIFT for dx, dy in offsets):
            raise ValueError(f"pixel offsets must be at most {MAX_SHIFT} px, got {offsets!r}")
        self.settings = settings
        self.zone = zone
        self.display = display
        self.offsets = tuple(offsets)
        self.last_touch = awake_since
        self.state = AWAKE
        self._applied: ScreenState | None = None
        self._display_problem: str | None = None

    # the rules ---------------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def in_office_hours(self, now: datetime) -> bool:
        local = self._local(now)
        s = self.settings
        return local.weekday() in s.office_days and s.office_start <= local.time() < s.office_end

    def idle(self, now: datetime, last_touch: datetime | None) -> timedelta | None:
        """Real time since the last touch (``None``: never touched)."""
        if last_touch is None:
            return None
        since = self._local(now).astimezone(UTC) - self._local(last_touch).astimezone(UTC)
        return max(timedelta(0), since)

    def decide(
        self, now_local: datetime, last_touch: datetime | None, *, busy_soon: bool = False
    ) -> ScreenState:
        """The screen's state at ``now_local`` (aware, or naive in the site's zone)."""
        idle = self.idle(now_local, last_touch)
        recently_touched = idle is not None and idle < timedelta(
            minutes=self.settings.dim_after_minutes
        )
        if recently_touched:
            return AWAKE
        stays_on = (
            busy_soon or self.in_office_hours(now_local) or not self.settings.sleep_outside_hours
        )
        return ScreenState(self.settings.dim_level, False) if stays_on else ASLEEP

    def pixel_offset(self, now: datetime) -> tuple[int, int]:
        """Where to draw the UI now: the next offset every ``pixel_shift_minutes``."""
        minutes = self.settings.pixel_shift_minutes
        if minutes <= 0:
            return (0, 0)
        step = int(self._local(now).timestamp() // (minutes * 60))
        return self.offsets[step % len(self.offsets)]

    # driving the display -----------------------------------------------------------

    def update(self, now: datetime, *, busy_soon: bool = False) -> ScreenState:
        """Decide from the last touch and apply the result to the display (if any)."""
        self.state = self.decide(now, self.last_touch, busy_soon=busy_soon)
        self._apply()
        return self.state

    def touched(self, now: datetime) -> bool:
        """A finger on the glass: wake up. ``True`` when the screen was asleep, so the
        app must swallow this touch (it only woke the screen)."""
        was_asleep = self.state.asleep
        self.last_touch = now
        self.state = AWAKE
        self._apply()
        return was_asleep

    def _apply(self) -> None:
        if self.display is None or self.state == self._applied:
            return
        before, after = self._applied, self.state
        try:
            if after.asleep:
                self.display.set_power(False)
            else:
                self.display.set_brightness(after.brightness)
                if before is None or before.asleep:
                    self.display.set_power(True)  # after the level: no flash at the old one
        except DisplayError as exc:
            if str(exc) != self._display_problem:
                log.warning("screen care cannot drive the display: %s", exc)
                self._display_problem = str(exc)
            return
        self._applied = after
        self._display_problem = None
        log.debug("screen %s", "asleep" if after.asleep else f"at {after.brightness}%")

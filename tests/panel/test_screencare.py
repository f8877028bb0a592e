"""Screen care: office hours, weekends, DST, wake on touch, busy rooms, burn-in shifts,
the [screen] configuration, and driving a real (fake sysfs) backlight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from panel.screencare import ASLEEP, AWAKE, ScreenCare, ScreenState, busy_soon
from tapin.config import ConfigError, ScreenSettings, load_config
from tapin.domain import Meeting
from tapin.hardware.display import SimulatedDisplay, SysfsBacklight

Z = ZoneInfo("Europe/Stockholm")
SETTINGS = ScreenSettings()  # 07:00-19:00 mon-fri, dim after 5 min to 30 %, sleep at night
DIM = ScreenState(30, False)


def at(day: int, hour: int, minute: int = 0, *, month: int = 11, fold: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=Z, fold=fold)


@pytest.fixture
def care() -> ScreenCare:
    return ScreenCare(SETTINGS, Z)


# office hours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(30, 6, 59), ASLEEP),  # Monday, before opening
        (at(30, 7, 0), DIM),  # opening: awake (dimmed, nobody touched it)
        (at(30, 12, 0), DIM),
        (at(30, 18, 59), DIM),
        (at(30, 19, 0), ASLEEP),  # closing
        (at(28, 12, 0), ASLEEP),  # Saturday
        (at(29, 12, 0), ASLEEP),  # Sunday
        (at(4, 12, 0, month=12), DIM),  # Friday
    ],
)
def test_office_hours_edges_and_weekends(care: ScreenCare, now: datetime, expected) -> None:
    assert care.decide(now, None) == expected


def test_recent_touch_is_full_brightness_then_dims(care: ScreenCare) -> None:
    touch = at(30, 10, 0)
    assert care.decide(touch + timedelta(minutes=4, seconds=59), touch) == AWAKE
    assert care.decide(touch + timedelta(minutes=5), touch) == DIM


def test_a_touch_at_night_wakes_it_for_a_while(care: ScreenCare) -> None:
    touch = at(30, 22, 0)
    assert care.decide(touch + timedelta(minutes=1), touch) == AWAKE
    assert care.decide(touch + timedelta(minutes=5), touch) == ASLEEP


def test_without_sleep_outside_hours_it_only_dims() -> None:
    care = ScreenCare(ScreenSettings(sleep_outside_hours=False), Z)
    assert care.decide(at(29, 3, 0), None) == DIM


def test_custom_days_and_hours() -> None:
    settings = ScreenSettings(
        office_start=time(8, 30),
        office_end=time(17, 0),
        office_days=frozenset({6, 0, 1, 2, 3}),  # sun-thu
        dim_level=50,
    )
    care = ScreenCare(settings, Z)
    assert care.decide(at(29, 8, 30), None) == ScreenState(50, False)  # Sunday
    assert care.decide(at(29, 8, 29), None) == ASLEEP
    assert care.decide(at(4, 12, 0, month=12), None) == ASLEEP  # Friday


def test_aware_times_in_other_zones_and_naive_local_times(care: ScreenCare) -> None:
    assert care.decide(datetime(2026, 11, 30, 6, 0, tzinfo=UTC), None) == DIM  # 07:00 here
    assert care.decide(datetime(2026, 11, 30, 5, 59, tzinfo=UTC), None) == ASLEEP
    assert care.decide(datetime(2026, 11, 30, 7, 0), None) == DIM  # naive: site time


# DST in Europe/Stockholm ---------------------------------------------------------------------


def test_spring_forward_day() -> None:
    care = ScreenCare(ScreenSettings(office_days=frozenset(range(7))), Z)
    # 2026-03-29: 02:00 CET becomes 03:00 CEST. 07:00 local is 05:00 UTC that day.
    assert care.decide(datetime(2026, 3, 29, 4, 59, tzinfo=UTC), None) == ASLEEP
    assert care.decide(datetime(2026, 3, 29, 5, 0, tzinfo=UTC), None) == DIM
    # Across the gap: touched at 01:58 CET, now 03:01 CEST is 3 real minutes later.
    touch = at(29, 1, 58, month=3)
    assert care.decide(at(29, 3, 1, month=3), touch) == AWAKE
    assert care.decide(at(29, 3, 3, month=3), touch) == ASLEEP


def test_fall_back_day() -> None:
    care = ScreenCare(ScreenSettings(office_days=frozenset(range(7))), Z)
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    touch = at(25, 2, 58, month=10)  # the first 02:58 (CEST, 00:58 UTC)
    later = at(25, 2, 1, month=10, fold=1)  # the second 02:01 (CET, 01:01 UTC)
    assert later.astimezone(UTC) - touch.astimezone(UTC) == timedelta(minutes=3)
    assert care.decide(later, touch) == AWAKE
    # The wall clock reads 58 minutes *earlier* than the touch; it is 2 minutes later.
    assert care.decide(at(25, 2, 0, month=10, fold=1), touch) == AWAKE
    # 03:00 CET is 62 real minutes after the touch (2 minutes of wall clock): asleep.
    assert care.decide(at(25, 3, 0, month=10), touch) == ASLEEP
    # Opening time is still 07:00 local (06:00 UTC after the change).
    assert care.decide(datetime(2026, 10, 25, 5, 59, tzinfo=UTC), None) == ASLEEP
    assert care.decide(datetime(2026, 10, 25, 6, 0, tzinfo=UTC), None) == DIM


def test_monday_after_spring_forward(care: ScreenCare) -> None:
    assert care.decide(datetime(2026, 3, 30, 5, 0, tzinfo=UTC), None) == DIM  # 07:00 CEST
    assert care.decide(datetime(2026, 3, 30, 4, 59, tzinfo=UTC), None) == ASLEEP


# meetings keep it awake -------------------------------------------------------------------


def meeting(start: datetime, minutes: int = 60) -> Meeting:
    return Meeting(id="m", room_id="aurora", start=start, end=start + timedelta(minutes=minutes))


def test_busy_soon_keeps_it_awake_outside_hours(care: ScreenCare) -> None:
    night = at(30, 20, 0)
    assert care.decide(night, None) == ASLEEP
    assert care.decide(night, None, busy_soon=True) == DIM
    assert care.decide(night, night - timedelta(minutes=1), busy_soon=True) == AWAKE


@pytest.mark.parametrize(
    ("offset_minutes", "expected"),
    [(-11, False), (-10, True), (0, True), (59, True), (60, False)],
)
def test_busy_soon_window(offset_minutes: int, expected: bool) -> None:
    start = at(30, 20, 0)
    now = start + timedelta(minutes=offset_minutes)
    assert busy_soon([meeting(start)], now) is expected
    assert busy_soon([], now) is False


# touches ----------------------------------------------------------------------------------


def test_the_touch_that_wakes_a_sleeping_screen_is_swallowed() -> None:
    display = SimulatedDisplay()
    care = ScreenCare(SETTINGS, Z, display=display)
    night = at(30, 22, 0)
    assert care.update(night) == ASLEEP
    assert care.touched(night) is True  # woke it: swallow
    assert care.state == AWAKE
    assert care.touched(night + timedelta(seconds=5)) is False  # awake: goes through
    assert care.update(night + timedelta(minutes=4)) == AWAKE
    assert care.update(night + timedelta(minutes=6)) == ASLEEP
    assert display.calls == [
        ("power", False),
        ("brightness", 100),
        ("power", True),
        ("power", False),
    ]


def test_a_touch_on_a_dimmed_screen_goes_through() -> None:
    care = ScreenCare(SETTINGS, Z, display=SimulatedDisplay())
    assert care.update(at(30, 10, 0)) == DIM
    assert care.touched(at(30, 10, 0)) is False
    assert care.state == AWAKE


def test_a_panel_that_just_started_is_lit() -> None:
    display = SimulatedDisplay()
    care = ScreenCare(SETTINGS, Z, display=display, awake_since=at(30, 10, 0))
    assert care.update(at(30, 10, 1)) == AWAKE
    assert care.update(at(30, 10, 2)) == AWAKE  # unchanged: nothing written again
    assert display.calls == [("brightness", 100), ("power", True)]


def test_a_broken_display_is_logged_once_and_retried(tmp_path: Path, caplog) -> None:
    device = tmp_path / "rpi_backlight"
    device.mkdir()
    for name, text in (("brightness", "255"), ("max_brightness", "255"), ("bl_power", "0")):
        (device / name).write_text(text)
    display = SysfsBacklight(device)
    care = ScreenCare(SETTINGS, Z, display=display)
    (device / "bl_power").unlink()
    (device / "bl_power").mkdir()  # writes now fail
    for minute in range(3):
        assert care.update(at(30, 22, minute)) == ASLEEP
    assert len([r for r in caplog.records if "cannot drive the display" in r.getMessage()]) == 1
    (device / "bl_power").rmdir()
    (device / "bl_power").write_text("0")
    care.update(at(30, 22, 4))
    assert (device / "bl_power").read_text().strip() == "4"
    care.touched(at(30, 22, 5))
    assert (device / "bl_power").read_text().strip() == "0"
    assert (device / "brightness").read_text().strip() == "255"
    care.update(at(1, 10, 0, month=12))  # Tuesday morning, idle: dimmed
    assert (device / "brightness").read_text().strip() == "76"  # 30 % of 255


# pixel shift ------------------------------------------------------------------------------


def test_pixel_offsets_are_small_and_cycle(care: ScreenCare) -> None:
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    period = timedelta(minutes=SETTINGS.pixel_shift_minutes)
    seen = [care.pixel_offset(start + i * period) for i in range(len(care.offsets) * 2)]
    assert all(abs(dx) <= 4 and abs(dy) <= 4 for dx, dy in seen)
    n = len(care.offsets)
    assert len(set(seen[:n])) == n  # every offset used once per cycle
    assert seen[:n] == seen[n:]  # and the cycle repeats
    assert all(a != b for a, b in pairwise(seen))  # moves every period
    assert care.pixel_offset(start + period / 2) == care.pixel_offset(start)  # steady within


def test_pixel_shift_can_be_off_and_offsets_are_checked() -> None:
    care = ScreenCare(ScreenSettings(pixel_shift_minutes=0), Z)
    assert care.pixel_offset(at(30, 10, 0)) == (0, 0)
    with pytest.raises(ValueError, match="at most 4 px"):
        ScreenCare(SETTINGS, Z, offsets=[(0, 0), (5, 0)])


# configuration ----------------------------------------------------------------------------

BASE = """
[device]
role = "panel"
room = "aurora"

[site]
timezone = "Europe/Stockholm"

[paths]
state_dir = "{state}"
"""


def load(tmp_path: Path, screen: str):
    path = tmp_path / "tapin.toml"
    path.write_text(BASE.format(state=tmp_path) + "\n[screen]\n" + screen)
    return load_config(path)


def test_screen_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "").screen == ScreenSettings()


def test_screen_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'office_hours = "08:30 - 17:45"\noffice_days = "sun-thu"\ndim_after_minutes = 2\n'
        "dim_level = 15\nsleep_outside_hours = false\npixel_shift_minutes = 0\n",
    )
    assert config.screen == ScreenSettings(
        office_start=time(8, 30),
        office_end=time(17, 45),
        office_days=frozenset({6, 0, 1, 2, 3}),
        dim_after_minutes=2,
        dim_level=15,
        sleep_outside_hours=False,
        pixel_shift_minutes=0,
    )
    assert load(tmp_path, 'office_days = "mon,wed,fri-sat"').screen.office_days == {0, 2, 4, 5}


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ('office_hours = "7-19"', "screen.office_hours", "two 24-hour times"),
        ('office_hours = "19:00-07:00"', "screen.office_hours", "end must be after"),
        ('office_hours = "07:00-24:00"', "screen.office_hours", "two 24-hour times"),
        ('office_days = "weekdays"', "screen.office_days", "mon-fri"),
        ('office_days = "mon,,fri"', "screen.office_days", "mon-fri"),
        ("dim_after_minutes = 0", "screen.dim_after_minutes", "from 1 to 1440"),
        ("dim_after_minutes = true", "screen.dim_after_minutes", "whole number"),
        ("dim_level = 101", "screen.dim_level", "from 1 to 100"),
        ("dim_level = 30.5", "screen.dim_level", "whole number"),
        ('sleep_outside_hours = "yes"', "screen.sleep_outside_hours", "true or false"),
        ("pixel_shift_minutes = -1", "screen.pixel_shift_minutes", "from 0 to 1440"),
        ("brightness = 80", "screen.brightness", "unknown key"),
    ],
)
def test_screen_mistakes_name_the_key(tmp_path: Path, line: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, line + "\n")
    assert caught.value.key == key and words in str(caught.value)

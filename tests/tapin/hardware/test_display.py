"""The sysfs backlight against a fake sysfs folder (real files), and the simulated display."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapin.hardware.display import DisplayError, SimulatedDisplay, SysfsBacklight


def backlight(root: Path, name: str = "rpi_backlight", *, maximum: int = 255) -> Path:
    device = root / name
    device.mkdir(parents=True)
    (device / "brightness").write_text(f"{maximum}\n")
    (device / "max_brightness").write_text(f"{maximum}\n")
    (device / "bl_power").write_text("0\n")
    (device / "actual_brightness").write_text(f"{maximum}\n")
    return device


def value(device: Path, name: str) -> str:
    return (device / name).read_text().strip()


def test_brightness_is_scaled_to_max_brightness(tmp_path: Path) -> None:
    device = backlight(tmp_path, maximum=255)
    display = SysfsBacklight(device)
    display.set_brightness(30)
    assert value(device, "brightness") == "76"  # round(255 * 0.3)
    assert display.brightness() == 30
    display.set_brightness(100)
    assert value(device, "brightness") == "255"
    display.set_brightness(150)  # clamped
    assert value(device, "brightness") == "255"
    display.set_brightness(0)
    assert value(device, "brightness") == "0"


def test_a_low_percentage_never_turns_a_coarse_backlight_off(tmp_path: Path) -> None:
    device = backlight(tmp_path, maximum=7)
    display = SysfsBacklight(device)
    display.set_brightness(1)
    assert value(device, "brightness") == "1"


def test_power_uses_bl_power(tmp_path: Path) -> None:
    device = backlight(tmp_path)
    display = SysfsBacklight(device)
    display.set_power(False)
    assert value(device, "bl_power") == "4"
    display.set_power(True)
    assert value(device, "bl_power") == "0"


def test_without_bl_power_off_is_brightness_zero(tmp_path: Path) -> None:
    device = backlight(tmp_path, maximum=100)
    (device / "bl_power").unlink()
    display = SysfsBacklight(device)
    display.set_brightness(40)
    display.set_power(False)
    assert value(device, "brightness") == "0"
    display.set_power(True)
    assert value(device, "brightness") == "40"


def test_the_first_backlight_is_found_under_the_root(tmp_path: Path) -> None:
    backlight(tmp_path, "10-0045")
    (tmp_path / "not-a-backlight").mkdir()
    assert SysfsBacklight(root=tmp_path).path.name == "10-0045"


def test_no_backlight_says_so(tmp_path: Path) -> None:
    with pytest.raises(DisplayError, match="no backlight device found"):
        SysfsBacklight(root=tmp_path)
    with pytest.raises(DisplayError, match="no backlight device found"):
        SysfsBacklight(root=tmp_path / "missing")


def test_bad_max_brightness(tmp_path: Path) -> None:
    device = backlight(tmp_path)
    (device / "max_brightness").write_text("0\n")
    with pytest.raises(DisplayError, match="max_brightness is 0"):
        SysfsBacklight(device)
    (device / "max_brightness").unlink()
    with pytest.raises(DisplayError, match="not a backlight device"):
        SysfsBacklight(device)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_backlight_tells_what_to_do(tmp_path: Path) -> None:
    device = backlight(tmp_path)
    (device / "brightness").chmod(0o444)
    with pytest.raises(DisplayError, match="add the tapin user to the video group"):
        SysfsBacklight(device)


def test_a_write_refused_by_the_kernel_tells_what_to_do(tmp_path: Path) -> None:
    """A write refused after the check (as root, or a racing udev rule): a directory
    where the file should be stands in for sysfs refusing the write."""
    device = backlight(tmp_path)
    display = SysfsBacklight(device)
    (device / "bl_power").unlink()
    (device / "bl_power").mkdir()
    with pytest.raises(DisplayError) as caught:
        display.set_power(False)
    assert str(caught.value).startswith(f"display {device}: cannot write bl_power")


def test_simulated_display_records_calls() -> None:
    display = SimulatedDisplay()
    display.set_brightness(30)
    display.set_power(False)
    display.set_power(True)
    display.set_brightness(120)
    assert display.calls == [
        ("brightness", 30),
        ("power", False),
        ("power", True),
        ("brightness", 100),
    ]
    assert display.brightness == 100 and display.powered

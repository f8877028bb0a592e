"""deploy/systemd's units: ``systemd-analyze verify`` is clean, each unit's
``systemd-analyze security`` exposure is at or under its ceiling and is the figure
docs/systemd.md states, and each unit runs a command the real ``tapin`` accepts.

``verify`` needs every ``ExecStart=`` binary to exist, so the units are checked from a
temporary copy whose ``/opt/tapin/venv/bin/tapin`` is this venv's ``tapin``; nothing
else is changed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
DOCS = REPO / "docs" / "systemd.md"
INSTALLED_TAPIN = "/opt/tapin/venv/bin/tapin"

CEILINGS = {
    "tapin-panel.service": 1.8,
    "tapin-kiosk.service": 1.6,
    "tapin-agent.service": 1.3,
    "tapin-central.service": 1.2,
    "tapin-central-retention.service": 1.2,
}
"""The highest ``systemd-analyze security`` exposure each unit may have (0 best, 10 worst)."""
LONG_RUNNING = (
    "tapin-panel.service",
    "tapin-kiosk.service",
    "tapin-agent.service",
    "tapin-central.service",
)
STATE_DIRS = {"tapin-central.service": "/var/lib/tapin-central"}


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is required in CI (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed")
    return tool


def directives(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order; repeated keys kept."""
    found: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in directives(path) if k == key]


@pytest.fixture(scope="module")
def checkable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units, with ``ExecStart=`` pointing at this venv's ``tapin``."""
    folder = tmp_path_factory.mktemp("units")
    tapin = Path(sys.executable).parent / "tapin"
    assert tapin.exists(), "the venv's tapin entry point (pip install -e .)"
    for unit in UNITS.iterdir():
        text = unit.read_text()
        (folder / unit.name).write_text(text.replace(INSTALLED_TAPIN, str(tapin)))
    return folder


def test_every_unit_is_there() -> None:
    names = {p.name for p in UNITS.iterdir()}
    assert set(CEILINGS) | {"tapin-central-retention.timer"} <= names


def test_verify_is_clean(checkable: Path) -> None:
    units = sorted(str(p) for p in checkable.iterdir())
    result = subprocess.run(
        [_analyze(), "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not said, said


def test_verify_catches_a_broken_unit(checkable: Path, tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a missing binary are reported."""
    broken = tmp_path / "tapin-agent.service"
    text = (checkable / "tapin-agent.service").read_text()
    text = text.replace("WatchdogSec=", "WatchdogSecs=")
    broken.write_text(text.replace(str(Path(sys.executable).parent / "tapin"), "/nowhere/tapin"))
    result = subprocess.run(
        [_analyze(), "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "WatchdogSecs" in result.stderr and "/nowhere/tapin" in result.stderr


def exposure(unit: Path) -> float:
    result = subprocess.run(
        [_analyze(), "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr[-500:]
    return float(match.group(1))


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_exposure_at_or_under_its_ceiling_and_as_documented(checkable: Path, name: str) -> None:
    figure = exposure(checkable / name)
    assert figure <= CEILINGS[name], f"{name}: exposure {figure} > ceiling {CEILINGS[name]}"
    row = re.search(
        rf"^\| `{re.escape(name)}` \| (\d+\.\d) \| (\d+\.\d) \|", DOCS.read_text(), re.M
    )
    assert row, f"docs/systemd.md has no exposure row for {name}"
    assert float(row.group(1)) == figure, f"docs/systemd.md says {row.group(1)}, is {figure}"
    assert float(row.group(2)) == CEILINGS[name]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_units_are_watched_and_restarted(name: str) -> None:
    unit = UNITS / name
    assert values(unit, "Type") == ["notify"]
    assert values(unit, "NotifyAccess") == ["main"]
    assert values(unit, "WatchdogSec") == ["30s"]
    assert values(unit, "Restart") == ["always"]
    assert values(unit, "StartLimitBurst") and values(unit, "StartLimitIntervalSec")
    assert values(unit, "NoNewPrivileges") == ["yes"]
    assert values(unit, "ProtectSystem") == ["strict"]
    # the state dir only; a device may also rewrite its own config (reconfigure command)
    writable = STATE_DIRS.get(name, "/var/lib/tapin /etc/tapin")
    assert values(unit, "ReadWritePaths") == [writable]
    if name != "tapin-central.service":  # decommissioned (exit 78): never started again
        assert values(unit, "RestartPreventExitStatus") == ["78"]
    assert values(unit, "CapabilityBoundingSet") == [""]
    assert values(unit, "User") in (["tapin"], ["tapin-central"])


def test_the_screens_may_map_jit_code_the_headless_may_not() -> None:
    """Mesa (llvmpipe) needs W+X memory; the agent and central do not."""
    for name in ("tapin-panel.service", "tapin-kiosk.service"):
        assert not values(UNITS / name, "MemoryDenyWriteExecute"), name
        allowed = values(UNITS / name, "DeviceAllow")
        assert "char-drm rw" in allowed and "char-input rw" in allowed
        assert values(UNITS / name, "DevicePolicy") == ["closed"]
    for name in ("tapin-agent.service", "tapin-central.service"):
        assert values(UNITS / name, "MemoryDenyWriteExecute") == ["yes"], name
        assert values(UNITS / name, "PrivateDevices") == ["yes"], name


@pytest.mark.parametrize("name", [*LONG_RUNNING, "tapin-central-retention.service"])
def test_exec_start_is_a_command_the_real_cli_accepts(name: str) -> None:
    from tapin.cli import build_parser

    (line,) = values(UNITS / name, "ExecStart")
    argv = shlex.split(line)
    assert argv[0] == INSTALLED_TAPIN
    args = build_parser().parse_args(argv[1:])  # argparse exits (SystemExit) when wrong
    assert callable(getattr(args, "func", None)) or getattr(args, "command_row", None)
    if name in ("tapin-panel.service", "tapin-kiosk.service", "tapin-agent.service"):
        assert str(args.config) == "/etc/tapin/tapin.toml"  # tapin's own default path

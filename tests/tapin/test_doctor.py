"""``tapin doctor`` on a device enrolled with a real central (PostgreSQL, TLS, uvicorn in
its own process): healthy first, then each fault injected one at a time. What cannot
exist here (a display, a Bluetooth radio, an NTP-synchronised clock) is a folder of fake
``/sys`` and ``/run`` files given as the doctor's root (``--root``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from central.devcert import make_pki
from central.local import Device, LocalCentral, throwaway_database
from sync.files import write_private
from sync.identity import load_identity
from sync.queue import SealedQueue
from tapin.config import load_config
from tapin.device.doctor import Machine, Report, clock_check, display_check, examine

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@pytest.fixture(scope="module")
def central(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    """One real central for the module (each test enrolls a device of its own)."""
    with throwaway_database() as dsn:
        server = LocalCentral(dsn, tmp_path_factory.mktemp("doctor") / "central")
        server.prepare().start()
        try:
            yield server
        finally:
            server.stop()


_count = iter(range(1000))


def enroll(central: LocalCentral, room: str = "aurora") -> Device:
    return central.enroll(f"panel-{next(_count)}", room=room)


def fake_root(
    folder: Path,
    *,
    display: str = "connected",
    brightness: str = "180",
    synced: bool = True,
    bluetooth: bool = True,
    rfkill_soft: str = "0",
) -> Path:
    """The /sys and /run files a healthy Pi with the 7" display and Bluetooth has."""
    drm = folder / "sys/class/drm/card1-DSI-1"
    drm.mkdir(parents=True)
    (drm / "status").write_text(display + "\n")
    (folder / "sys/class/drm/card1").mkdir()  # the card itself is not a connector
    light = folder / "sys/class/backlight/10-0045"
    light.mkdir(parents=True)
    (light / "max_brightness").write_text("255\n")
    (light / "brightness").write_text(brightness + "\n")
    (light / "bl_power").write_text("0\n")
    if bluetooth:
        (folder / "sys/class/bluetooth/hci0").mkdir(parents=True)
    switch = folder / "sys/class/rfkill/rfkill0"
    switch.mkdir(parents=True)
    (switch / "type").write_text("bluetooth\n")
    (switch / "soft").write_text(rfkill_soft + "\n")
    (switch / "hard").write_text("0\n")
    if synced:
        flag = folder / "run/systemd/timesync"
        flag.mkdir(parents=True)
        (flag / "synchronized").write_text("")
    return folder


def add_config(device: Device, text: str) -> None:
    with open(device.config, "a", encoding="utf-8") as out:
        out.write("\n" + text + "\n")


def no_ntp() -> bool:
    """The kernel's clock state on a Pi whose time sync is off."""
    return False


def statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def doctor_cli(device: Device, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return device.tapin("doctor", "--root", str(root), *extra, check=False)


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_agent(device: Device) -> Agent:
    """``tapin agent`` for real, until its control socket answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapin", "agent", "--config", str(device.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (device.state_dir / "control.sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the agent did not start")
        time.sleep(0.1)
    return Agent(proc)


# healthy ---------------------------------------------------------------------------------


def test_a_healthy_device_passes_every_check(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    root = fake_root(tmp_path / "root")
    agent = start_agent(device)
    try:
        result = doctor_cli(device, root)
        as_json = doctor_cli(device, root, "--json")
    finally:
        agent.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if len(line.split()) > 2}
    assert "central accepts it" in lines["enrollment"]
    assert f"central at {central.url} answers" in lines["central"]
    assert "certificate is trusted" in lines["tls"]
    assert "the clock is synchronised and agrees with central" in lines["clock"]
    assert "DSI-1 connected, backlight on" in lines["display"]
    assert "WARN" not in result.stdout and "FAIL" not in result.stdout
    assert result.stdout.rstrip().endswith("healthy")

    assert as_json.returncode == 0
    data = json.loads(as_json.stdout)
    assert data["healthy"] is True
    names = [c["name"] for c in data["checks"]]
    assert names == [
        "config",
        "enrollment",
        "central",
        "tls",
        "clock",
        "disk",
        "runtime",
        "queue",
        "bluetooth",
        "display",
    ]
    for check in data["checks"]:
        assert check["status"] in ("ok", "skip"), check
        assert isinstance(check["words"], str) and check["words"]
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["queue"]["pending"] == 0
    assert by_name["disk"]["free_bytes"] > 0
    assert by_name["enrollment"]["scope"] == "room:aurora"
    assert by_name["bluetooth"]["status"] == "skip"  # presence is off


# faults, one at a time ---------------------------------------------------------------------


async def test_central_down_is_said_as_such(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    root = fake_root(tmp_path / "root", synced=False)
    central.stop()
    try:
        report = await examine(device.config, machine=Machine(root=root, kernel_clock=no_ntp))
        cli = doctor_cli(device, root, "--json")
    finally:
        central.start()
    assert statuses(report)["central"] == "fail"
    words = report.check("central").words
    assert "central is unreachable" in words and "connection refused" in words
    assert report.check("tls").status == "skip"
    enrollment = report.check("enrollment")
    assert enrollment.status == "warn" and "not confirmed" in enrollment.words
    # not synchronised, and no central to compare with: nothing vouches for the clock
    assert report.check("clock").status == "fail"
    assert "not synchronised" in report.check("clock").words
    assert report.exit_status == 1
    assert cli.returncode == 1
    data = json.loads(cli.stdout)
    assert data["healthy"] is False
    assert {c["name"]: c["status"] for c in data["checks"]}["central"] == "fail"


async def test_a_certificate_problem_is_not_called_the_network(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = enroll(central)
    other = make_pki(tmp_path / "other-pki")  # another organisation's CA
    write_private(device.state_dir / "credentials" / "ca.pem", other.ca_file.read_bytes())
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    tls = report.check("tls")
    assert tls.status == "fail"
    assert "certificate is not trusted" in tls.words
    assert "a certificate problem, not the network" in tls.words
    assert report.check("central").status == "skip"
    assert "unreachable" not in report.check("central").words
    assert report.exit_status == 1


async def test_a_missing_trust_file_is_a_tls_failure(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    trust = device.state_dir / "credentials" / "ca.pem"
    trust.unlink()
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    tls = report.check("tls")
    assert tls.status == "fail"
    assert f"the trusted CA file {trust} is missing" in tls.words
    assert report.check("central").status == "skip"
    assert "central was not asked" in report.check("enrollment").words
    assert report.exit_status == 1


async def test_a_revoked_device_is_told_so(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    central.central("revoke", load_identity(device.state_dir).device_id)
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    enrollment = report.check("enrollment")
    assert enrollment.status == "fail"
    assert "this device was revoked at central" in enrollment.words
    assert "tapin enroll --force" in enrollment.words
    assert report.check("central").status == "ok"  # central itself is fine
    assert report.exit_status == 1


async def test_a_config_for_another_room_is_the_wrong_room(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = enroll(central)
    device.config.write_text(device.config.read_text().replace('room = "aurora"', 'room = "skog"'))
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    enrollment = report.check("enrollment")
    assert enrollment.status == "fail"
    assert "wrong room" in enrollment.words
    assert "room 'skog'" in enrollment.words and "room 'aurora'" in enrollment.words
    assert report.exit_status == 1


class TinyDisk:
    """``os.statvfs`` of a file system with ``free`` bytes left of 8 GB."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, path: Path) -> os.statvfs_result:
        real = os.statvfs(path)
        fields = list(real)
        fields[0] = fields[1] = 4096  # f_bsize, f_frsize
        fields[2] = 8 * 2**30 // 4096  # f_blocks
        fields[3] = fields[4] = self.free // 4096  # f_bfree, f_bavail
        return os.statvfs_result(fields)


async def test_a_full_disk_fails_and_a_nearly_full_one_warns(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = enroll(central)
    root = fake_root(tmp_path / "root")
    full = await examine(device.config, machine=Machine(root=root, statvfs=TinyDisk(8 * 2**20)))
    disk = full.check("disk")
    assert disk.status == "fail" and "the disk is full: 8 MB free" in disk.words
    assert full.exit_status == 1
    nearly = await examine(device.config, machine=Machine(root=root, statvfs=TinyDisk(300 * 2**20)))
    assert nearly.check("disk").status == "warn"
    assert "nearly full: 300 MB free" in nearly.check("disk").words
    assert nearly.check("disk").facts["free_bytes"] == 300 * 2**20


def _queue(device: Device, clock: datetime | None = None) -> SealedQueue:
    identity = load_identity(device.state_dir)
    return SealedQueue(
        device.state_dir / "queue.db",
        identity.sealing_key(),
        device_id=identity.device_id,
        clock=(lambda: clock) if clock else (lambda: datetime.now(UTC)),
    )


def _report(queue: SealedQueue, n: int) -> list[str]:
    import uuid

    return [
        queue.enqueue(
            "issue.report",
            "room:aurora",
            {"report_id": str(uuid.uuid4()), "category": "display", "text": "flickers"},
        ).id
        for _ in range(n)
    ]


async def test_rejected_and_quarantined_events_warn(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    queue = _queue(device)
    try:
        first, second = _report(queue, 2)
        batch = queue.take_batch(10)
        queue.settle(
            [
                {"id": first, "outcome": "rejected", "reason": "room closed"},
                {"id": second, "outcome": "rejected", "code": "unsealable", "reason": "bad seal"},
            ],
            batch=batch,
        )
    finally:
        queue.close()
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    check = report.check("queue")
    assert check.status == "warn"
    assert "1 rejected, 1 quarantined" in check.words
    assert "tapin queue --state rejected" in check.words
    assert "tapin queue --state quarantined" in check.words
    assert report.exit_status == 0  # warnings only


async def test_events_waiting_for_hours_fail(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    queue = _queue(device, clock=datetime.now(UTC) - timedelta(hours=3))
    try:
        _report(queue, 3)
    finally:
        queue.close()
    report = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "root")))
    check = report.check("queue")
    assert check.status == "fail"
    assert "3 pending" in check.words
    assert "waits since 3 h 0 min ago" in check.words
    assert "not reaching central" in check.words
    assert check.facts["oldest_pending_age_seconds"] >= 3 * 3600 - 5
    assert report.exit_status == 1


async def test_bluetooth_missing_or_blocked(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    add_config(device, "[presence]\nscan = true\n")
    missing = await examine(
        device.config, machine=Machine(root=fake_root(tmp_path / "a", bluetooth=False))
    )
    check = missing.check("bluetooth")
    assert check.status == "fail" and "no Bluetooth adapter hci0" in check.words
    assert missing.exit_status == 1
    blocked = await examine(
        device.config, machine=Machine(root=fake_root(tmp_path / "b", rfkill_soft="1"))
    )
    assert blocked.check("bluetooth").status == "fail"
    assert "blocked by rfkill" in blocked.check("bluetooth").words
    present = await examine(device.config, machine=Machine(root=fake_root(tmp_path / "c")))
    assert present.check("bluetooth").status == "ok"
    assert present.exit_status == 0


async def test_display_disconnected_or_dark_in_office_hours(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = enroll(central)
    add_config(device, '[screen]\noffice_hours = "00:00-23:59"\noffice_days = "mon-sun"\n')
    unplugged = await examine(
        device.config, machine=Machine(root=fake_root(tmp_path / "a", display="disconnected"))
    )
    check = unplugged.check("display")
    assert check.status == "fail"
    assert "no display is connected (DSI-1: disconnected)" in check.words
    assert unplugged.exit_status == 1
    dark = await examine(
        device.config, machine=Machine(root=fake_root(tmp_path / "b", brightness="0"))
    )
    assert dark.check("display").status == "fail"
    assert "the backlight is off (brightness 0) during office hours" in dark.check("display").words
    assert dark.exit_status == 1


def test_a_dark_backlight_outside_office_hours_is_the_screen_asleep(tmp_path: Path) -> None:
    config_file = tmp_path / "tapin.toml"
    config_file.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "Europe/Stockholm"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n'
    )
    config = load_config(config_file)
    machine = Machine(root=fake_root(tmp_path / "root", brightness="0"))
    night = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # a Tuesday, 23:30 in Stockholm
    asleep = display_check(machine, config, night)
    assert asleep.status == "ok" and "sleeps outside office hours" in asleep.words
    morning = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert display_check(machine, config, morning).status == "fail"


async def test_an_unsynchronised_clock(central: LocalCentral, tmp_path: Path) -> None:
    device = enroll(central)
    root = fake_root(tmp_path / "root", synced=False)
    report = await examine(device.config, machine=Machine(root=root, kernel_clock=no_ntp))
    clock = report.check("clock")
    # central's Date header vouches for now, but nothing keeps it so
    assert clock.status == "warn"
    assert "not synchronised but agrees with central" in clock.words
    assert "timedatectl set-ntp true" in clock.words
    assert clock.facts["sources"]["kernel"] is False
    far = clock_check(Machine(root=root, kernel_clock=lambda: True), 300.0)
    assert far.status == "fail" and "300 s behind central" in far.words


def test_a_bad_config_fails_naming_the_key(tmp_path: Path) -> None:
    config_file = tmp_path / "tapin.toml"
    config_file.write_text('[device]\nrole = "panel"\nroom = "aurora"\nrom = "x"\n')
    root = fake_root(tmp_path / "root")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "doctor",
            "--config",
            str(config_file),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith("FAIL") and "config" in first and "rom" in first
    assert "not checked: fix the configuration first" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_bad_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tapin", "doctor", "--root", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--root" in result.stderr and "is not a directory" in result.stderr
    assert "Traceback" not in result.stderr

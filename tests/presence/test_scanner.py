"""The real bleak ``BleakScanner`` (through :class:`BleScanner`) against a simulated BlueZ."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from presence.bluez_errors import (
    AdapterBusy,
    AdapterMissing,
    BusUnavailable,
    PermissionDenied,
    ScannerError,
)
from presence.scanner import BleScanner, ScannerHealth
from presence.types import RawAdvertisement
from tests.presence.bluez_sim import BlueZSim, PrivateSystemBus, environment_for

IBEACON_UUID = bytes.fromhex("f7826da64fa24e988024bc5b71e0893e")
MAC_PATTERN = re.compile(r"[0-9A-Fa-f]{2}([:_-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")


def ibeacon(major: int, minor: int, power: int = -59) -> dict[int, bytes]:
    frame = bytes([0x02, 0x15]) + IBEACON_UUID + major.to_bytes(2, "big") + minor.to_bytes(2, "big")
    return {0x004C: frame + bytes([power & 0xFF])}


def random_address(rng: random.Random) -> str:
    # a resolvable private address: the two top bits are 01
    first = (rng.randrange(256) & 0x3F) | 0x40
    rest = [rng.randrange(256) for _ in range(5)]
    return ":".join(f"{b:02X}" for b in [first, *rest])


class Heard:
    """Collects what the scanner hands the pipeline."""

    def __init__(self) -> None:
        self.items: list[RawAdvertisement] = []

    def __call__(self, advertisement: RawAdvertisement) -> None:
        self.items.append(advertisement)

    def by(self, address: str) -> list[RawAdvertisement]:
        return [a for a in self.items if a.address == address]

    def at_least(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.items) >= count

    @property
    def addresses(self) -> set[str]:
        return {a.address for a in self.items}


async def until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(scanner: BleScanner) -> Any:
    """``scanner.run()`` in a task; stopped on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(scanner.run(stop))
    await until(lambda: scanner.health.state != "stopped" or task.done(), what="scanner start")
    if task.done():
        task.result()
    try:
        yield scanner
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def health_log() -> tuple[list[ScannerHealth], Callable[[ScannerHealth], None]]:
    log: list[ScannerHealth] = []
    return log, log.append


def states(log: list[ScannerHealth]) -> list[str]:
    out: list[str] = []
    for health in log:
        if not out or out[-1] != health.state:
            out.append(health.state)
    return out


# --- people and tags ---------------------------------------------------------------------


async def test_people_arrive_and_leave(bluez: BlueZSim) -> None:
    heard = Heard()
    alice, bob = "5E:11:22:33:44:01", "6A:11:22:33:44:02"
    scanner = BleScanner(heard, stall_after=60)
    before = time.monotonic()
    await scanner.start()
    try:
        assert bluez.count("StartDiscovery") == 1
        assert bluez.filters, "bleak sets a discovery filter before starting"
        (active_filter,) = bluez.filters.values()
        assert active_filter["Transport"] == "le"

        bluez.add_device(alice, -58, manufacturer_data={0x0006: b"\x01\x09\x20"})
        bluez.add_device(bob, -64, service_data={"0000fe9f-0000-1000-8000-00805f9b34fb": b"\x00"})
        await until(lambda: {alice, bob} <= heard.addresses, what="both people heard")

        first = heard.by(alice)[0]
        assert first.rssi == -58
        assert first.manufacturer_data == {0x0006: b"\x01\x09\x20"}
        assert before <= first.at <= time.monotonic()
        assert alice not in repr(first)
        assert heard.by(bob)[0].service_data == {"0000fe9f-0000-1000-8000-00805f9b34fb": b"\x00"}

        # Bob walks away: his signal fades, then BlueZ drops him; Alice stays
        for rssi in (-75, -88, -97):
            bluez.set_rssi(bob, rssi)
            bluez.set_rssi(alice, -58 + (rssi % 3))
        await until(lambda: heard.by(bob)[-1].rssi == -97, what="bob fading")
        bluez.remove_device(bob)
        count_bob = len(heard.by(bob))
        bluez.set_rssi(alice, -50)
        await until(lambda: heard.by(alice)[-1].rssi == -50, what="alice again")
        assert len(heard.by(bob)) == count_bob
        assert [a.rssi for a in heard.by(bob)] == [-64, -75, -88, -97]
        assert scanner.health.state == "ok"
        assert scanner.advertisements == len(heard.items)
    finally:
        await scanner.stop()
    assert bluez.count("StopDiscovery") == 1
    assert not bluez.sessions
    assert scanner.health.state == "stopped"


async def test_a_tag_walks_past_the_door(bluez: BlueZSim) -> None:
    heard = Heard()
    tag = "D4:CA:6E:00:11:22"
    walk = [-92, -85, -77, -66, -55, -49, -57, -68, -80, -91]
    scanner = BleScanner(heard, stall_after=60)
    await scanner.start()
    try:
        bluez.add_device(tag, walk[0], manufacturer_data=ibeacon(7, 42), address_type="public")
        for rssi in walk[1:]:
            await asyncio.sleep(0.005)
            bluez.set_rssi(tag, rssi)
        await until(lambda: len(heard.by(tag)) == len(walk), what="the whole walk")
    finally:
        await scanner.stop()
    seen = heard.by(tag)
    assert [a.rssi for a in seen] == walk
    assert all(a.manufacturer_data == ibeacon(7, 42) for a in seen)
    assert max(seen, key=lambda a: a.rssi).rssi == -49
    assert [a.at for a in seen] == sorted(a.at for a in seen)


async def test_a_malformed_advertisement_or_failing_handler_does_not_stop_scanning(
    bluez: BlueZSim, caplog: pytest.LogCaptureFixture
) -> None:
    heard = Heard()
    calls = 0

    def handler(advertisement: RawAdvertisement) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError(f"bad frame from {advertisement.address}")
        heard(advertisement)

    scanner = BleScanner(handler, stall_after=60)
    await scanner.start()
    try:
        bluez.add_device("C0:FF:EE:00:00:01", -70, manufacturer_data={0x004C: b"\x02"})
        bluez.add_device("C0:FF:EE:00:00:02", -71)
        await until(lambda: calls >= 2)
    finally:
        await scanner.stop()
    assert scanner.callback_errors == 1
    assert "ValueError" in caplog.text
    assert "C0:FF:EE" not in caplog.text


async def test_two_thousand_rotating_addresses(
    bluez: BlueZSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Phones rotate their random address every few minutes: 2,000 come and go."""
    caplog.set_level(logging.DEBUG)
    heard = Heard()
    rng = random.Random(2024)
    addresses = list(dict.fromkeys(random_address(rng) for _ in range(2100)))[:2000]
    scanner = BleScanner(heard, stall_after=60)
    started = time.monotonic()
    await scanner.start()
    try:
        live: dict[str, int] = {}
        sent = emitted = 0
        for batch in range(0, len(addresses), 100):
            for address in addresses[batch : batch + 100]:
                live[address] = rng.randrange(-95, -40)
                bluez.add_device(address, live[address], manufacturer_data={0x004C: b"\x10\x05"})
                sent += 1
                emitted += 1
                if emitted % 25 == 0:
                    await bluez.drain()
            # every live device advertises again, mostly with a new RSSI
            for address in live:
                rssi = rng.randrange(-95, -40)
                sent += rssi != live[address]
                live[address] = rssi
                bluez.set_rssi(address, rssi)
                emitted += 1
                if emitted % 25 == 0:
                    await bluez.drain()
            await until(heard.at_least(sent), timeout=10, what="batch heard")
            # the oldest addresses rotate away
            for address in list(live)[: max(0, len(live) - 150)]:
                del live[address]
                bluez.remove_device(address)
                emitted += 1
                if emitted % 25 == 0:
                    await bluez.drain()
        assert len(heard.items) == sent
    finally:
        await scanner.stop()
    elapsed = time.monotonic() - started
    assert heard.addresses == set(addresses)
    assert scanner.health.state == "stopped"
    assert elapsed < 20, f"2,000 rotating addresses took {elapsed:.1f} s"

    # the raw addresses never reach a log record, from us or from bleak's DEBUG output
    assert any(r.name.startswith("bleak") for r in caplog.records), "bleak logged at DEBUG"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert not MAC_PATTERN.search(text)
    sample = addresses[::97]
    for address in sample:
        assert address not in text
        assert address.replace(":", "_") not in text


# --- the watchdog ------------------------------------------------------------------------


async def _heard_once(bluez: BlueZSim, heard: Heard, address: str) -> None:
    bluez.add_device(address, -60)
    await until(lambda: address in heard.addresses, what="first advertisement")


async def test_watchdog_restarts_discovery_when_advertisements_stop(bluez: BlueZSim) -> None:
    heard = Heard()
    log, on_health = health_log()
    scanner = BleScanner(heard, stall_after=0.3, retry_delay=0.02, on_health=on_health)
    async with running(scanner):
        await _heard_once(bluez, heard, "7C:00:00:00:00:01")
        bluez.silence(cured_by="restart")
        assert bluez.discovering
        # the restarted session hears the device again and health returns to ok
        await until(lambda: states(log)[-2:] == ["restarted", "ok"], what="restart, recovery")
        assert bluez.count("StartDiscovery") == 2
        assert bluez.count("StopDiscovery") == 1
    assert states(log)[:3] == ["ok", "restarted", "ok"]
    assert states(log)[-1] == "stopped"
    assert bluez.powered_log == []
    assert scanner.health.restarts == 1
    assert "recovered after restarting discovery" in log[2].message


async def test_watchdog_power_cycles_the_adapter_when_restart_is_not_enough(
    bluez: BlueZSim,
) -> None:
    heard = Heard()
    log, on_health = health_log()
    scanner = BleScanner(heard, stall_after=0.3, retry_delay=0.02, on_health=on_health)
    async with running(scanner):
        await _heard_once(bluez, heard, "7C:00:00:00:00:02")
        bluez.silence(cured_by="power_cycle")
        await until(
            lambda: states(log)[-2:] == ["power_cycled", "ok"], what="power cycle, recovery"
        )
        assert bluez.count("StartDiscovery") == 3
    assert bluez.powered_log == [False, True]
    assert states(log)[:4] == ["ok", "restarted", "power_cycled", "ok"]
    assert states(log)[-1] == "stopped"
    assert scanner.health.power_cycles == 1


async def test_watchdog_reports_a_fault_then_recovers(bluez: BlueZSim) -> None:
    heard = Heard()
    log, on_health = health_log()
    scanner = BleScanner(heard, stall_after=0.25, retry_delay=0.02, on_health=on_health)
    async with running(scanner):
        await _heard_once(bluez, heard, "7C:00:00:00:00:03")
        bluez.silence(cured_by="never")
        await until(lambda: scanner.health.state == "fault", what="fault")
        assert "even after restarting discovery and power-cycling it" in scanner.health.message
        assert bluez.powered_log == [False, True]
        # the controller comes back by itself; the watchdog's next restart picks it up
        bluez.silenced = None
        await until(lambda: states(log)[-1] == "ok", what="recovery")
    assert states(log)[:5] == ["ok", "restarted", "power_cycled", "fault", "ok"]


# --- BlueZ refusing ----------------------------------------------------------------------


async def test_in_progress_on_start_is_retried(bluez: BlueZSim) -> None:
    bluez.fail_next("StartDiscovery")
    scanner = BleScanner(Heard(), retry_delay=0.02)
    await scanner.start()
    try:
        assert bluez.count("StartDiscovery") == 2
        assert scanner.health.state == "ok"
    finally:
        await scanner.stop()


async def test_in_progress_that_never_clears_is_an_error(bluez: BlueZSim) -> None:
    for _ in range(3):
        bluez.fail_next("StartDiscovery")
    scanner = BleScanner(Heard(), retry_delay=0.01, start_attempts=3)
    with pytest.raises(AdapterBusy, match=r"stayed busy .* after 3 attempts"):
        await scanner.start()
    await scanner.stop()
    assert bluez.count("StartDiscovery") == 3


async def test_a_powered_off_adapter_is_powered_on(bluez: BlueZSim) -> None:
    bluez._set_powered(False)
    scanner = BleScanner(Heard())
    await scanner.start()
    await scanner.stop()
    assert bluez.powered_log == [False, True]
    assert bluez.count("StartDiscovery") == 1


async def test_no_adapter_at_start(bluez: BlueZSim) -> None:
    bluez.remove_adapter()
    scanner = BleScanner(Heard())
    with pytest.raises(AdapterMissing) as caught:
        await scanner.start()
    await scanner.stop()
    assert str(caught.value) == (
        "no Bluetooth adapter hci0: is the controller attached and bluetooth.service running?"
    )


async def test_no_bluez_on_the_bus(system_bus: PrivateSystemBus) -> None:
    scanner = BleScanner(Heard())
    with pytest.raises(AdapterMissing, match=r"bluetooth\.service running"):
        await scanner.start()
    await scanner.stop()


async def test_no_system_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/nothing")
    scanner = BleScanner(Heard())
    with pytest.raises(BusUnavailable, match="cannot reach the D-Bus system bus"):
        await scanner.start()
    await scanner.stop()


async def test_adapter_that_disappears_and_returns(bluez: BlueZSim) -> None:
    heard = Heard()
    log, on_health = health_log()
    scanner = BleScanner(heard, stall_after=30, retry_delay=0.02, on_health=on_health)
    async with running(scanner):
        await _heard_once(bluez, heard, "7C:00:00:00:00:04")
        bluez.remove_adapter()
        await until(lambda: scanner.health.state == "fault", timeout=2, what="fault")
        assert scanner.health.message.startswith("no Bluetooth adapter hci0")
        await until(lambda: not scanner.scanning, what="discovery halted")
        count = len(heard.items)
        bluez.restore_adapter()
        # scanning resumes at once (no waiting for the watchdog period) and hears the
        # device, which bluetoothd reports again on the returned adapter
        await until(lambda: states(log)[-1] == "ok", timeout=3, what="recovery")
        assert len(heard.items) > count
        assert bluez.count("StartDiscovery") == 2
        assert bluez.sessions, "a new discovery session on the returned adapter"
        restarted = next(h for h in log if h.state == "restarted")
        assert "hci0 available again" in restarted.message
    assert states(log)[:4] == ["ok", "fault", "restarted", "ok"]
    assert states(log)[-1] == "stopped"


async def test_access_denied_by_the_bus_policy(locked_system_bus: PrivateSystemBus) -> None:
    """Old BlueZ packages let only the bluetooth group talk to org.bluez."""
    sim = await BlueZSim().start(locked_system_bus.address)
    try:
        scanner = BleScanner(Heard())
        with pytest.raises(PermissionDenied) as caught:
            await scanner.start()
        await scanner.stop()
    finally:
        await sim.close()
    assert "'bluetooth' group" in str(caught.value)
    assert "D-Bus policy" in str(caught.value)
    assert caught.value.dbus_error == "org.freedesktop.DBus.Error.AccessDenied"
    assert isinstance(caught.value, PermissionError)


async def test_access_denied_by_bluez(bluez: BlueZSim) -> None:
    bluez.deny("StartDiscovery")
    scanner = BleScanner(Heard())
    with pytest.raises(PermissionDenied, match="usermod -aG bluetooth"):
        await scanner.start()
    await scanner.stop()


# --- tapin presence scan -----------------------------------------------------------------


def _cli_command() -> list[str]:
    from tapin.cli import build_parser

    parser = build_parser()
    wired = any(
        isinstance(choices := getattr(a, "choices", None), dict) and "presence" in choices
        for a in parser._actions
    )
    assert wired, "tapin presence scan is not in the command table"
    return [sys.executable, "-m", "tapin"]


async def _run(
    args: list[str], env: dict[str, str], during: Callable[[], Awaitable[None]] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    if during is not None:
        await during()
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_cli_scan_shows_hashed_sources_and_beacons(
    bluez: BlueZSim, system_bus: PrivateSystemBus
) -> None:
    phone, tag = "5E:AA:BB:CC:DD:01", "D4:CA:6E:00:11:33"
    bluez.add_device(phone, -61, manufacturer_data={0x004C: b"\x10\x05\x01\x18"})
    bluez.add_device(tag, -70, manufacturer_data=ibeacon(3, 9))

    async def advertise() -> None:
        await until(lambda: bool(bluez.sessions), timeout=15, what="CLI scanning")
        for rssi in (-66, -52, -68):
            bluez.set_rssi(tag, rssi)
            bluez.set_rssi(phone, rssi - 5)
            await asyncio.sleep(0.02)

    env = environment_for(system_bus.address)
    code, out, err = await _run(
        [*_cli_command(), "presence", "scan", "--seconds", "1.5", "--json"], env, advertise
    )
    assert code == 0, err
    import json

    report = json.loads(out)
    assert report["advertisements"] == 8
    sources = {s["beacon"]: s for s in report["sources"]}
    beacon = sources["ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:3:9"]
    assert beacon["max_rssi"] == -52
    assert re.fullmatch(r"[0-9a-f]{8}", beacon["source"])
    assert sources[None]["max_rssi"] == -57
    for text in (out, err):
        assert not MAC_PATTERN.search(text)
        assert phone not in text and tag not in text

    code, out, err = await _run([*_cli_command(), "presence", "scan", "--seconds", "0.5"], env)
    assert code == 0, err
    assert "advertisements from 2 sources" in out
    assert "ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:3:9" in out
    assert not MAC_PATTERN.search(out + err)


async def test_cli_scan_error_exits_2_with_the_fix(
    locked_system_bus: PrivateSystemBus,
) -> None:
    sim = await BlueZSim().start(locked_system_bus.address)
    try:
        code, out, err = await _run(
            [*_cli_command(), "presence", "scan", "--seconds", "1"],
            environment_for(locked_system_bus.address),
        )
    finally:
        await sim.close()
    assert code == 2
    assert "tapin: error: not allowed to use Bluetooth" in err
    assert "Traceback" not in err
    assert out == ""


def test_scanner_errors_share_one_root() -> None:
    for error in (AdapterBusy(), AdapterMissing(), PermissionDenied(), BusUnavailable("x")):
        assert isinstance(error, ScannerError)

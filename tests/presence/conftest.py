"""Fixtures: a private dbus-daemon configured like a system bus, and a simulated BlueZ.

``DBUS_SYSTEM_BUS_ADDRESS`` points at the private bus for the test, so the real bleak
(and the scanner's own dbus-fast connection) talk to the simulation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

import pytest

from tests.presence.bluez_sim import BlueZSim, PrivateSystemBus


def _private_bus(
    monkeypatch: pytest.MonkeyPatch, policy: Literal["allow", "deny-bluez"]
) -> Iterator[PrivateSystemBus]:
    if shutil.which("dbus-daemon") is None and not Path("/usr/bin/dbus-daemon").exists():
        pytest.skip("dbus-daemon is not installed (apt install dbus-daemon)")
    # a short directory: unix socket paths are limited to 108 bytes
    directory = Path(tempfile.mkdtemp(prefix="tapin-dbus-"))
    bus = PrivateSystemBus(directory, policy=policy)
    try:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.start())
        yield bus
    finally:
        bus.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateSystemBus]:
    """A private system bus that allows everything."""
    yield from _private_bus(monkeypatch, "allow")


@pytest.fixture
def locked_system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateSystemBus]:
    """A private system bus whose policy denies sending to org.bluez."""
    yield from _private_bus(monkeypatch, "deny-bluez")


@pytest.fixture
async def bluez(system_bus: PrivateSystemBus) -> AsyncIterator[BlueZSim]:
    """The simulated BlueZ, owning org.bluez, with a powered adapter hci0."""
    sim = await BlueZSim().start(system_bus.address)
    try:
        yield sim
    finally:
        await sim.close()

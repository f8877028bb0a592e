"""A simulated BlueZ on a private D-Bus system bus, for testing the real bleak.

Two parts:

* :class:`PrivateSystemBus` runs a real ``dbus-daemon`` with a system-bus-like
  configuration written to a temporary directory, listening on a unix socket there.
  ``policy="deny-bluez"`` adds the rule old BlueZ packages shipped for users outside
  the ``bluetooth`` group (``<deny send_destination="org.bluez"/>``), so the daemon
  itself answers ``org.freedesktop.DBus.Error.AccessDenied``.
* :class:`BlueZSim` owns ``org.bluez`` on that bus with dbus-fast and exports what
  bleak reads: ``org.freedesktop.DBus.ObjectManager`` at ``/`` (dbus-fast's built-in
  ``GetManagedObjects``, and ``InterfacesAdded``/``InterfacesRemoved`` on export and
  unexport), ``org.bluez.Adapter1`` at ``/org/bluez/hci0`` and ``org.bluez.Device1``
  at ``/org/bluez/hci0/dev_XX_XX_XX_XX_XX_XX``. Advertisements reach clients the way
  bluetoothd delivers them: a new device appears with ``InterfacesAdded``, later
  advertisements are ``PropertiesChanged`` on ``Device1`` (``RSSI``,
  ``ManufacturerData``, ``ServiceData``).

Discovery follows bluetoothd's rules: one session per D-Bus client (a second
``StartDiscovery`` from the same client is ``org.bluez.Error.InProgress``),
``StopDiscovery`` without a session is ``org.bluez.Error.Failed``, nothing is delivered
while no session is active or the adapter is powered off, and ``RSSI`` is invalidated
when the last session ends.

Test controls: :meth:`BlueZSim.add_device`, :meth:`~BlueZSim.update`,
:meth:`~BlueZSim.remove_device`, :meth:`~BlueZSim.silence` (advertisements stop
arriving while ``Discovering`` stays true), :meth:`~BlueZSim.fail_next`,
:meth:`~BlueZSim.deny`, :meth:`~BlueZSim.remove_adapter` and
:meth:`~BlueZSim.restore_adapter`. Every method call that reaches the simulation is
recorded in :attr:`BlueZSim.calls`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

__all__ = ["AdapterIface", "BlueZSim", "Call", "PrivateSystemBus", "device_path"]

StrList = Annotated[list[str], DBusSignature("as")]
VariantDict = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
ManufacturerDict = Annotated[dict[int, Variant], DBusSignature("a{qv}")]

ADAPTER_PATH = "/org/bluez/hci0"
ADAPTER_ADDRESS = "00:1A:7D:DA:71:13"
IN_PROGRESS = "org.bluez.Error.InProgress"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    {extra}
  </policy>
</busconfig>
"""


class PrivateSystemBus:
    """A real ``dbus-daemon`` configured like a system bus, private to one test."""

    def __init__(self, directory: Path, *, policy: Literal["allow", "deny-bluez"] = "allow"):
        self.directory = directory
        self.socket = directory / "system_bus_socket"
        self.config = directory / "system.conf"
        extra = '<deny send_destination="org.bluez"/>' if policy == "deny-bluez" else ""
        self.config.write_text(_CONFIG.format(socket=self.socket, extra=extra))
        self.address = f"unix:path={self.socket}"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        daemon = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
        self._process = subprocess.Popen(
            [daemon, f"--config-file={self.config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            error = self._process.stderr.read() if self._process.stderr else ""
            raise RuntimeError(f"dbus-daemon did not start: {error.strip()}")
        return self.address

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        self._process = None


def device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


@dataclass(frozen=True, slots=True)
class Call:
    """One method call that reached the simulation."""

    interface: str
    member: str
    path: str
    sender: str
    body: tuple[Any, ...] = ()


# --- org.bluez.Adapter1 ----------------------------------------------------------------


class AdapterIface(ServiceInterface):
    def __init__(self, sim: BlueZSim) -> None:
        super().__init__("org.bluez.Adapter1")
        self._sim = sim
        self._powered = True
        self._discovering = False

    # properties

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return ADAPTER_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return "tapin-sim"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return "tapin-sim"

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> DBusUInt32:
        return 0

    @dbus_property()
    def Powered(self) -> DBusBool:
        return self._powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self._sim._set_powered(bool(value))

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self._discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> StrList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Modalias(self) -> DBusStr:
        return "usb:v1D6Bp0246d0548"

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> StrList:
        return ["central", "peripheral"]

    # methods (no ``-> None``: under PEP 563 dbus-fast reads it as a signature)

    @dbus_method()
    def StartDiscovery(self):
        self._sim._start_discovery()

    @dbus_method()
    def StopDiscovery(self):
        self._sim._stop_discovery()

    @dbus_method()
    def SetDiscoveryFilter(self, filters: VariantDict):
        self._sim._set_filter(filters)

    @dbus_method()
    def GetDiscoveryFilters(self) -> StrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable"]

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath):
        self._sim._remove_device_by_path(device)


# --- org.bluez.Device1 -----------------------------------------------------------------


class DeviceIface(ServiceInterface):
    """``org.bluez.Device1`` for a device that advertises no local name."""

    def __init__(
        self,
        address: str,
        *,
        rssi: int,
        manufacturer_data: dict[int, bytes],
        service_data: dict[str, bytes],
        uuids: list[str],
        address_type: str,
    ) -> None:
        super().__init__("org.bluez.Device1")
        self.address = address.upper()
        self.rssi = rssi
        self.manufacturer_data = dict(manufacturer_data)
        self.service_data = dict(service_data)
        self.uuids = list(uuids)
        self.address_type = address_type

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return self.address_type

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        # bluetoothd's alias for a nameless device: the address with dashes
        return self.address.replace(":", "-")

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> ManufacturerDict:
        return {k: Variant("ay", v) for k, v in self.manufacturer_data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> VariantDict:
        return {k: Variant("ay", v) for k, v in self.service_data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> StrList:
        return self.uuids

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return False


class NamedDeviceIface(DeviceIface):
    """``org.bluez.Device1`` for a device whose advertisement carries a local name."""

    def __init__(self, address: str, *, name: str, **kwargs: Any) -> None:
        self.name_value = name
        super().__init__(address, **kwargs)

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.name_value

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return self.name_value


@dataclass(slots=True)
class _Device:
    iface: DeviceIface
    exported: bool = False
    rssi_valid: bool = False


# --- the simulation --------------------------------------------------------------------


@dataclass(slots=True)
class _Fault:
    member: str
    error: str
    text: str
    times: int


@dataclass
class BlueZSim:
    """``org.bluez`` on the private bus. Create, then ``await start(address)``."""

    calls: list[Call] = field(default_factory=list)
    powered_log: list[bool] = field(default_factory=list)
    """Every value written to ``Adapter1.Powered``, in order."""

    def __post_init__(self) -> None:
        self.bus: MessageBus | None = None
        self.adapter: AdapterIface | None = None
        self.devices: dict[str, _Device] = {}
        self.sessions: set[str] = set()
        self.filters: dict[str, dict[str, Any]] = {}
        self.silenced: Literal["restart", "power_cycle", "never"] | None = None
        self._faults: list[_Fault] = []
        self._denied: set[str] = set()
        self._sender = ""

    # lifecycle

    async def start(self, address: str) -> BlueZSim:
        self.bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        self.bus.add_message_handler(self._intercept)
        self.restore_adapter()
        await self.bus.request_name("org.bluez")
        return self

    async def close(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None

    async def drain(self) -> None:
        """Wait until the daemon has read everything the simulation sent.

        Call it between bursts of more than a few dozen signals: dbus-fast treats a
        full socket send buffer (EAGAIN) as fatal and drops the connection
        (python-dbus-next issue #153, still so in dbus-fast 5.2), and a 200 KB buffer
        holds only a couple of hundred small messages. bluetoothd, on libdbus, just
        waits. The daemon handles a connection's messages in order, so the answer to
        a round trip means it has read everything before it.
        """
        assert self.bus is not None
        await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetId",
            )
        )

    # what tests look at

    def count(self, member: str) -> int:
        return sum(1 for call in self.calls if call.member == member)

    @property
    def discovering(self) -> bool:
        return self.adapter is not None and self.adapter._discovering

    @property
    def delivering(self) -> bool:
        return (
            self.adapter is not None
            and self.adapter._powered
            and bool(self.sessions)
            and self.silenced is None
        )

    # controls: devices

    def add_device(
        self,
        address: str,
        rssi: int,
        *,
        manufacturer_data: dict[int, bytes] | None = None,
        service_data: dict[str, bytes] | None = None,
        uuids: list[str] | None = None,
        name: str | None = None,
        address_type: str = "random",
    ) -> str:
        """A device comes into range; clients see it when discovery is delivering."""
        key = address.upper()
        assert key not in self.devices, f"device {key} already in range"
        kwargs: dict[str, Any] = {
            "rssi": rssi,
            "manufacturer_data": manufacturer_data or {},
            "service_data": service_data or {},
            "uuids": uuids or [],
            "address_type": address_type,
        }
        iface = (
            NamedDeviceIface(key, name=name, **kwargs)
            if name is not None
            else DeviceIface(key, **kwargs)
        )
        device = _Device(iface)
        self.devices[key] = device
        if self.delivering:
            self._export(device)
        return device_path(key)

    def update(
        self,
        address: str,
        *,
        rssi: int | None = None,
        manufacturer_data: dict[int, bytes] | None = None,
        service_data: dict[str, bytes] | None = None,
    ) -> None:
        """The device advertises again, with a new RSSI and/or payload."""
        device = self.devices[address.upper()]
        iface = device.iface
        changed: dict[str, Any] = {}
        if rssi is not None and (rssi != iface.rssi or not device.rssi_valid):
            iface.rssi = rssi
            changed["RSSI"] = rssi
        if manufacturer_data is not None and manufacturer_data != iface.manufacturer_data:
            iface.manufacturer_data = dict(manufacturer_data)
            changed["ManufacturerData"] = iface.ManufacturerData
        if service_data is not None and service_data != iface.service_data:
            iface.service_data = dict(service_data)
            changed["ServiceData"] = iface.ServiceData
        if not self.delivering:
            return
        if not device.exported:
            self._export(device)
        elif changed:
            device.rssi_valid = True
            iface.emit_properties_changed(changed)

    def set_rssi(self, address: str, rssi: int) -> None:
        self.update(address, rssi=rssi)

    def remove_device(self, address: str) -> None:
        """The device leaves (bluetoothd drops a temporary device after a while)."""
        device = self.devices.pop(address.upper())
        if device.exported and self.bus is not None:
            self.bus.unexport(device_path(device.iface.address), device.iface)

    # controls: faults

    def silence(self, cured_by: Literal["restart", "power_cycle", "never"]) -> None:
        """Advertisements stop arriving; ``Discovering`` stays true.

        ``cured_by`` says what brings them back: a new discovery session
        (``"restart"``), powering the adapter off and on (``"power_cycle"``), or nothing.
        """
        self.silenced = cured_by

    def fail_next(
        self, member: str, error: str = IN_PROGRESS, text: str = "Operation already in progress"
    ) -> None:
        """The next call of ``member`` answers with ``error`` instead of running."""
        self._faults.append(_Fault(member, error, text, 1))

    def deny(self, *members: str) -> None:
        """Calls of these members answer ``org.freedesktop.DBus.Error.AccessDenied``."""
        self._denied.update(members)

    def remove_adapter(self) -> None:
        """The controller goes away (unplugged, or bluetoothd lost it)."""
        assert self.bus is not None and self.adapter is not None
        for device in self.devices.values():
            if device.exported:
                self.bus.unexport(device_path(device.iface.address), device.iface)
                device.exported = False
                device.rssi_valid = False
        self.bus.unexport(ADAPTER_PATH, self.adapter)
        self.adapter = None
        self.sessions.clear()
        self.filters.clear()

    def restore_adapter(self) -> None:
        """The controller is back: powered, not discovering, no sessions."""
        assert self.bus is not None and self.adapter is None
        self.adapter = AdapterIface(self)
        self.bus.export(ADAPTER_PATH, self.adapter)

    # D-Bus plumbing

    def _intercept(self, message: Message) -> Message | None:
        """Runs before dbus-fast dispatches a call: records it, injects faults."""
        if message.message_type is not MessageType.METHOD_CALL:
            return None
        self._sender = message.sender or ""
        self.calls.append(
            Call(
                message.interface or "",
                message.member or "",
                message.path or "",
                self._sender,
                tuple(message.body),
            )
        )
        member = message.member or ""
        if message.member == "Set" and message.body and message.body[0] == "org.bluez.Adapter1":
            member = f"Set.{message.body[1]}"
        if member in self._denied:
            return Message.new_error(message, ACCESS_DENIED, f"Rejected send message ({member})")
        for fault in self._faults:
            if fault.member == member and fault.times > 0:
                fault.times -= 1
                self._faults = [f for f in self._faults if f.times > 0]
                return Message.new_error(message, fault.error, fault.text)
        return None

    def _export(self, device: _Device) -> None:
        assert self.bus is not None
        device.exported = True
        device.rssi_valid = True
        self.bus.export(device_path(device.iface.address), device.iface)

    def _set_discovering(self, value: bool) -> None:
        assert self.adapter is not None
        if self.adapter._discovering != value:
            self.adapter._discovering = value
            self.adapter.emit_properties_changed({"Discovering": value})

    def _flush(self) -> None:
        """Discovery is delivering again: every device in range is heard."""
        if not self.delivering:
            return
        for device in self.devices.values():
            if not device.exported:
                self._export(device)
            elif not device.rssi_valid:
                device.rssi_valid = True
                device.iface.emit_properties_changed({"RSSI": device.iface.rssi})

    def _invalidate_rssi(self) -> None:
        for device in self.devices.values():
            if device.exported and device.rssi_valid:
                device.rssi_valid = False
                device.iface.emit_properties_changed({}, ["RSSI"])

    def _start_discovery(self) -> None:
        assert self.adapter is not None
        if not self.adapter._powered:
            raise DBusError("org.bluez.Error.NotReady", "Resource Not Ready")
        if self._sender in self.sessions:
            raise DBusError(IN_PROGRESS, "Operation already in progress")
        self.sessions.add(self._sender)
        if self.silenced == "restart":
            self.silenced = None
        self._set_discovering(True)
        self._flush()

    def _stop_discovery(self) -> None:
        assert self.adapter is not None
        if not self.adapter._powered:
            raise DBusError("org.bluez.Error.NotReady", "Resource Not Ready")
        if self._sender not in self.sessions:
            raise DBusError("org.bluez.Error.Failed", "No discovery started")
        self.sessions.discard(self._sender)
        self.filters.pop(self._sender, None)
        if not self.sessions:
            self._invalidate_rssi()
            self._set_discovering(False)

    def _set_filter(self, filters: dict[str, Variant]) -> None:
        if filters:
            self.filters[self._sender] = {k: v.value for k, v in filters.items()}
        else:
            self.filters.pop(self._sender, None)

    def _set_powered(self, value: bool) -> None:
        assert self.adapter is not None
        self.powered_log.append(value)
        if value == self.adapter._powered:
            return
        self.adapter._powered = value
        if not value:
            self.sessions.clear()
            self.filters.clear()
            self._invalidate_rssi()
            self._set_discovering(False)
        elif self.silenced in ("restart", "power_cycle"):
            self.silenced = None
        self.adapter.emit_properties_changed({"Powered": value})

    def _remove_device_by_path(self, path: str) -> None:
        for key in list(self.devices):
            if device_path(key) == path:
                self.remove_device(key)
                return
        raise DBusError("org.bluez.Error.DoesNotExist", "Does Not Exist")


def environment_for(address: str) -> dict[str, str]:
    """The environment a subprocess needs to reach the private bus."""
    env = dict(os.environ)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    return env

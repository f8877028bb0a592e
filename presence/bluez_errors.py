"""What can go wrong between the scanner and BlueZ, as errors a technician can act on.

::

    ScannerError (RuntimeError)              root; ``str()`` is the whole message
    ├── BusUnavailable (ConnectionError)     no D-Bus system bus to talk to
    ├── PermissionDenied (PermissionError)   D-Bus policy refuses us org.bluez
    ├── AdapterMissing                       no hciN (unplugged, bluetoothd down)
    ├── AdapterPoweredOff                    hciN off and it would not power on
    ├── AdapterBusy                          org.bluez.Error.InProgress that would not clear
    └── BlueZFailure                         any other refusal, with the D-Bus error name

:func:`translate` maps what bleak and dbus-fast raise onto this tree. Messages name the
adapter and the D-Bus error, never a device address.
"""

from __future__ import annotations

import re

__all__ = [
    "AdapterBusy",
    "AdapterMissing",
    "AdapterPoweredOff",
    "BlueZFailure",
    "BusUnavailable",
    "PermissionDenied",
    "ScannerError",
    "redact_addresses",
    "translate",
]

IN_PROGRESS = "org.bluez.Error.InProgress"
NOT_READY = "org.bluez.Error.NotReady"
_DENIED = {
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.bluez.Error.NotAuthorized",
    "org.bluez.Error.NotPermitted",
    "org.freedesktop.DBus.Error.AuthFailed",
}
_MISSING = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.bluez.Error.DoesNotExist",
}
# 00:11:22:33:44:55, 00-11-..., and BlueZ object paths' dev_00_11_22_33_44_55
_ADDRESS = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}([:_-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)


def redact_addresses(text: str) -> str:
    """``text`` with anything shaped like a Bluetooth address replaced by ``<mac>``."""
    return _ADDRESS.sub("<mac>", text)


class ScannerError(RuntimeError):
    """The scanner cannot do its job; the message says what to check."""

    def __init__(self, message: str, *, adapter: str = "hci0", dbus_error: str = "") -> None:
        super().__init__(message)
        self.adapter = adapter
        self.dbus_error = dbus_error


class BusUnavailable(ScannerError, ConnectionError):
    def __init__(self, detail: str, *, adapter: str = "hci0") -> None:
        super().__init__(
            f"cannot reach the D-Bus system bus ({redact_addresses(detail)}): "
            "is dbus running, and DBUS_SYSTEM_BUS_ADDRESS (if set) right?",
            adapter=adapter,
        )


class PermissionDenied(ScannerError, PermissionError):
    def __init__(self, *, adapter: str = "hci0", dbus_error: str = "") -> None:
        super().__init__(
            "not allowed to use Bluetooth: the D-Bus policy refuses this user access to "
            "org.bluez. Add the tapin user to the 'bluetooth' group "
            "(sudo usermod -aG bluetooth tapin, then restart tapin) or install a D-Bus "
            "policy for it in /etc/dbus-1/system.d/",
            adapter=adapter,
            dbus_error=dbus_error,
        )


class AdapterMissing(ScannerError):
    def __init__(self, *, adapter: str = "hci0", dbus_error: str = "") -> None:
        super().__init__(
            f"no Bluetooth adapter {adapter}: is the controller attached and "
            "bluetooth.service running?",
            adapter=adapter,
            dbus_error=dbus_error,
        )


class AdapterPoweredOff(ScannerError):
    def __init__(self, *, adapter: str = "hci0", dbus_error: str = "") -> None:
        super().__init__(
            f"Bluetooth adapter {adapter} is powered off and would not power on: "
            f"check 'rfkill list' and 'bluetoothctl show {adapter}'",
            adapter=adapter,
            dbus_error=dbus_error,
        )


class AdapterBusy(ScannerError):
    def __init__(self, *, adapter: str = "hci0", attempts: int = 1) -> None:
        super().__init__(
            f"Bluetooth adapter {adapter} stayed busy ({IN_PROGRESS}) after {attempts} "
            "attempts to start scanning: is another program scanning? "
            "'sudo systemctl restart bluetooth' clears it",
            adapter=adapter,
            dbus_error=IN_PROGRESS,
        )


class BlueZFailure(ScannerError):
    def __init__(
        self, operation: str, dbus_error: str, detail: str = "", *, adapter: str = "hci0"
    ) -> None:
        text = f"BlueZ refused to {operation} on {adapter}: {dbus_error or 'error'}"
        if detail:
            text += f" ({redact_addresses(detail)})"
        super().__init__(text, adapter=adapter, dbus_error=dbus_error)


def from_dbus_error(name: str, detail: str = "", *, operation: str, adapter: str) -> ScannerError:
    """The :class:`ScannerError` for a D-Bus error reply ``name``."""
    if name in _DENIED:
        return PermissionDenied(adapter=adapter, dbus_error=name)
    if name in _MISSING:
        return AdapterMissing(adapter=adapter, dbus_error=name)
    if name == NOT_READY:
        return AdapterPoweredOff(adapter=adapter, dbus_error=name)
    if name == IN_PROGRESS:
        return AdapterBusy(adapter=adapter)
    return BlueZFailure(operation, name, detail, adapter=adapter)


def translate(exc: BaseException, *, operation: str, adapter: str) -> ScannerError:
    """Map an exception from bleak, dbus-fast or the socket onto :class:`ScannerError`."""
    if isinstance(exc, ScannerError):
        return exc
    from bleak.exc import (
        BleakBluetoothNotAvailableError,
        BleakBluetoothNotAvailableReason,
        BleakDBusError,
        BleakError,
    )
    from dbus_fast import AuthError, DBusError

    if isinstance(exc, BleakDBusError):
        return from_dbus_error(
            exc.dbus_error, exc.dbus_error_details or "", operation=operation, adapter=adapter
        )
    if isinstance(exc, DBusError):
        return from_dbus_error(exc.type, exc.text, operation=operation, adapter=adapter)
    if isinstance(exc, BleakBluetoothNotAvailableError):
        reason = exc.reason
        if reason in (
            BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM,
            BleakBluetoothNotAvailableReason.DENIED_BY_USER,
            BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN,
        ):
            return PermissionDenied(adapter=adapter)
        if reason is BleakBluetoothNotAvailableReason.POWERED_OFF:
            return AdapterPoweredOff(adapter=adapter)
        return AdapterMissing(adapter=adapter)
    if isinstance(exc, AuthError):
        return PermissionDenied(adapter=adapter)
    if isinstance(exc, BleakError):
        # bleak's own check before it calls BlueZ: "adapter 'hci0' not found"
        if "not found" in str(exc):
            return AdapterMissing(adapter=adapter)
        return BlueZFailure(operation, "", str(exc), adapter=adapter)
    if isinstance(exc, OSError | EOFError):
        return BusUnavailable(f"{type(exc).__name__}: {exc}", adapter=adapter)
    return BlueZFailure(operation, "", f"{type(exc).__name__}: {exc}", adapter=adapter)

"""The BLE scanner: one long-lived bleak ``BleakScanner`` on BlueZ, with a watchdog.

:class:`BleScanner` starts active discovery once and keeps it running for the life of
the device, handing every advertisement to a callback as a
:class:`~presence.types.RawAdvertisement`. The device address lives only in that
object, in memory; this module never logs it.

Radios stall in the field: discovery stays "on" while nothing arrives. When no
advertisement arrives for ``stall_after`` seconds (90 by default) the watchdog:

1. restarts discovery (``StopDiscovery`` then ``StartDiscovery``) -> health ``restarted``;
2. if still nothing, power-cycles the adapter (``Adapter1.Powered`` off then on, over
   the system bus) and starts discovery again -> health ``power_cycled``;
3. if still nothing, reports ``fault`` and keeps restarting discovery each period.

The next advertisement returns health to ``ok``. An adapter that disappears
(``InterfacesRemoved``, or bluetoothd leaving the bus) is a ``fault`` at once, and
scanning resumes when it returns. ``org.bluez.Error.InProgress`` on start is retried.
Everything else the user can fix is a :class:`~presence.bluez_errors.ScannerError`.

Use it as ``await scanner.run(stop_event)``, or ``start()`` / ``check()`` / ``stop()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from presence.bluez_errors import (
    IN_PROGRESS,
    AdapterBusy,
    AdapterMissing,
    ScannerError,
    from_dbus_error,
    redact_addresses,
    translate,
)
from presence.types import RawAdvertisement

if TYPE_CHECKING:
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData
    from dbus_fast import Message
    from dbus_fast.aio import MessageBus

__all__ = ["BleScanner", "HealthState", "ScannerHealth"]

log = logging.getLogger(__name__)

HealthState = Literal["stopped", "ok", "restarted", "power_cycled", "fault"]

_BLUEZ = "org.bluez"
_ADAPTER_IFACE = "org.bluez.Adapter1"
_OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
_PROPERTIES = "org.freedesktop.DBus.Properties"
_NO_RSSI = -127  # bleak's value when BlueZ has invalidated RSSI (discovery ended)
_BLEAK_LOGGERS = (
    "bleak",
    "bleak.backends.scanner",
    "bleak.backends.bluezdbus.manager",
    "bleak.backends.bluezdbus.scanner",
    "bleak.backends.bluezdbus.client",
)


@dataclass(frozen=True, slots=True)
class ScannerHealth:
    """What ``tapin status`` shows about the scanner."""

    state: HealthState
    message: str = ""
    since: float = 0.0
    """Clock time the scanner entered ``state``."""
    restarts: int = 0
    """Discovery restarts by the watchdog since start."""
    power_cycles: int = 0
    """Adapter power cycles by the watchdog since start."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _AddressRedactor(logging.Filter):
    """bleak logs D-Bus signals (with device paths and addresses) at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_addresses(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _guard_bleak_logs() -> None:
    for name in _BLEAK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _AddressRedactor) for f in logger.filters):
            logger.addFilter(_AddressRedactor())


class BleScanner:
    """Active BLE scanning on one BlueZ adapter for the life of the device.

    ``on_advertisement`` is called on the event loop for every advertisement; it must
    be quick and must not raise (an exception is logged by type and dropped).
    """

    def __init__(
        self,
        on_advertisement: Callable[[RawAdvertisement], None],
        adapter: str = "hci0",
        *,
        clock: Callable[[], float] = time.monotonic,
        stall_after: float = 90.0,
        retry_delay: float = 0.5,
        start_attempts: int = 5,
        on_health: Callable[[ScannerHealth], None] | None = None,
    ) -> None:
        if stall_after <= 0:
            raise ValueError("stall_after must be positive")
        self.adapter = adapter
        self.adapter_path = f"/org/bluez/{adapter}"
        self.advertisements = 0
        """Advertisements handed to ``on_advertisement`` since construction."""
        self.callback_errors = 0
        self._on_advertisement = on_advertisement
        self._clock = clock
        self._stall_after = stall_after
        self._retry_delay = retry_delay
        self._retry_interval = max(retry_delay, min(stall_after / 3, 10.0))
        self._start_attempts = max(1, start_attempts)
        self._on_health = on_health
        self._health = ScannerHealth("stopped", since=clock())
        self._scanner: BleakScanner | None = None
        self._bus: MessageBus | None = None
        self._scanning = False
        self._adapter_present = True
        self._stage = 0  # 0 normal, 1 restarted, 2 power-cycled, 3 fault
        self._last_heard = clock()
        self._next_attempt = 0.0
        self._wake: asyncio.Event | None = None
        self._busy = asyncio.Lock()

    # public surface ------------------------------------------------------------------

    @property
    def health(self) -> ScannerHealth:
        return self._health

    @property
    def scanning(self) -> bool:
        return self._scanning

    async def start(self) -> None:
        """Connect to BlueZ, check the adapter and start active discovery.

        Raises:
            ScannerError: the bus is unreachable, access is denied, the adapter is
                missing or off, or BlueZ stayed busy; the message says what to do.
        """
        _guard_bleak_logs()
        self._wake = asyncio.Event()
        async with self._busy:
            try:
                await self._connect()
                await self._prepare_adapter()
                await self._start_discovery()
            except BaseException:
                if self._bus is not None:
                    self._bus.disconnect()
                    self._bus = None
                raise
        self._last_heard = self._clock()
        self._stage = 0
        self._set_health("ok", f"scanning on {self.adapter}")

    async def stop(self) -> None:
        """Stop discovery and disconnect. Never raises."""
        async with self._busy:
            await self._halt_discovery()
            if self._bus is not None:
                self._bus.disconnect()
                self._bus = None
        self._set_health("stopped", "")

    async def run(self, stop_event: asyncio.Event) -> None:
        """Start, then watch over scanning until ``stop_event`` is set; always stops.

        Raises:
            ScannerError: if the first start fails. Later faults are reported in
                :attr:`health` and retried, not raised.
        """
        await self.start()
        assert self._wake is not None
        stopping = asyncio.ensure_future(stop_event.wait())
        tick = min(self._stall_after / 4, 5.0)
        try:
            while not stop_event.is_set():
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({stopping, woken}, timeout=tick, return_when="FIRST_COMPLETED")
                woken.cancel()
                self._wake.clear()
                if stop_event.is_set():
                    break
                await self.check()
        finally:
            stopping.cancel()
            await self.stop()

    async def check(self) -> None:
        """One watchdog step: recover from a stall or a lost adapter if needed."""
        async with self._busy:
            now = self._clock()
            if not self._adapter_present or not self._scanning:
                if self._scanning:
                    await self._halt_discovery()
                if now >= self._next_attempt:
                    await self._resume(now)
                return
            if now - self._last_heard < self._stall_after:
                return
            self._last_heard = now  # each stage gets a full period to show results
            quiet = int(self._stall_after)
            before = self.advertisements
            try:
                if self._stage == 0:
                    log.warning(
                        "no advertisements for %d s on %s: restarting discovery",
                        quiet,
                        self.adapter,
                    )
                    await self._restart_discovery()
                    self._stage = 1
                    self._set_health(
                        "restarted",
                        f"no advertisements for {quiet} s; discovery restarted",
                        restarts=self._health.restarts + 1,
                    )
                elif self._stage == 1:
                    log.warning("still no advertisements on %s: power-cycling it", self.adapter)
                    await self._power_cycle()
                    self._stage = 2
                    self._set_health(
                        "power_cycled",
                        "no advertisements after restarting discovery; "
                        f"{self.adapter} power-cycled",
                        power_cycles=self._health.power_cycles + 1,
                    )
                else:
                    if self._stage == 2:
                        log.error("no advertisements on %s after a power cycle", self.adapter)
                        self._set_health(
                            "fault",
                            f"no advertisements on {self.adapter} even after restarting "
                            "discovery and power-cycling it: check the controller "
                            "(dmesg, 'bluetoothctl show') or reboot",
                        )
                    self._stage = 3
                    await self._restart_discovery()
            except ScannerError as exc:
                self._fault(exc)
                return
            if self.advertisements > before:
                self._recovered()  # bluetoothd re-reported devices as discovery started

    # D-Bus: our own connection, for adapter state and power ----------------------------

    async def _connect(self) -> None:
        if self._bus is not None and self._bus.connected:
            return
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except Exception as exc:
            raise translate(exc, operation="connect", adapter=self.adapter) from None
        bus.add_message_handler(self._on_bus_message)
        rules = (
            f"type='signal',sender='{_BLUEZ}',interface='{_OBJECT_MANAGER}',"
            f"member='InterfacesAdded',arg0path='{self.adapter_path}'",
            f"type='signal',sender='{_BLUEZ}',interface='{_OBJECT_MANAGER}',"
            f"member='InterfacesRemoved',arg0path='{self.adapter_path}'",
            "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
            f"member='NameOwnerChanged',arg0='{_BLUEZ}'",
        )
        self._bus = bus
        try:
            for rule in rules:
                await self._call(
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "AddMatch",
                    "s",
                    [rule],
                    operation="watch the adapter",
                )
        except BaseException:
            self._bus = None
            bus.disconnect()
            raise

    async def _call(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        operation: str,
    ) -> Message:
        from dbus_fast import Message, MessageType

        if self._bus is None or not self._bus.connected:
            await self._connect()
        assert self._bus is not None
        try:
            reply = await self._bus.call(
                Message(
                    destination=destination,
                    path=path,
                    interface=interface,
                    member=member,
                    signature=signature,
                    body=body or [],
                )
            )
        except Exception as exc:
            raise translate(exc, operation=operation, adapter=self.adapter) from None
        assert reply is not None
        if reply.message_type is MessageType.ERROR:
            detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise from_dbus_error(
                reply.error_name or "", detail, operation=operation, adapter=self.adapter
            )
        return reply

    async def _prepare_adapter(self) -> None:
        """The adapter must exist; power it on if it is off."""
        reply = await self._call(
            _BLUEZ, "/", _OBJECT_MANAGER, "GetManagedObjects", operation="list adapters"
        )
        interfaces = reply.body[0].get(self.adapter_path, {})
        adapter = interfaces.get(_ADAPTER_IFACE)
        if adapter is None:
            raise AdapterMissing(adapter=self.adapter)
        self._adapter_present = True
        powered = adapter.get("Powered")
        if powered is not None and not powered.value:
            log.info("%s is powered off: powering it on", self.adapter)
            await self._set_powered(True)

    async def _set_powered(self, value: bool) -> None:
        from dbus_fast import Variant

        await self._call(
            _BLUEZ,
            self.adapter_path,
            _PROPERTIES,
            "Set",
            "ssv",
            [_ADAPTER_IFACE, "Powered", Variant("b", value)],
            operation=f"power {'on' if value else 'off'}",
        )

    def _on_bus_message(self, message: Message) -> None:
        from dbus_fast import MessageType

        if message.message_type is not MessageType.SIGNAL or not message.body:
            return
        member = message.member
        if member == "NameOwnerChanged":
            if message.body[0] == _BLUEZ and not message.body[2]:
                self._adapter_lost()
            return
        if message.body[0] != self.adapter_path:
            return
        if member == "InterfacesRemoved" and _ADAPTER_IFACE in message.body[1]:
            self._adapter_lost()
        elif member == "InterfacesAdded" and _ADAPTER_IFACE in message.body[1]:
            log.info("Bluetooth adapter %s is back", self.adapter)
            self._adapter_present = True
            self._next_attempt = 0.0
            self._poke()

    def _adapter_lost(self) -> None:
        if not self._adapter_present:
            return
        self._adapter_present = False
        self._next_attempt = 0.0
        self._fault(AdapterMissing(adapter=self.adapter))
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # discovery through bleak -------------------------------------------------------------

    async def _start_discovery(self) -> None:
        from bleak import BleakScanner
        from bleak.exc import BleakDBusError

        if self._scanner is None:
            # one BleakScanner for the life of this object; restarts reuse it
            self._scanner = BleakScanner(
                detection_callback=self._on_detection,
                scanning_mode="active",
                bluez={"adapter": self.adapter},
            )
        for attempt in range(1, self._start_attempts + 1):
            try:
                await self._scanner.start()
            except BleakDBusError as exc:
                if exc.dbus_error != IN_PROGRESS:
                    raise translate(
                        exc, operation="start discovery", adapter=self.adapter
                    ) from None
                if attempt == self._start_attempts:
                    raise AdapterBusy(adapter=self.adapter, attempts=attempt) from None
                log.info(
                    "%s busy (%s), retrying in %.1f s", self.adapter, IN_PROGRESS, self._retry_delay
                )
                await asyncio.sleep(self._retry_delay)
            except Exception as exc:
                raise translate(exc, operation="start discovery", adapter=self.adapter) from None
            else:
                self._scanning = True
                return

    async def _halt_discovery(self) -> None:
        """Stop bleak's discovery; errors (adapter gone, powered off) are expected."""
        if self._scanner is None or not self._scanning:
            return
        self._scanning = False
        try:
            await self._scanner.stop()
        except Exception as exc:
            log.debug("stopping discovery on %s: %s", self.adapter, type(exc).__name__)

    async def _restart_discovery(self) -> None:
        await self._halt_discovery()
        await self._start_discovery()

    async def _power_cycle(self) -> None:
        await self._halt_discovery()
        await self._set_powered(False)
        await asyncio.sleep(self._retry_delay)
        await self._set_powered(True)
        await self._start_discovery()

    async def _resume(self, now: float) -> None:
        """Try to scan again after the adapter was lost or a restart failed."""
        self._next_attempt = now + self._retry_interval
        before = self.advertisements
        try:
            await self._prepare_adapter()
        except ScannerError as exc:
            self._fault(exc)
            return
        try:
            await self._start_discovery()
        except ScannerError as exc:
            if isinstance(exc, AdapterMissing):
                # bluetoothd has announced the adapter to us but bleak's connection
                # has not seen the announcement yet: try again shortly
                self._next_attempt = now + self._retry_delay
            self._fault(exc)
            return
        self._last_heard = self._clock()
        self._stage = 0
        log.info("scanning on %s again", self.adapter)
        self._set_health(
            "restarted",
            f"{self.adapter} available again; discovery restarted",
            restarts=self._health.restarts + 1,
        )
        if self.advertisements > before:
            self._recovered()

    # advertisements ----------------------------------------------------------------------

    def _on_detection(self, device: BLEDevice, data: AdvertisementData) -> None:
        rssi = data.rssi
        if rssi is None or rssi <= _NO_RSSI:
            return  # a property change after discovery ended, not an advertisement
        now = self._clock()
        self._last_heard = now
        self.advertisements += 1
        if self._health.state in ("restarted", "power_cycled", "fault") and self._scanning:
            self._recovered()
        advertisement = RawAdvertisement(
            address=device.address,
            rssi=rssi,
            manufacturer_data=dict(data.manufacturer_data),
            service_data=dict(data.service_data),
            at=now,
        )
        try:
            self._on_advertisement(advertisement)
        except Exception as exc:
            self.callback_errors += 1
            log.error("advertisement handler failed: %s", type(exc).__name__)

    def _recovered(self) -> None:
        how = {
            "restarted": "after restarting discovery",
            "power_cycled": f"after power-cycling {self.adapter}",
            "fault": "after a fault",
        }.get(self._health.state, "")
        self._stage = 0
        if how:
            log.info("advertisements arriving on %s again %s", self.adapter, how)
        self._set_health("ok", f"scanning on {self.adapter}; recovered {how}".rstrip())

    # health ------------------------------------------------------------------------------

    def _fault(self, exc: ScannerError) -> None:
        if self._health.state != "fault" or self._health.message != str(exc):
            log.error("Bluetooth scanner fault: %s", exc)
        self._set_health("fault", str(exc))

    def _set_health(self, state: HealthState, message: str, **counters: int) -> None:
        health = self._health
        if health.state == state and health.message == message and not counters:
            return
        self._health = replace(
            health, state=state, message=message, since=self._clock(), **counters
        )
        if self._on_health is not None:
            self._on_health(self._health)

"""The device admin screen: identity, network, central, queue, presence, version.

Only device facts: ids, addresses, counts and states. Never a name, an email, a
meeting subject or a MAC address (the presence reading is a state, a count band and a
confidence). The figures come from memory (``runtime.sync_status``, the occupancy
source); the one thing that needs the OS (host name and addresses) is read on a
worker thread. "Sync now" calls ``ctx.extras["sync_now"]`` (an async callable), when
the panel syncs with central.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import platform
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kivy.clock import Clock, ClockEvent
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

import tapin
from tapin.i18n import _
from tapin.timefmt import clock as format_clock
from tapin.ui.context import ScreenContext
from tapin.ui.kit import TapinScreen

__all__ = [
    "AdminRow",
    "AdminScreen",
    "AdminSection",
    "NetworkInfo",
    "admin_sections",
    "network_info",
    "parse_ip_brief",
    "queue_counts",
]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

REFRESH_SECONDS = 2.0
IDLE_SECONDS = 120.0
"""Back to the status screen when nobody touches the admin screen for this long."""
SYNC_TIMEOUT = 30.0
MAX_ERROR_CHARS = 80


# the facts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    hostname: str
    addresses: tuple[str, ...]
    """``"eth0 192.168.1.20"`` or bare addresses when interface names are unknown."""


def parse_ip_brief(text: str) -> tuple[str, ...]:
    """Addresses from ``ip -brief addr``: ``"wlan0 10.0.0.5"``; no loopback or link-local."""
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name = fields[0].split("@")[0]
        for cidr in fields[2:]:
            try:
                address = ipaddress.ip_interface(cidr).ip
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local:
                continue
            found.append(f"{name} {address}")
    return tuple(found)


def _socket_addresses(hostname: str) -> tuple[str, ...]:
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(hostname, None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    # The address the default route would use; a UDP "connect" sends nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            found.add(str(probe.getsockname()[0]))
        except OSError:
            pass
    usable = []
    for text in sorted(found):
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            usable.append(str(address))
    return tuple(usable)


def network_info() -> NetworkInfo:
    """Host name and addresses, from ``ip -brief addr`` when there is ``ip``, else from
    the resolver. Blocks briefly: call on a worker thread."""
    hostname = socket.gethostname()
    addresses: tuple[str, ...] = ()
    ip = shutil.which("ip")
    if ip is not None:
        try:
            result = subprocess.run(
                [ip, "-brief", "addr"], capture_output=True, text=True, timeout=2, check=True
            )
            addresses = parse_ip_brief(result.stdout)
        except (OSError, subprocess.SubprocessError):
            addresses = ()
    if not addresses:
        addresses = _socket_addresses(hostname)
    return NetworkInfo(hostname, addresses)


Rows = list[tuple[str, str]]
_OCCUPANCY_WORDS = {"occupied": "Occupied", "vacant": "Vacant", "unknown": "Unknown"}
"""English sources for the presence state, translated when the rows are built."""


def _when(text: Any, ctx: ScreenContext) -> str:
    if not text:
        return _("never")
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)[:32]
    zone = ctx.runtime.site.timezone
    local, today = moment.astimezone(zone), ctx.clock().astimezone(zone).date()
    shown = format_clock(moment, zone, h24=ctx.runtime.h24)
    return shown if local.date() == today else f"{local:%Y-%m-%d} {shown}"


def queue_counts(status: Any) -> tuple[int, int, int, int]:
    """Pending, in flight, rejected, quarantined (zeros without a sync status)."""
    if status is None:
        return (0, 0, 0, 0)
    return tuple(  # type: ignore[return-value]
        int(getattr(status, name, 0) or 0)
        for name in ("pending", "inflight", "rejected", "quarantined")
    )


def admin_sections(
    ctx: ScreenContext, network: NetworkInfo | None
) -> tuple[list[tuple[str, Rows]], list[tuple[str, Rows]]]:
    """The left and right columns: (section title, [(key, value), …]) each."""
    runtime, status = ctx.runtime, ctx.runtime.sync_status
    demo = runtime.demo
    device_id = getattr(status, "device_id", None) or (
        _("demo (not enrolled)") if demo else _("not enrolled")
    )
    site = runtime.site
    name, ident = ctx.place_name(), ctx.place_id
    device: Rows = [
        (_("Device id"), str(device_id)),
        (_("Site"), f"{site.name} ({site.id})" if site.id else _("not known yet")),
        (
            _("Room") if ctx.room_id else _("Lobby"),
            f"{name} ({ident})" if name != ident else ident,
        ),
        (_("Software"), f"Tapin {tapin.__version__} · Python {platform.python_version()}"),
    ]
    if network is None:
        net: Rows = [(_("Host name"), "…"), (_("Addresses"), "…")]
    else:
        net = [
            (_("Host name"), network.hostname),
            (_("Addresses"), ", ".join(network.addresses) or _("no network address")),
        ]
    reading = ctx.occupancy.reading(ctx.place_id)
    presence: Rows = [
        (
            _("State"),
            _(_OCCUPANCY_WORDS.get(reading.state.value, reading.state.value.capitalize())),
        ),
        (_("People"), reading.count_band or "—"),
        (_("Confidence"), f"{round(reading.confidence * 100)} %"),
    ]
    if status is None:
        reach = _("demo: no central") if demo else _("not syncing")
    elif status.reachable is None:
        reach = _("not contacted yet")
    else:
        reach = _("reachable") if status.reachable else _("UNREACHABLE")
    error = getattr(status, "last_error", None)
    central: Rows = [
        ("URL", runtime.config.central_url or _("not configured")),
        (_("Connection"), reach),
        (_("Last sync"), _when(getattr(status, "last_sync", None), ctx)),
        (_("Last error"), str(error)[:MAX_ERROR_CHARS] if error else _("none")),
    ]
    left = [(_("Device"), device), (_("Network"), net), (_("Presence"), presence)]
    right = [(_("Central server"), central)]
    return left, right


# widgets ---------------------------------------------------------------------------------


class AdminRow(BoxLayout):
    key = StringProperty("")
    value = StringProperty("")
    unit = NumericProperty(1.0)


class AdminSection(BoxLayout):
    title = StringProperty("")
    unit = NumericProperty(1.0)


SyncNow = Callable[[], Awaitable[Any]]


class AdminScreen(TapinScreen):
    """``name`` is ``admin``. Refreshes every 2 s while shown; closes itself after two
    minutes without a touch."""

    """Taller than wide: one column of sections, the buttons at the bottom."""
    counts = ListProperty([0, 0, 0, 0])
    sync_result = StringProperty("")
    sync_error = BooleanProperty(False)
    syncing = BooleanProperty(False)
    can_sync = BooleanProperty(False)

    def __init__(self, ctx: ScreenContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "admin")
        super().__init__(**kwargs)
        self.ctx = ctx
        self.network: NetworkInfo | None = None
        self._shown: Any = None
        self._ticker: ClockEvent | None = None
        self._idle: ClockEvent | None = None
        self.bind(unit=lambda *_: self.refresh(force=True))

    # lifecycle ---------------------------------------------------------------------

    def on_pre_enter(self, *_: Any) -> None:
        self.on_leave()  # entered twice without leaving: one set of clocks only
        self.sync_result, self.sync_error = "", False
        self.refresh()
        self.ctx.run(self._load_network())
        self._ticker = Clock.schedule_interval(lambda _dt: self.refresh(), REFRESH_SECONDS)
        self._restart_idle()

    def on_leave(self, *_: Any) -> None:
        for event in (self._ticker, self._idle):
            if event is not None:
                event.cancel()
        self._ticker = self._idle = None

    def on_touch_down(self, touch: Any) -> bool:
        self._restart_idle()
        return bool(super().on_touch_down(touch))

    def _restart_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = Clock.schedule_once(lambda _dt: self.close(), IDLE_SECONDS)

    async def _load_network(self) -> None:
        try:
            self.network = await asyncio.to_thread(network_info)
        except Exception as exc:  # never let a missing tool break the screen
            log.warning("network details unavailable: %s", type(exc).__name__)
            self.network = NetworkInfo(socket.gethostname(), ())
        self.refresh()

    # content -----------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        self.can_sync = callable(self.ctx.extras.get("sync_now"))
        self.counts = list(queue_counts(self.ctx.runtime.sync_status))
        columns = admin_sections(self.ctx, self.network)
        if columns == self._shown and not force:
            return
        self._shown = columns
        for box, sections in zip(
            (self.ids.left_column, self.ids.right_column), columns, strict=True
        ):
            box.clear_widgets()
            for title, rows in sections:
                section = AdminSection(title=title, unit=self.unit)
                for key, value in rows:
                    section.add_widget(AdminRow(key=key, value=value, unit=self.unit))
                box.add_widget(section)

    # buttons -----------------------------------------------------------------------

    def close(self) -> None:
        self.ctx.back()

    def sync_now(self) -> None:
        action = self.ctx.extras.get("sync_now")
        if not callable(action) or self.syncing:
            return
        self.syncing, self.sync_error = True, False
        self.sync_result = _("Syncing…")
        self.ctx.run(self._sync(action))

    async def _sync(self, action: SyncNow) -> None:
        try:
            answer = await asyncio.wait_for(action(), SYNC_TIMEOUT)
        except TimeoutError:
            timeout = _("Sync timed out after {seconds} s").format(seconds=round(SYNC_TIMEOUT))
            self.sync_result, self.sync_error = timeout, True
            log.warning("admin 'sync now' timed out")
        except Exception as exc:
            failed = _("Sync failed: {error}").format(error=type(exc).__name__)
            self.sync_result, self.sync_error = failed, True
            log.warning("admin 'sync now' failed: %s", type(exc).__name__)
        else:
            self.sync_result, self.sync_error = self._describe(answer)
        finally:
            self.syncing = False
            self.refresh()

    def _describe(self, answer: Any) -> tuple[str, bool]:
        status = self.ctx.runtime.sync_status
        if isinstance(answer, Mapping) and "reachable" in answer:
            reachable = answer.get("reachable")
            queue = answer.get("queue")
            waiting = queue.get("pending") if isinstance(queue, Mapping) else None
        else:
            reachable = getattr(status, "reachable", None)
            waiting = None
        if waiting is None:
            waiting = queue_counts(status)[0]
        at = format_clock(
            self.ctx.clock(), self.ctx.runtime.site.timezone, h24=self.ctx.runtime.h24
        )
        if reachable is False:
            return _("{time}: central did not answer; {n} waiting").format(time=at, n=waiting), True
        return _("{time}: synced; {n} waiting").format(time=at, n=waiting), False

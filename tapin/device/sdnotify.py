"""systemd's notification protocol (``sd_notify(3)``), our own, with no dependency.

A service started by systemd with ``Type=notify`` finds the address of the manager's
socket in ``$NOTIFY_SOCKET``: a file-system path, or a name in Linux's abstract socket
namespace when it starts with ``@``. Each notification is one datagram of
newline-separated ``KEY=value`` lines (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``,
``STATUS=...``). ``$WATCHDOG_USEC`` is the unit's ``WatchdogSec=`` in microseconds and
``$WATCHDOG_PID``, when set, the process it is meant for.

Without ``$NOTIFY_SOCKET`` (a demo, a test, a shell) every call is a no-op. Sending
never blocks (``MSG_DONTWAIT``) and never raises: a manager that went away must not
take the panel down with it; the first failure is logged once.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, MutableMapping

__all__ = [
    "ENV_SOCKET",
    "ENV_WATCHDOG_PID",
    "ENV_WATCHDOG_USEC",
    "Notifier",
    "watchdog_seconds",
]

log = logging.getLogger(__name__)

ENV_SOCKET = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC = "WATCHDOG_USEC"
ENV_WATCHDOG_PID = "WATCHDOG_PID"
STATUS_MAX = 120
"""Characters of a ``STATUS=`` line kept (systemctl shows one short line)."""


def watchdog_seconds(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """The unit's ``WatchdogSec=`` in seconds when the watchdog is meant for process
    ``pid`` (default: this one), else ``None`` (unset, malformed, zero or another
    process's ``WATCHDOG_PID``). Never raises."""
    raw = environ.get(ENV_WATCHDOG_USEC, "").strip()
    if not raw:
        return None
    owner = environ.get(ENV_WATCHDOG_PID, "").strip()
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("%s is not a whole number of microseconds; no watchdog", ENV_WATCHDOG_USEC)
        return None
    return usec / 1_000_000 if usec > 0 else None


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # the abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock addresses (systemd 254+) are not used on a device


def _status_line(text: str) -> str:
    """One short line: systemd's ``STATUS=`` must not span lines."""
    line = " ".join(text.split())
    return line[:STATUS_MAX]


class Notifier:
    """Sends notifications to the service manager; a no-op without an address."""

    def __init__(self, address: str | None) -> None:
        self._address = _address(address) if address else None
        if address and self._address is None:
            log.warning("%s=%r is not a socket path or @name; not notifying", ENV_SOCKET, address)
        self._socket: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_env(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """The notifier for ``$NOTIFY_SOCKET``. With ``unset`` (the default, like
        ``sd_notify(unset_environment=1)``) the variables are removed from
        ``environ`` so that child processes (``lp``, central's workers) do not
        believe they are the service. Read the watchdog with :func:`watchdog_seconds`
        before that."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get(ENV_SOCKET) or None)
        if unset:
            for name in (ENV_SOCKET, ENV_WATCHDOG_USEC, ENV_WATCHDOG_PID):
                env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=value`` each) as one datagram. Returns whether it was
        sent; ``False`` when disabled or the manager's socket refused it."""
        if self._address is None or not lines:
            return False
        payload = "\n".join(lines).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(payload, socket.MSG_DONTWAIT, self._address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager: %s", exc.strerror or exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up is finished (the unit becomes active)."""
        return self.notify("READY=1", *((f"STATUS={_status_line(status)}",) if status else ()))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: alive and well; systemd restarts the unit when these stop."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """``STATUS=``: one short plain line for ``systemctl status`` (never personal data)."""
        return self.notify(f"STATUS={_status_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: a clean shutdown has begun."""
        return self.notify("STOPPING=1", *((f"STATUS={_status_line(status)}",) if status else ()))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

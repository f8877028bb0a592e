"""Sign-in -> the host's email, with central online: the kiosk half of ``benchmarks.kiosk``.

What runs is the real thing: a throwaway database on the local PostgreSQL cluster, a
:class:`central.local.LocalCentral` (``tapin central serve`` over TLS, its notification
worker on) whose settings send email to a real SMTP server (aiosmtpd, on 127.0.0.1, in
this process), one lobby kiosk enrolled with ``tapin enroll``, its real services
(:class:`tapin.device.services.DeviceServices`: sealed queue, the job table, the drain
started by each event) and :class:`kiosk.controller.KioskController`.

Timed, for each of N visitors one after the other: from the moment the kiosk is asked to
sign the visitor in (the visitor tapped "Sign in") to (1) the host's email accepted by
the SMTP server and (2) the kiosk knowing the host was told (``notified`` =
``delivered``, what the done screen says). Not timed: setting it all up.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from central.local import LocalCentral, throwaway_database, write_notify_settings

__all__ = ["NotifyFigures", "measure_notify"]

HOST = "p-bjorn"
LOBBY = "lobby-main"
WAIT = 15.0
"""Seconds one visitor may take at most before the run fails (bounded loops)."""


@dataclass
class NotifyFigures:
    email: list[float] = field(default_factory=list)
    """Seconds from sign-in to the host's email at the SMTP server, per visitor."""
    told: list[float] = field(default_factory=list)
    """Seconds from sign-in to the kiosk knowing the host was told."""


class _Mailbox:
    """An aiosmtpd handler that notes when each message arrived (perf_counter)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.arrivals.append((time.perf_counter(), bytes(envelope.content)))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def _letters(i: int) -> str:
    """``i`` in letters (names take letters only): 0 -> Aa, 27 -> Bb."""
    return chr(65 + i // 26 % 26) + chr(97 + i % 26)


async def _wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def _run(central: LocalCentral, mailbox: _Mailbox, n: int) -> NotifyFigures:
    from kiosk.controller import KioskController
    from kiosk.flow import Draft
    from tapin.config import load_config
    from tapin.device.runtime import empty_runtime
    from tapin.device.services import DeviceServices

    device = central.enroll("kiosk", lobby=LOBBY)
    config = load_config(device.config)
    runtime = empty_runtime(config)
    services = await DeviceServices.open(config, runtime)
    figures = NotifyFigures()
    try:
        await _wait_for(lambda: runtime.kiosk is not None, "the kiosk snapshot")
        assert runtime.kiosk is not None and services.sink is not None
        terms = runtime.kiosk.terms
        controller = KioskController(runtime, LOBBY, services.sink)
        services.on_results(controller.on_results)
        for i in range(n):
            draft = Draft(
                name=f"Bench Visitor {_letters(i)}",
                visitor_type="interview",
                email=f"visitor{i}@example.org",
                host_id=HOST,
                host_chosen=True,
                accepted=terms is not None,
                terms_version=terms.version if terms is not None else None,
            )
            before = mailbox.count()
            start = time.perf_counter()
            visit = await controller.sign_in(draft)
            await _wait_for(lambda n=before: mailbox.count() > n, "the host's email")
            figures.email.append(mailbox.arrivals[before][0] - start)
            await _wait_for(
                lambda v=visit.visitor_id: controller.notified(v) == "delivered",
                "'told' on the kiosk",
            )
            figures.told.append(time.perf_counter() - start)
    finally:
        await services.close()
    return figures


def measure_notify(n: int) -> NotifyFigures:
    """Sign ``n`` visitors in one after the other against a fresh local central.
    Raises ``RuntimeError`` when a step takes longer than :data:`WAIT`."""
    from aiosmtpd.controller import Controller

    from central.local import free_port

    mailbox = _Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with throwaway_database("tapin_bench_kiosk") as dsn, tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = write_notify_settings(folder / "settings.toml", smtp_port=smtp.port)
            central = LocalCentral(
                dsn, folder / "central", extra_env={"TAPIN_CENTRAL_SETTINGS": str(settings)}
            )
            central.prepare().start()
            try:
                return asyncio.run(_run(central, mailbox, n))
            finally:
                central.stop()
    finally:
        smtp.stop()

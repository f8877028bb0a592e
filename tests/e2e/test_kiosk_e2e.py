"""The lobby kiosk against a real central, end to end.

A kiosk enrolled with ``tapin enroll`` to ``tapin central serve`` (TLS, PostgreSQL, its
notification worker on) whose settings send email to a real SMTP server (aiosmtpd) and
Teams messages to a real local HTTP receiver. Visitors sign in through real touches on
the offscreen window: the host's email and the webhook arrive within seconds, central
holds one sign-in with the terms version, the kiosk says the host was told. With
central down the same flow queues, the visitor is told so honestly, and it is delivered
when central is back. ``tapin central onsite --json`` lists the visitors until one signs
out by showing the printed badge's QR code to the camera.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from central.local import LocalCentral, write_notify_settings
from tests.central.visiting import Receiver, SmtpServer, receiver, smtp_server
from tests.kiosk.ui.test_kiosk_screens import settle, shown, tap, type_into
from tests.kivy_window import screen

pytestmark = [pytest.mark.ui, pytest.mark.pg, pytest.mark.slow]

__all__ = ["receiver", "screen", "smtp_server"]

KIOSK_SIZE = (1280, 800)


async def until(
    what: str, check: Callable[[], bool], pump: Callable[[], None], seconds: float
) -> float:
    """Wait (bounded) for ``check``, pumping the UI; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        pump()
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def onsite(central: LocalCentral) -> list[dict[str, Any]]:
    out = central.central("onsite", "--json").stdout
    data = json.loads(out)
    return list(data["visitors"] if isinstance(data, dict) else data)


def sign_in_by_touch(
    screen: Any, app: Any, name: str, email: str, host_search: str, host: str
) -> None:
    """Welcome -> name -> Interview -> email -> host -> terms -> Sign in, by touches."""
    tap(screen, app.root, "Sign in as a visitor")
    type_into(screen, app.screen("name").ids.field, name)
    tap(screen, app.root, "Continue")
    tap(screen, app.root, "Interview")  # email, host, terms
    type_into(screen, app.screen("email").ids.field, email)
    tap(screen, app.root, "Continue")
    type_into(screen, app.screen("host").ids.field, host_search)
    tap(screen, app.root, host)
    assert app.current() == "terms"
    tap(screen, app.root, "I have read and accept the terms")
    tap(screen, app.root, "Sign in")


async def test_visitors_sign_in_hosts_are_told_offline_too_and_leave_by_badge(
    pg_dsn: str,
    tmp_path: Path,
    screen: Any,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    from kivy.app import App

    from kiosk.app import KioskApp
    from kiosk.context import DemoCamera
    from tapin.config import load_config
    from tapin.device.runtime import empty_runtime
    from tapin.device.services import DeviceServices
    from tapin.hardware.printer import SimulatedPrinter

    settings = write_notify_settings(
        tmp_path / "settings.toml",
        smtp_port=smtp_server.port,
        webhooks={"carla-teams": receiver.url("/teams/carla")},
    )
    central = LocalCentral(
        pg_dsn, tmp_path / "central", extra_env={"TAPIN_CENTRAL_SETTINGS": str(settings)}
    ).prepare()
    central.central(
        "visitor-settings", "--person", "p-carla", "--via", "teams", "--webhook", "carla-teams"
    )
    central.start()
    device = central.enroll("kiosk", lobby="lobby-main")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    services = await DeviceServices.open(config, runtime)
    app: Any = None
    try:
        await until("the kiosk's settings", lambda: runtime.kiosk is not None, lambda: None, 20)
        assert runtime.kiosk is not None and runtime.kiosk.terms is not None
        terms_version = runtime.kiosk.terms.version
        screen.window.size = KIOSK_SIZE
        camera = DemoCamera()
        app = KioskApp(
            runtime,
            "lobby-main",
            sink=services.sink,
            extras={"printer": SimulatedPrinter(), "camera": camera},
        )
        services.on_results(app.controller.on_results)
        app._run_prepare()
        screen.frames(4)

        def pump() -> None:
            app.refresh()
            screen.frames(1)

        # 1. online: Ada visits Björn, who hears by email
        sign_in_by_touch(screen, app, "Ada Byron", "ada@example.org", "bj", "Björn Ek")
        await settle(app, screen)
        assert app.current() == "done" and "Welcome, Ada." in shown(screen)
        mailbox = smtp_server.mailbox
        took = await until("Björn's email", lambda: len(mailbox.messages) == 1, pump, 10)
        assert took < 5, took
        ((recipients, message),) = mailbox.messages
        assert recipients == ["bjorn@nordlys.example"]
        assert "Ada Byron" in message.get_body(("plain",)).get_content()
        await until(
            "'told' on the kiosk",
            lambda: "Björn has been told you are here." in shown(screen),
            pump,
            10,
        )
        with psycopg.connect(pg_dsn) as conn:
            rows = conn.execute(
                "SELECT name, terms_version, host_id FROM visitor_signins"
            ).fetchall()
        assert rows == [("Ada Byron", terms_version, "p-bjorn")]
        badge = app.extras["printer"].printed[-1]  # Ada's badge, with its sign-out code

        # 2. central down: Alan visits Carla; the kiosk says it will tell her later
        central.stop()
        app.home()
        screen.frames(2)
        sign_in_by_touch(screen, app, "Alan Kay", "alan@example.org", "car", "Carla Mendes")
        await settle(app, screen)
        await until(
            "the offline promise",
            lambda: any("as soon as we're back online" in t for t in shown(screen)),
            pump,
            15,
        )
        assert receiver.posts == []
        central.start()
        await until("Carla's Teams message", lambda: len(receiver.posts) == 1, pump, 60)
        path, body = receiver.posts[0]
        assert path == "/teams/carla" and "Alan Kay" in json.dumps(body, ensure_ascii=False)
        assert len(mailbox.messages) == 1  # Björn was not told twice

        # 3. on site until they leave: Ada signs out by showing her badge
        names = sorted(v["name"] for v in onsite(central))
        assert names == ["Ada Byron", "Alan Kay"]
        app.home()
        screen.frames(2)
        tap(screen, app.root, "Sign out")
        camera.show(badge)
        await until(
            "Ada's goodbye",
            lambda: "Goodbye, Ada. Thank you for visiting!" in shown(screen),
            pump,
            10,
        )
        await until(
            "Ada off the list at central",
            lambda: [v["name"] for v in onsite(central)] == ["Alan Kay"],
            pump,
            15,
        )
        with psycopg.connect(pg_dsn) as conn:
            (count,) = conn.execute("SELECT count(*) FROM visitor_signins").fetchone() or (0,)
        assert count == 2  # one row each, whatever was resent
    finally:
        if app is not None:
            app.dispatch("on_stop")
            if app.root is not None:
                screen.window.remove_widget(app.root)
            App._running_app = None
        await services.close()
        central.stop()

"""A kiosk revoked at central says so on its banner and refuses what would only wait in
its queue forever: a visitor signing in is told to see reception, a desk booking is
refused, nothing is queued. Real Kivy, real touches, the real sealed queue behind the
device's own sink (:class:`tapin.device.devicesync.DrainingSink`) and the agent's real
:class:`sync.agent.SyncStatus` as a refused exchange leaves it."""

from __future__ import annotations

from typing import Any

import pytest

from sync.agent import SyncStatus
from tapin.device.devicesync import DrainingSink, revoked, revoked_words
from tapin.pending import ActionError
from tests.kiosk.ui.test_kiosk_screens import settle, shown, tap, type_into

pytestmark = pytest.mark.ui

BANNER = "This kiosk was revoked on the server: nothing done here is sent. Please see reception."
REFUSED = "This kiosk was revoked on the server: nothing done here is sent"


def revoke(app: Any, queue: Any) -> None:
    """What the kiosk's services do once central said "revoked" (the sink's refusal is
    DeviceServices._revoked_refusal's)."""
    app.runtime.sync_status = SyncStatus(device_id="kiosk-1", reachable=False, trouble="revoked")

    def refusal() -> str | None:
        return revoked_words("kiosk") if revoked(app.runtime.sync_status) else None

    sink = DrainingSink(queue, lambda: None, refusal)
    app.controller.sink = sink
    app.staff.sink = sink


async def test_a_revoked_kiosk_says_so_and_sends_the_visitor_to_reception(screen, kiosk) -> None:
    k = kiosk(printer=False)
    app = k.app
    revoke(app, k.queue)
    app.refresh()
    screen.frames(2)
    assert BANNER in shown(screen)  # not "Offline: hosts will be told ..."
    assert not any(t.startswith("Offline:") for t in shown(screen))

    tap(screen, app.root, "Sign in as a visitor")
    type_into(screen, app.screen("name").ids.field, "Bo Ek")
    tap(screen, app.root, "Continue")
    tap(screen, app.root, "Delivery")
    type_into(screen, app.screen("company").ids.field, "DHL")
    tap(screen, app.root, "Sign in")
    await settle(app, screen)
    words = " ".join(shown(screen))
    assert "Sorry, that did not work" in words
    assert REFUSED in words and "Please ask reception for help." in words
    assert "Welcome, Bo." not in words
    assert (await k.queue.counts()).waiting == 0  # nothing waits forever

    hugo = app.staff.identify_badge("04A077F3C")  # the demo's Hugo has no desk today
    assert hugo is not None
    free = [d for d, state in app.staff.desk_states("day", hugo.id).items() if state == "free"]
    with pytest.raises(ActionError, match="revoked"):
        await app.staff.book_desk(free[0], "day")
    assert app.staff.desk_states("day", hugo.id)[free[0]] == "free"  # taken back
    assert (await k.queue.counts()).waiting == 0

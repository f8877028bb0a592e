"""A lobby kiosk against a real central (PostgreSQL, ``tapin central serve`` over TLS):
central's ``kiosk`` and ``visitors`` snapshots parse as the contract says, a sign-in
made through the kiosk's controller comes back in ``visitors``, ETags save the
unchanged ones, and a badge sign-out takes the visitor off the list."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.controller import NOTIFY_STATES, KioskController
from tapin.config import load_config
from tapin.demo.visitors import TERMS_VERSION, badge_qr
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync

pytestmark = [pytest.mark.pg, pytest.mark.slow]


async def test_a_kiosk_signs_a_visitor_in_and_out_through_central(central: Any) -> None:
    device = central.enroll("kiosk", lobby="lobby-main")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    sync = await open_device_sync(config, runtime)
    try:
        assert await sync.agent.refresh(force=True), sync.agent.status.last_error
        settings = runtime.kiosk
        assert settings is not None and settings.lobby_id == "lobby-main"
        assert {"guest", "delivery"} <= {t.id for t in settings.visitor_types}
        assert settings.terms is not None and settings.terms.version == TERMS_VERSION
        assert await sync.refresh_visitors()
        assert runtime.visitors is not None

        controller = KioskController(runtime, "lobby-main", sync.queue)
        sync.agent.on_settled = controller.on_results
        flow = controller.new_flow()
        assert flow.set_name("Zed Zedson").ok
        flow.choose_type("guest")
        assert flow.set_company("Acme AB").ok and flow.set_email("zed@example.org").ok
        hosts = flow.search_hosts("bjö")
        assert [p.id for p in hosts] == ["p-bjorn"] and flow.choose_host("p-bjorn")
        flow.accept(True)
        assert flow.complete()
        visit = await controller.sign_in(flow.draft)

        assert await sync.agent.drain(force=True) == 1
        assert controller.pending_ids() == [] and controller.rejected is None
        assert visit.confirmed_at is not None
        assert await sync.refresh_visitors()
        listed = runtime.visitors.on_site(visit.visitor_id)
        assert listed is not None and listed.name == "Zed Zedson"
        assert listed.host_id == "p-bjorn"
        assert controller.notified(visit.visitor_id) in NOTIFY_STATES
        row = controller.find(visit.visitor_id)
        assert row is not None and not row.local  # central's list has them

        for _ in range(5):  # once the outbox has settled, nothing changes: a 304
            etag, before = sync._visitors_etag, runtime.visitors
            assert etag is not None and await sync.refresh_visitors()
            if sync._visitors_etag == etag:
                assert runtime.visitors is before  # nothing parsed again
                break
        else:
            pytest.fail("central's visitors snapshot never came back unchanged (no 304)")

        await controller.sign_out_badge(badge_qr(visit.visitor_id, visit.badge_token))
        assert await sync.agent.drain(force=True) == 1
        assert controller.rejected is None
        assert await sync.refresh_visitors()
        assert runtime.visitors.on_site(visit.visitor_id) is None
        assert controller.find(visit.visitor_id) is None
    finally:
        await sync.close()

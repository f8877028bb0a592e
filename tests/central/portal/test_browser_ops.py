"""The operations pages in a real headless Chromium against a real central process
(TLS, uvicorn, the demo site) and real devices (``tapin enroll``, the device's own sync
code): a technician revokes a device and that device's next sync is refused with 401; a
site admin changes a room's check-in window and auto-release, and the panel's rooms
snapshot has them after one sync; on a phone, wide tables stack and no tag is cut."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from central.local import Device, LocalCentral
from sync.client import NotAuthorised
from sync.identity import load_identity
from tapin.config import load_config
from tapin.device.runtime import empty_runtime
from tapin.device.services import DeviceSync, open_device_sync
from tests.central.portal.browser import (
    SITE,
    chromium,
    create_admin,
    missing,
    sign_in,
    wait_for,
)

pytestmark = [pytest.mark.pg, pytest.mark.slow]

if (reason := missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser tests must run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def central(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    """One real central for the module, with a technician and two site admins."""
    from tests import pg

    with pg.throwaway_database() as dsn:
        server = LocalCentral(dsn, tmp_path_factory.mktemp("central")).prepare()
        create_admin(server, "tech@nordlys.example", "--role", "technician", "--site", SITE)
        create_admin(server, "fm@nordlys.example", "--role", "site_admin", "--site", SITE)
        create_admin(server, "fm2@nordlys.example", "--role", "site_admin", "--site", SITE)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@asynccontextmanager
async def _sync(device: Device) -> AsyncIterator[DeviceSync]:
    config = load_config(device.config)
    sync = await open_device_sync(config, empty_runtime(config))
    try:
        yield sync
    finally:
        await sync.close()


async def test_a_technician_revokes_a_device_and_its_next_sync_gets_401(
    central: LocalCentral,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    device = central.enroll("panel-revoked", room="fjall")
    device_id = load_identity(device.state_dir).device_id
    async with _sync(device) as sync:
        assert await sync.agent.refresh(force=True)  # it syncs before
        with chromium() as driver:
            sign_in(driver, central, "tech@nordlys.example")
            driver.find_element(By.LINK_TEXT, "Devices").click()
            wait_for(driver, lambda: driver.current_url.endswith("/devices"))
            assert "Rooms and desks" not in driver.page_source  # not a technician's page
            form = driver.find_element(
                By.XPATH, f"//input[@name='device_id' and @value='{device_id}']/.."
            )
            Select(form.find_element(By.NAME, "action")).select_by_value("revoke")
            form.find_element(By.TAG_NAME, "button").click()
            wait_for(driver, lambda: f"Revoke {device_id}?" in driver.page_source)
            assert await sync.agent.refresh(force=True)  # asking changed nothing
            driver.find_element(By.CSS_SELECTOR, "button.primary.danger").click()
            wait_for(driver, lambda: "done=revoke" in driver.current_url)
            assert "The device is revoked" in driver.find_element(By.CSS_SELECTOR, "p.ok").text
        assert not await sync.agent.refresh(force=True)  # the next sync is refused…
        with pytest.raises(NotAuthorised):  # …with a 401
            await sync.client.snapshot("rooms")


async def test_a_site_admin_changes_a_room_policy_and_the_panel_follows(
    central: LocalCentral,
) -> None:
    from selenium.webdriver.common.by import By

    device = central.enroll("panel-aurora", room="aurora")
    async with _sync(device) as sync:
        assert await sync.agent.refresh(force=True)
        before = sync.runtime.site.room("aurora")
        assert before.auto_release and before.checkin_after != timedelta(minutes=7)
        with chromium(language="sv") as driver:
            sign_in(driver, central, "fm@nordlys.example")
            driver.find_element(By.LINK_TEXT, "Rum och skrivbord").click()
            wait_for(driver, lambda: driver.current_url.endswith("/rooms"))
            driver.find_element(By.CSS_SELECTOR, "a[href$='/rooms/edit?room=aurora']").click()
            wait_for(driver, lambda: "room=aurora" in driver.current_url)
            closes = driver.find_element(By.ID, "ca")
            closes.clear()
            closes.send_keys("7")
            opens = driver.find_element(By.ID, "cb")
            opens.clear()
            opens.send_keys("3")
            auto = driver.find_element(By.ID, "ar")
            assert auto.is_selected()
            driver.find_element(By.CSS_SELECTOR, "label[for=ar]").click()  # the label works
            assert not auto.is_selected()
            driver.find_element(By.CSS_SELECTOR, "button.primary").click()
            wait_for(driver, lambda: "done=room" in driver.current_url)
            assert "Sparat" in driver.find_element(By.CSS_SELECTOR, "p.ok").text
        assert await sync.agent.refresh()  # one sync
        after = sync.runtime.site.room("aurora")
        assert after.checkin_after == timedelta(minutes=7)
        assert after.checkin_before == timedelta(minutes=3)
        assert after.auto_release is False
        assert after.capacity == before.capacity and after.equipment == before.equipment


def test_on_a_phone_tables_stack_and_no_tag_is_cut(central: LocalCentral) -> None:
    with chromium(390, 844) as driver:
        sign_in(driver, central, "fm2@nordlys.example")  # each admin enrols TOTP once
        for page in ("", "/devices", "/rooms", "/people", "/retention", "/audit"):
            driver.get(f"{central.url}/admin/sites/{SITE}{page}")
            overflow = driver.execute_script(
                "var w = document.documentElement.clientWidth, bad = [];"
                " document.querySelectorAll('.tag, td, th, button').forEach(function (e) {"
                "   var r = e.getBoundingClientRect();"
                "   if (r.width && (r.right > w + 1 || r.left < -1))"
                "     bad.push(e.outerHTML.slice(0, 80));"
                " });"
                " document.querySelectorAll('.scroll').forEach(function (s) {"
                "   if (s.scrollWidth > s.clientWidth + 1) bad.push('scroll ' + s.scrollWidth);"
                " });"
                " return bad;"
            )
            assert overflow == [], (page, overflow)

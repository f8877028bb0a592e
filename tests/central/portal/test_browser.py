"""The portal in a real headless Chromium against a real central process (TLS, uvicorn,
the demo site): sign in with TOTP, a receptionist invites a visitor, a kiosk signs a
visitor in through the device API and the visitor appears on the site's on-site list."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from central.local import LocalCentral
from tests.central.portal.browser import (
    SITE,
    chromium,
    create_admin,
    kiosk_sign_in,
    missing,
    sign_in,
    wait_for,
)

pytestmark = pytest.mark.slow

if (reason := missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser tests must run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)


def test_receptionist_invites_and_sees_the_visitor_on_site(pg_dsn: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    central = LocalCentral(pg_dsn, tmp_path / "central").prepare()
    create_admin(central, "desk@nordlys.example", "--role", "receptionist", "--site", SITE)
    central.start()
    try:
        with chromium() as driver:
            sign_in(driver, central, "desk@nordlys.example")
            # one site: the dashboard of the receptionist's site
            wait_for(driver, lambda: driver.current_url.endswith(f"/admin/sites/{SITE}"))
            assert "Nordlys Stockholm" in driver.find_element(By.TAG_NAME, "h1").text
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"

            driver.find_element(By.LINK_TEXT, "Visitors").click()
            wait_for(driver, lambda: driver.current_url.endswith("/visitors"))
            driver.find_element(By.ID, "name").send_keys("Grace Hopper")
            driver.find_element(By.ID, "vemail").send_keys("grace@cobol.example")
            driver.find_element(By.ID, "company").send_keys("Navy")
            Select(driver.find_element(By.ID, "host")).select_by_value("p-bjorn")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit].primary").click()
            wait_for(driver, lambda: "created=inv-" in driver.current_url)
            assert "Invite made" in driver.find_element(By.CSS_SELECTOR, "p.ok").text
            invite_id = driver.current_url.split("created=")[1]
            with psycopg.connect(pg_dsn) as conn:
                row = conn.execute(
                    "SELECT i.name, n.recipient FROM visitor_invites i JOIN host_notifications n"
                    " ON n.invite_id = i.id WHERE i.id = %s",
                    [invite_id],
                ).fetchone()
                audit = conn.execute(
                    "SELECT action FROM admin_audit WHERE target = %s", [invite_id]
                ).fetchall()
            assert row == ("Grace Hopper", "visitor")  # its email with the QR code is queued
            assert audit == [("invite.create",)]

            driver.find_element(By.LINK_TEXT, "Evacuation list").click()
            wait_for(driver, lambda: driver.current_url.endswith("/evacuation"))
            assert "Grace Hopper" not in driver.page_source  # invited, not here yet

            kiosk_sign_in(central, "Grace Hopper")
            driver.refresh()
            wait_for(driver, lambda: "Grace Hopper" in driver.page_source)
            rows = driver.find_elements(By.CSS_SELECTOR, "table.evac tbody tr")
            assert len(rows) == 1 and "Björn Ek" in rows[0].text

            # another site's pages stay shut, and the signed-out session is gone
            driver.get(central.url + "/admin/sites/nowhere/visitors")
            assert "do not have access" in driver.page_source
            driver.get(central.url + f"/admin/sites/{SITE}")
            driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
            wait_for(driver, lambda: driver.current_url.endswith("/admin/signin"))
            driver.get(central.url + f"/admin/sites/{SITE}/evacuation")
            assert driver.current_url.endswith("/admin/signin")
    finally:
        central.stop()

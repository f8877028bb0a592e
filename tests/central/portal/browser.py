"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
selenium, nothing downloaded) against a real central process, for the browser tests
and the screenshots (``python -m tests.central.portal.browser /tmp/portal-shots``).
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp

from central.local import LocalCentral

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
SITE = "nordlys-sthlm"
PASSWORD = "correct horse battery staple 42"


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if not CHROMEDRIVER.exists() or not CHROMIUM.exists():
        return "needs Debian's chromium and chromium-driver (apt-get install, see .ci/run)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (the dev extra)"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 800, language: str = "en") -> Iterator[Any]:
    """A headless Chromium via /usr/bin/chromedriver (selenium's manager never runs)."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        f"--lang={language}",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.accept_insecure_certs = True  # central.devcert's CA is not the system's
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    if width < 500:  # below Chromium's smallest window: emulate the phone's viewport
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
    try:
        yield driver
    finally:
        driver.quit()


def create_admin(central: LocalCentral, email: str, *args: str) -> None:
    """``tapin central admin create`` with the password on standard input."""
    result = subprocess.run(
        [sys.executable, "-m", "tapin", "central", "admin", "create", "--email", email, *args],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **central.env},
    )
    assert result.returncode == 0, result.stderr


def sign_in(
    driver: Any, central: LocalCentral, email: str, shots: Path | None = None, tag: str = ""
) -> None:
    """Sign in through the forms, enrolling TOTP from the key shown on the page."""
    from selenium.webdriver.common.by import By

    driver.get(central.url + "/admin/signin")
    shot(driver, shots, f"signin{tag}")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit].primary").click()
    wait_for(driver, lambda: "/admin/totp" in driver.current_url)
    secret = driver.find_element(By.CSS_SELECTOR, "code.secret").text.replace(" ", "")
    wait_for(
        driver,
        lambda: driver.execute_script(
            "var i = document.querySelector('img.qr');"
            " return i && i.complete && i.naturalWidth > 0;"
        ),
    )
    shot(driver, shots, f"totp-enrol{tag}")
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())
    driver.find_element(By.CSS_SELECTOR, "button[type=submit].primary").click()
    wait_for(driver, lambda: "/admin/totp" not in driver.current_url)


def kiosk_sign_in(central: LocalCentral, name: str, host: str = "p-bjorn") -> None:
    """A lobby kiosk enrolled over TLS signs a visitor in through the real device API."""
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    from sync.wire import EpochKey
    from tests.central.conftest import Device, enroll_body
    from tests.central.visiting import signin

    code = central.enroll_code(lobby="lobby-main")
    context = ssl.create_default_context(cafile=str(central.pki.ca_file))
    with httpx.Client(base_url=central.url, verify=context) as client:
        answer = client.post("/v1/enroll", json=enroll_body(code, Ed25519PrivateKey.generate()))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        public = X25519PublicKey.from_public_bytes(base64.b64decode(body["central_public_key"]))
        kiosk = Device(body["device_id"], body["token"], EpochKey.generate(public))
        payload = signin(
            f"v-{name.split()[0].lower()}",
            name=name,
            host_id=host,
            accepted_terms=True,
            terms_version="2026-11-01",
        )
        event = kiosk.event("visitor.signin", "lobby:lobby-main", payload)
        answer = client.post("/v1/events", json=kiosk.batch(event), headers=kiosk.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["outcome"] == "applied", answer.text


def wait_for(driver: Any, condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out at {driver.current_url}: {driver.page_source[:1500]}")


def shot(driver: Any, folder: Path | None, name: str) -> None:
    """The whole page (beyond the viewport) as ``folder/name-WIDTH.png``."""
    if folder is None:
        return
    width = driver.execute_script("return window.innerWidth")
    data = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    (folder / f"{name}-{width}.png").write_bytes(base64.b64decode(data["data"]))


def screenshots(folder: Path) -> None:
    """Every page at desktop (1280x800) and phone (390x844) width into ``folder``."""
    from central.local import server_reachable, throwaway_database

    if (reason := missing() or server_reachable()) is not None:
        raise SystemExit(f"cannot take screenshots: {reason}")
    folder.mkdir(parents=True, exist_ok=True)
    with throwaway_database("tapin_shots") as dsn:
        work = Path("/tmp/portal-shots-central")
        shutil.rmtree(work, ignore_errors=True)
        central = LocalCentral(dsn, work).prepare()
        sizes = ((1280, 800), (390, 844))
        for n, _ in enumerate(sizes):
            create_admin(central, f"boss{n}@nordlys.example")
            create_admin(central, f"chief{n}@nordlys.example")
            create_admin(
                central, f"desk{n}@nordlys.example", "--role", "receptionist", "--site", SITE
            )
            create_admin(central, f"fm{n}@nordlys.example", "--role", "site_admin", "--site", SITE)
            create_admin(
                central, f"tech{n}@nordlys.example", "--role", "technician", "--site", SITE
            )
        central.start()
        try:
            kiosk_sign_in(central, "Ada Lovelace")
            kiosk_sign_in(central, "Katherine Johnson", host="p-carla")
            for n, (width, height) in enumerate(sizes):
                with chromium(width, height) as driver:
                    sign_in(driver, central, f"desk{n}@nordlys.example", folder)
                    for page in ("", "/visitors", "/evacuation"):
                        driver.get(f"{central.url}/admin/sites/{SITE}{page}")
                        shot(driver, folder, f"site{page.replace('/', '-') or '-dashboard'}")
                    driver.get(f"{central.url}/admin/sites/{SITE}/audit")
                    shot(driver, folder, "denied")
                with chromium(width, height, "sv") as driver:
                    sign_in(driver, central, f"boss{n}@nordlys.example", folder, "-sv")
                    driver.get(central.url + "/admin/")
                    shot(driver, folder, "home-sv")
                    driver.get(f"{central.url}/admin/sites/{SITE}/audit")
                    shot(driver, folder, "site-audit-sv")
                    driver.get(f"{central.url}/admin/audit")
                    shot(driver, folder, "audit-all-sv")
                    driver.get(f"{central.url}/admin/sites/{SITE}/visitors")
                    shot(driver, folder, "site-visitors-sv")
                    _ops_pages(driver, central, folder, "-sv")
                    _device_pages(driver, central, folder, "-sv")
                    _admin_pages(driver, central, folder, "-sv")
                with chromium(width, height) as driver:
                    sign_in(driver, central, f"fm{n}@nordlys.example")
                    _ops_pages(driver, central, folder, "")
                with chromium(width, height) as driver:
                    sign_in(driver, central, f"chief{n}@nordlys.example")
                    _admin_pages(driver, central, folder, "")
                with chromium(width, height) as driver:
                    sign_in(driver, central, f"tech{n}@nordlys.example")
                    _device_pages(driver, central, folder, "")
        finally:
            central.stop()


def _device_pages(driver: Any, central: LocalCentral, folder: Path, tag: str) -> None:
    """Devices, an action's confirmation and a new enrollment code."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    site = f"{central.url}/admin/sites/{SITE}"
    driver.get(f"{site}/devices")
    shot(driver, folder, f"devices{tag}")
    forms = driver.find_elements(By.CSS_SELECTOR, "form.inline")
    if forms:
        Select(forms[0].find_element(By.NAME, "action")).select_by_value("reconfigure")
        forms[0].find_element(By.TAG_NAME, "button").click()
        wait_for(driver, lambda: "textarea" in driver.page_source)
        shot(driver, folder, f"device-confirm{tag}")
    driver.get(f"{site}/devices")
    driver.find_element(By.CSS_SELECTOR, "#enroll-h + form button").click()
    wait_for(driver, lambda: "bigcode" in driver.page_source)
    shot(driver, folder, f"device-code{tag}")


def _ops_pages(driver: Any, central: LocalCentral, folder: Path, tag: str) -> None:
    """A site admin's pages: devices, rooms, a room's form, people, forget, retention."""
    site = f"{central.url}/admin/sites/{SITE}"
    for page, name in (
        ("/devices", "devices"),
        ("/rooms", "rooms"),
        ("/rooms/edit?room=aurora", "room-edit"),
        ("/people", "people"),
        ("/people?q=zz-nobody", "people-none"),
        ("/people/forget?person=p-bjorn", "forget"),
        ("/retention", "retention"),
        ("/visitor-types", "visitor-types"),
        ("/visitor-types?edit=guest", "visitor-type-edit"),
        ("/terms", "terms"),
        ("/audit", "site-audit"),
    ):
        driver.get(site + page)
        shot(driver, folder, f"{name}{tag}")


def _admin_pages(driver: Any, central: LocalCentral, folder: Path, tag: str) -> None:
    driver.get(f"{central.url}/admin/admins")
    shot(driver, folder, f"admins{tag}")


if __name__ == "__main__":
    screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/portal-shots"))

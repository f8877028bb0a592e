"""The first pages as their users see them: a site's dashboard, visitors and invites,
the evacuation list after a real kiosk sign-in, Swedish, and every text translated."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import create_enrollment_code
from central.portal.web import gettext_for
from sync.wire import EpochKey
from tests.central.conftest import NOW, Device, enroll_body
from tests.central.portal.conftest import Portal, csrf_of
from tests.central.visiting import signin

ROOT = Path(__file__).resolve().parents[3]
MARKED = re.compile(r'\b_\(\s*"((?:[^"\\]|\\.)+)"\s*\)')


def _kiosk(portal: Portal) -> Device:
    code = portal.run(lambda: create_enrollment_code(portal.pool, lobby_id="l1"))
    signer = Ed25519PrivateKey.generate()
    response = portal.client.post("/v1/enroll", json=enroll_body(code.code, signer))
    assert response.status_code == 201, response.text
    body = response.json()
    key = portal.app.state.central.public_key
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    return Device(
        body["device_id"], body["token"], EpochKey.generate(X25519PublicKey.from_public_bytes(key))
    )


def test_dashboard_rooms_devices_visitors(portal: Portal) -> None:
    tech = portal.admin("tech@example.com", "technician", "alpha")
    kiosk = _kiosk(portal)
    portal.sql(
        "INSERT INTO bookings (id, site_id, resource, during, subject)"
        " VALUES ('bk-1', 'alpha', 'room:r2', tstzrange(%s, %s), 'Secret plan')",
        NOW.replace(hour=8),
        NOW.replace(hour=9, minute=30),
    )
    cookie, _ = portal.session(tech)
    portal.use(cookie)
    home = portal.client.get("/admin/", follow_redirects=False)
    assert home.headers["location"] == "/admin/sites/alpha"  # one site: straight there
    page = portal.client.get("/admin/sites/alpha")
    text = page.text
    assert "Alpha HQ" in text and "1/2" in text  # one of two rooms busy
    assert "Busy until 09:30" in text and "Free" in text
    assert "Secret plan" not in text and "Roadmap" not in text  # no subjects, ever
    assert kiosk.id in text and "never seen" in text
    assert "Visitors</a>" not in text  # not a technician's page
    assert "Beta" not in text


def test_receptionist_sees_a_kiosk_sign_in_on_the_evacuation_list(portal: Portal) -> None:
    desk = portal.admin("desk@example.com", "receptionist", "alpha")
    kiosk = _kiosk(portal)
    cookie, _ = portal.session(desk)
    portal.use(cookie)
    empty = portal.client.get("/admin/sites/alpha/evacuation")
    assert "No visitors are signed in." in empty.text
    event = kiosk.event("visitor.signin", "lobby:l1", signin(host_id="p-inv"))
    response = portal.client.post("/v1/events", json=kiosk.batch(event), headers=kiosk.headers)
    assert response.status_code == 200 and response.json()["results"][0]["outcome"] == "applied"
    page = portal.client.get("/admin/sites/alpha/evacuation")
    assert "Ada Lovelace" in page.text and "Analytical" in page.text
    assert "Ivan Invisible" not in page.text  # an invisible host is not named
    assert "Visitors on site at" in page.text and ": 1" in page.text
    assert "@media print" in portal.client.get("/admin/static/portal.css").text
    visitors = portal.client.get("/admin/sites/alpha/visitors")
    assert "Ada Lovelace" in visitors.text and "Ivan" not in visitors.text  # not a host choice
    assert "Vera Visible" in visitors.text


def test_invite_form_errors_keep_what_was_typed(portal: Portal) -> None:
    desk = portal.admin("desk@example.com", "receptionist", "alpha")
    cookie, csrf = portal.session(desk)
    portal.use(cookie)
    response = portal.client.post(
        "/admin/sites/alpha/invites",
        data={"csrf": csrf, "name": "Grace Hopper", "email": "not-an-email", "host_id": "p-vis"},
    )
    assert response.status_code == 400
    assert "not an email address" in response.text and 'value="Grace Hopper"' in response.text
    assert csrf_of(response) == csrf
    assert portal.sql("SELECT count(*) FROM visitor_invites") == [(0,)]


def test_swedish_pages(portal: Portal) -> None:
    desk = portal.admin("desk@example.com", "receptionist", "alpha")
    cookie, _ = portal.session(desk)
    portal.use(cookie)
    page = portal.client.get("/admin/sites/alpha/visitors", headers={"Accept-Language": "sv"})
    assert 'lang="sv"' in page.text and "Bjud in en besökare" in page.text
    assert "Gäst" in page.text  # the visitor type's Swedish name


def test_every_portal_text_has_swedish() -> None:
    texts: set[str] = set()
    for path in (ROOT / "central" / "portal").rglob("*"):
        if path.suffix in (".py", ".html") and path.name != "web.py":
            texts |= set(MARKED.findall(path.read_text(encoding="utf-8")))
    assert len(texts) > 60
    swedish = gettext_for("sv")
    missing = sorted(
        t for t in texts if swedish(t) == t and t not in {"Version", "In", "global", "receptionist"}
    )
    assert missing == []
    for text in texts:
        assert set(re.findall(r"\{(\w+)\}", swedish(text))) == set(re.findall(r"\{(\w+)\}", text))

"""Sign-in with a password and a TOTP code, enrolment at the first sign-in, cookies,
sessions' timeouts, and the security headers."""

from __future__ import annotations

import pyotp

from tests.central.portal.conftest import PASSWORD, Portal, csrf_of


def test_first_sign_in_enrols_totp_then_signs_in(portal: Portal) -> None:
    admin_id = portal.admin("boss@example.com")
    page = portal.client.get("/admin/signin")
    assert page.status_code == 200 and 'lang="en"' in page.text
    response = portal.client.post(
        "/admin/signin",
        data={"email": "BOSS@example.com", "password": PASSWORD, "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/totp"
    # half signed in: no page but the code's
    assert portal.client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/totp"
    enrol = portal.client.get("/admin/totp")
    assert "Set up two-factor sign-in" in enrol.text
    qr = portal.client.get("/admin/totp/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in qr.content
    [(pending,)] = portal.sql("SELECT totp_pending FROM admins WHERE id = %s", admin_id)
    assert pending.replace(" ", "")[:4] in enrol.text.replace(" ", "")  # typed by hand too

    wrong = portal.client.post(
        "/admin/totp", data={"code": "000000", "csrf": csrf_of(enrol)}, follow_redirects=False
    )
    if wrong.status_code != 303:  # (000000 could be the right code, once in a million)
        assert wrong.status_code == 401 and "not right" in wrong.text
    done = portal.client.post(
        "/admin/totp",
        data={"code": pyotp.TOTP(pending).now(), "csrf": csrf_of(enrol)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/"
    home = portal.client.get("/admin/")
    assert "Alpha HQ" in home.text and "Beta Office" in home.text  # a global admin's sites
    assert "boss@example.com" in home.text
    [(secret, left)] = portal.sql(
        "SELECT totp_secret, totp_pending FROM admins WHERE id = %s", admin_id
    )
    assert secret == pending and left is None
    failed = ["signin.failed"] if wrong.status_code == 401 else []
    assert portal.audit_actions() == [
        "admin.create",
        "signin.password",
        *failed,
        "totp.enrol",
        "signin",
    ]


def test_a_code_is_accepted_once(portal: Portal) -> None:
    portal.admin("boss@example.com")
    assert portal.sign_in("boss@example.com").status_code == 303
    used = portal.code("boss@example.com")
    portal.client.cookies.clear()
    page = portal.client.get("/admin/signin")
    portal.client.post(
        "/admin/signin",
        data={"email": "boss@example.com", "password": PASSWORD, "csrf": csrf_of(page)},
    )
    page = portal.client.get("/admin/totp")
    assert "Enter your code" in page.text  # enrolled: no QR code again
    assert portal.client.get("/admin/totp/qr.svg").status_code == 404
    again = portal.client.post("/admin/totp", data={"code": used, "csrf": csrf_of(page)})
    assert again.status_code == 401
    later = portal.client.post(
        "/admin/totp",
        data={"code": portal.code("boss@example.com", 1), "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert later.status_code == 303


def test_cookies_are_httponly_secure_strict(portal: Portal) -> None:
    portal.admin("boss@example.com")
    page = portal.client.get("/admin/signin")
    pre = page.headers["set-cookie"].lower()
    assert "httponly" in pre and "secure" in pre and "samesite=strict" in pre
    done = portal.sign_in("boss@example.com")
    [cookie] = [c for c in done.headers.get_list("set-cookie") if c.startswith("tapin_admin=")]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "secure", "samesite=strict", "path=/admin"} <= set(flags)
    assert not any(f.startswith(("max-age", "expires")) for f in flags)  # a browser session's
    # only a hash of the cookie's value is stored
    value = cookie.split(";")[0].split("=", 1)[1]
    rows = portal.sql("SELECT 1 FROM admin_sessions WHERE id_hash::text LIKE %s", f"%{value}%")
    assert rows == []


def test_plain_http_on_localhost_drops_secure(portal: Portal) -> None:
    page = portal.client.get("http://localhost/admin/signin")
    assert "secure" not in page.headers["set-cookie"].lower()


def test_idle_and_absolute_timeouts(portal: Portal) -> None:
    admin_id = portal.admin("boss@example.com")
    cookie, _ = portal.session(admin_id)
    portal.use(cookie)
    assert portal.client.get("/admin/").status_code == 200
    portal.sql("UPDATE admin_sessions SET last_seen_at = now() - interval '31 minutes'")
    gone = portal.client.get("/admin/", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/signin"
    cookie, _ = portal.session(admin_id)
    portal.use(cookie)
    portal.sql("UPDATE admin_sessions SET created_at = now() - interval '13 hours'")
    assert portal.client.get("/admin/", follow_redirects=False).status_code == 303
    assert portal.sql("SELECT count(*) FROM admin_sessions") == [(0,)]


def test_sign_out_ends_the_session(portal: Portal) -> None:
    portal.admin("boss@example.com")
    portal.sign_in("boss@example.com")
    home = portal.client.get("/admin/")
    out = portal.client.post("/admin/signout", data={"csrf": csrf_of(home)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/signin"
    assert portal.sql("SELECT count(*) FROM admin_sessions") == [(0,)]
    assert "signout" in portal.audit_actions()


def test_security_headers_on_every_answer(portal: Portal) -> None:
    for path in ("/admin/signin", "/admin/nowhere", "/admin/static/portal.css", "/admin/"):
        response = portal.client.get(path, follow_redirects=False)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    page = portal.client.get("/admin/signin")
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline


def test_swedish_from_accept_language(portal: Portal) -> None:
    page = portal.client.get(
        "/admin/signin", headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"}
    )
    assert 'lang="sv"' in page.text and "Logga in" in page.text
    page = portal.client.get("/admin/signin", headers={"Accept-Language": "de, en;q=0.2"})
    assert 'lang="en"' in page.text

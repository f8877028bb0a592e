"""Throttling and lockout, the monitoring alert and metric, CSRF, the append-only audit
log, and the password policy."""

from __future__ import annotations

import logging
import re

import psycopg
import pytest

from central.portal.security import PolicyError, check_password_policy, verify_password
from central.portal.store import purge_audit
from tests.central.portal.conftest import PASSWORD, Portal, csrf_of


def _try(portal: Portal, email: str, password: str) -> int:
    portal.use(None)
    page = portal.client.get("/admin/signin")
    return portal.client.post(
        "/admin/signin",
        data={"email": email, "password": password, "csrf": csrf_of(page)},
        follow_redirects=False,
    ).status_code


def _metric(portal: Portal, name: str) -> int:
    text = portal.client.get("/admin/metrics").text
    found = re.search(rf"^tapin_portal_{name}_total (\d+)$", text, re.M)
    assert found, text
    return int(found[1])


def test_five_failures_lock_the_account_and_alert(
    portal: Portal, caplog: pytest.LogCaptureFixture
) -> None:
    portal.admin("boss@example.com")
    caplog.set_level(logging.INFO)
    for _ in range(5):
        assert _try(portal, "boss@example.com", "not the password at all") == 401
    assert _try(portal, "boss@example.com", PASSWORD) == 429  # even the right one, for now
    assert _metric(portal, "signin_failures") == 5
    assert _metric(portal, "signin_alerts") == 1
    assert _metric(portal, "signin_lockouts") == 1
    [alert] = [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.message]
    assert "failed sign-ins for an account: 5 in 10 min from testclient" in alert.message
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "boss@example.com" not in logged and "not the password" not in logged
    # the lock lifts when the failures are older than the window
    portal.sql("UPDATE admin_signin_failures SET failed_at = now() - interval '11 minutes'")
    assert _try(portal, "boss@example.com", PASSWORD) == 303


def test_wrong_codes_count_too(portal: Portal) -> None:
    portal.admin("boss@example.com")
    portal.sign_in("boss@example.com")  # enrolled
    portal.use(None)
    page = portal.client.get("/admin/signin")
    portal.client.post(
        "/admin/signin",
        data={"email": "boss@example.com", "password": PASSWORD, "csrf": csrf_of(page)},
    )
    page = portal.client.get("/admin/totp")
    good = portal.code("boss@example.com", 1)
    statuses = [
        portal.client.post("/admin/totp", data={"code": c, "csrf": csrf_of(page)}).status_code
        for c in ["12345", "abcdef", *(f"{n:06d}" for n in range(3) if f"{n:06d}" != good)][:5]
    ]
    assert statuses == [401] * 5
    locked = portal.client.post("/admin/totp", data={"code": good, "csrf": csrf_of(page)})
    assert locked.status_code == 429


def test_one_address_is_throttled_across_accounts(portal: Portal) -> None:
    portal.admin("boss@example.com")
    for n in range(20):
        assert _try(portal, f"nobody{n}@example.com", "whatever it is here") == 401
    assert _try(portal, "boss@example.com", PASSWORD) == 429
    assert _metric(portal, "signin_alerts") == 1


def test_csrf_missing_or_wrong_is_refused_and_changes_nothing(portal: Portal) -> None:
    admin_id = portal.admin("desk@example.com", "receptionist", "alpha")
    cookie, csrf = portal.session(admin_id)
    portal.use(cookie)
    form = {
        "name": "Grace Hopper",
        "email": "grace@example.org",
        "host_id": "p-vis",
        "visitor_type": "guest",
    }
    audit_before = portal.sql("SELECT count(*) FROM admin_audit")
    for token in (None, "", "wrong", csrf[:-1]):
        data = form if token is None else {**form, "csrf": token}
        response = portal.client.post(
            "/admin/sites/alpha/invites", data=data, follow_redirects=False
        )
        assert response.status_code == 403 and "expired" in response.text
    assert portal.sql("SELECT count(*) FROM visitor_invites") == [(0,)]
    assert portal.sql("SELECT count(*) FROM admin_audit") == audit_before
    assert _metric(portal, "csrf_refused") == 4
    # another session's token is no good either
    _, other = portal.session(admin_id)
    response = portal.client.post("/admin/sites/alpha/invites", data={**form, "csrf": other})
    assert response.status_code == 403
    made = portal.client.post(
        "/admin/sites/alpha/invites", data={**form, "csrf": csrf}, follow_redirects=False
    )
    assert made.status_code == 303
    [(invite_id,)] = portal.sql("SELECT id FROM visitor_invites")
    assert made.headers["location"] == f"/admin/sites/alpha/visitors?created={invite_id}"
    [(target, actor, address)] = portal.sql(
        "SELECT target, admin_id, address FROM admin_audit WHERE action = 'invite.create'"
    )
    assert (target, actor, address) == (invite_id, admin_id, "testclient")
    # the invite email is queued for the visitor (issue 8's outbox)
    assert portal.sql("SELECT recipient, reason FROM host_notifications") == [("visitor", "invite")]


def test_sign_in_form_without_its_cookie_is_refused(portal: Portal) -> None:
    portal.admin("boss@example.com")
    portal.use(None)
    page = portal.client.get("/admin/signin")
    token = csrf_of(page)
    portal.client.cookies.clear()
    response = portal.client.post(
        "/admin/signin", data={"email": "boss@example.com", "password": PASSWORD, "csrf": token}
    )
    assert response.status_code == 403
    assert portal.sql("SELECT count(*) FROM admin_sessions") == [(0,)]


def test_audit_log_is_append_only(portal: Portal) -> None:
    portal.admin("boss@example.com")  # writes admin.create
    for statement in (
        "UPDATE admin_audit SET action = 'x'",
        "DELETE FROM admin_audit",
        "TRUNCATE admin_audit",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            portal.sql(statement)
    portal.sql(
        "INSERT INTO admin_audit (at, admin_id, action, address)"
        " VALUES (now() - interval '366 days', 1, 'signin', '10.0.0.1')"
    )
    assert portal.run(purge_audit, portal.pool) == 1
    assert [a for a in portal.audit_actions()] == ["admin.create"]


def test_audit_page_shows_actions_without_personal_data(portal: Portal) -> None:
    desk = portal.admin("desk@example.com", "receptionist", "alpha")
    boss = portal.admin("boss@example.com", "site_admin", "alpha")
    cookie, csrf = portal.session(desk)
    portal.use(cookie)
    portal.client.post(
        "/admin/sites/alpha/invites",
        data={
            "name": "Grace Hopper",
            "email": "grace@example.org",
            "host_id": "p-vis",
            "csrf": csrf,
        },
    )
    portal.client.get("/admin/sites/alpha/evacuation")
    cookie, _ = portal.session(boss)
    portal.use(cookie)
    page = portal.client.get("/admin/sites/alpha/audit")
    assert page.status_code == 200
    assert "invite.create" in page.text and "evacuation.view" in page.text
    assert "desk@example.com" in page.text  # the actor
    assert "Grace" not in page.text and "grace@example.org" not in page.text
    columns = portal.sql(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'admin_audit' ORDER BY ordinal_position"
    )
    assert [c for (c,) in columns] == [
        "id",
        "at",
        "admin_id",
        "action",
        "site_id",
        "target",
        "address",
    ]


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short-one", "too_short"),
        ("password1234", "common"),
        ("Password123456!", "common"),
        ("aaaaaaaaaaaaaaaa", "common"),
        ("my-name-is-boss-and-more", "contains_email"),
        ("x" * 300, "too_long"),
    ],
)
def test_password_policy_refuses(password: str, code: str) -> None:
    with pytest.raises(PolicyError) as refused:
        check_password_policy(password, "boss@example.com")
    assert refused.value.code == code


def test_password_policy_accepts_and_hashes_with_argon2id() -> None:
    check_password_policy(PASSWORD, "boss@example.com")
    from central.portal.security import hash_password

    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, PASSWORD) and not verify_password(hashed, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)

"""Every portal route × every role × another site: nothing is accepted where the rule
does not allow it, and a new route without a rule fails the portal's build (and this
test, which reads the routes from the app)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import Mount, Route

from central.portal import Deps, portal_app
from central.portal.authz import Rule, guard, rule_of
from central.portal.store import Admin
from tests.central.portal.conftest import Portal

# (who, role, site): the admins of the matrix; site roles are at alpha, beta is "another site"
WHO = [
    ("global", "global", None),
    ("site_admin", "site_admin", "alpha"),
    ("receptionist", "receptionist", "alpha"),
    ("technician", "technician", "alpha"),
    ("beta_receptionist", "receptionist", "beta"),
]
INVITE_FORM = {
    "name": "Grace Hopper",
    "email": "grace@example.org",
    "host_id": "p-vis",
    "visitor_type": "guest",
    "company": "Navy",
    "day": "",
}
# Every POST gets every field any action reads, with values that would change something
# (and a confirmation given): a refusal that let the page run would show in _state.
ACTION_FORM = {
    **INVITE_FORM,
    "device_id": "dev-alpha",
    "action": "revoke",
    "confirmed": "yes",
    "place": "room:r1",
    "room_id": "r1",
    "capacity": "99",
    "equipment": "tv",
    "checkin_before": "3",
    "checkin_after": "4",
    "empty_offer": "5",
    "empty_release": "9",
    "auto_release": "on",
    "desk_id": "d1",
    "out_of_use": "yes",
    "reason": "broken",
    "person_id": "p-inv",
    "visibility": "visible",
    "typed": "Ivan Invisible",
    "admin_id": "",  # the victim's id, set by the test
    "change": "deactivate",
    "site_id": "gamma",
    "timezone": "Europe/Oslo",
    "password": "a long unusual passphrase 77",
    "password2": "a long unusual passphrase 77",
    "role": "receptionist",
    "site": "alpha",
    "floor": "1",
    "type_id": "matrix",
    "name_en": "Matrix",
    "steps": "company,terms",
    "signature": "on",
    "position": "3",
    "version": "v-matrix",
    "title_en": "Terms",
    "text_en": "Be kind.",
}


def portal_routes(portal: Portal) -> list[tuple[str, str, Rule]]:
    """(method, path, rule) for every route under /admin, from the app itself."""
    [mount] = [r for r in portal.app.routes if isinstance(r, Mount) and r.path == "/admin"]
    found = []
    for route in mount.routes:
        if isinstance(route, Mount):
            continue  # /static: files only
        assert isinstance(route, Route)
        rule = rule_of(route.endpoint)
        assert rule is not None, f"{route.path} has no rule"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, route.path, rule))
    return found


def test_a_route_without_a_rule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import central.portal as module

    async def naked(request: Any) -> Any:
        raise AssertionError

    original = list(module.portal_routes())
    monkeypatch.setattr(module, "portal_routes", lambda: [*original, Route("/naked", naked)])
    with pytest.raises(RuntimeError, match="no authorization rule"):
        portal_app(Deps(lambda: None, lambda: None, b""))  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError):
        guard("site")  # a site rule without roles


def _devices(portal: Portal) -> None:
    """One device at each site (rows as an enrollment leaves them)."""
    for device, site, room in (("dev-alpha", "alpha", "r1"), ("dev-beta", "beta", "b1")):
        portal.sql(
            "INSERT INTO devices (id, site_id, scope_kind, scope_id, role, public_key,"
            " token_hash) VALUES (%s, %s, 'room', %s, 'panel', %s, %s)",
            device,
            site,
            room,
            bytes(32),
            device.encode().ljust(32, b"-"),
        )


def test_every_route_every_role_every_site(portal: Portal) -> None:
    admins = {who: portal.admin(f"{who}@example.com", role, site) for who, role, site in WHO}
    form = {
        **ACTION_FORM,
        "admin_id": str(portal.admin("victim@example.com", "technician", "alpha")),
    }
    _devices(portal)
    routes = portal_routes(portal)
    assert len(routes) >= 31  # the scan really sees the portal
    assert sum(1 for m, _, _ in routes if m == "POST") >= 14
    checked = denied = 0
    for who, role, site in reversed(WHO):  # the global admin (allowed everything) last
        admin = Admin(admins[who], "", None, True, {site: role})
        for method, path, rule in routes:
            for at in ("alpha", "beta"):
                if "{site}" not in path and at == "beta":
                    continue
                url = "/admin" + path.replace("{site}", at)
                allowed = rule.allows(admin, "full", at if "{site}" in path else None)
                before = _state(portal)
                status = _call(portal, admins[who], method, url, path, form)
                checked += 1
                if rule.kind in ("public", "pending"):
                    continue  # checked below: anonymous and half-signed-in visitors
                if allowed:
                    assert status != 403 and status < 500, (who, method, url, status)
                else:
                    denied += 1
                    assert status == 403, (who, method, url, status)
                    assert _state(portal) == before, (who, method, url)
    assert denied >= 80 and checked >= 150
    # the allowed calls really acted (the form is one they accept)
    assert portal.sql("SELECT revoked_at IS NOT NULL FROM devices WHERE id = 'dev-alpha'") == [
        (True,)
    ]
    assert portal.sql("SELECT revoked_at FROM devices WHERE id = 'dev-beta'") == [(None,)]
    assert portal.sql("SELECT capacity, out_of_use FROM rooms, desks WHERE rooms.id = 'r1'") == [
        (99, True)
    ]
    assert portal.sql("SELECT count(*) FROM people WHERE id = 'p-inv'") == [(0,)]
    assert portal.sql("SELECT count(*) FROM sites WHERE id = 'gamma'") == [(1,)]
    assert portal.sql(
        "SELECT disabled_at IS NOT NULL FROM admins WHERE id = %s", int(form["admin_id"])
    ) == [(True,)]
    published = "SELECT site_id FROM visitor_terms WHERE version = 'v-matrix' ORDER BY 1"
    assert portal.sql(published) == [("alpha",), ("beta",)]
    # "matrix" was added, then removed (the form carries the confirmation) where allowed
    assert {"visitor_type.set", "visitor_type.remove"} <= set(portal.audit_actions())
    # the expected shape: receptionists see visitors at their site only, technicians no visitors
    expect = {
        ("receptionist", "/admin/sites/alpha/visitors"): 200,
        ("receptionist", "/admin/sites/beta/visitors"): 403,
        ("technician", "/admin/sites/alpha/visitors"): 403,
        ("technician", "/admin/sites/alpha"): 200,
        ("site_admin", "/admin/sites/alpha/audit"): 200,
        ("site_admin", "/admin/audit"): 403,
        ("receptionist", "/admin/sites/alpha/audit"): 403,
        ("global", "/admin/sites/beta/audit"): 200,
        ("beta_receptionist", "/admin/sites/alpha/evacuation"): 403,
        ("technician", "/admin/sites/alpha/devices"): 200,
        ("technician", "/admin/sites/beta/devices"): 403,
        ("receptionist", "/admin/sites/alpha/devices"): 403,
        ("technician", "/admin/sites/alpha/rooms"): 403,
        ("site_admin", "/admin/sites/alpha/rooms"): 200,
        ("site_admin", "/admin/sites/beta/rooms"): 403,
        ("receptionist", "/admin/sites/alpha/people"): 403,
        ("technician", "/admin/sites/alpha/people"): 403,
        ("site_admin", "/admin/sites/alpha/people"): 200,
        ("site_admin", "/admin/sites/alpha/retention"): 200,
        ("technician", "/admin/sites/alpha/retention"): 403,
        ("site_admin", "/admin/admins"): 403,
        ("global", "/admin/admins"): 200,
    }
    for (who, url), status in expect.items():
        assert _call(portal, admins[who], "GET", url, url) == status, (who, url)


def test_anonymous_and_half_signed_in_get_nothing(portal: Portal) -> None:
    admin_id = portal.admin("half@example.com")
    half, half_csrf = portal.session(admin_id, "totp")
    for method, path, rule in portal_routes(portal):
        url = "/admin" + path.replace("{site}", "alpha")
        for cookie, csrf in ((None, ""), (half, half_csrf)):
            portal.use(cookie)
            before = _state(portal)
            if method == "GET":
                response = portal.client.get(url, follow_redirects=False)
            else:
                response = portal.client.post(
                    url, data={"csrf": csrf, **ACTION_FORM}, follow_redirects=False
                )
            if rule.kind == "public" or (rule.kind == "pending" and cookie == half):
                continue
            if method == "GET":
                assert response.status_code == 303, (url, cookie)
                where = response.headers["location"]
                assert where in ("/admin/signin", "/admin/totp"), (url, where)
            else:
                assert response.status_code == 403, url
            assert _state(portal) == before, url


def _state(portal: Portal) -> tuple[Any, ...]:
    """What an accepted action would change."""
    return tuple(
        portal.sql(q)[0]
        for q in (
            "SELECT count(*) FROM visitor_invites",
            "SELECT count(*) FROM admin_audit",
            "SELECT count(*) FROM admins WHERE totp_pending IS NOT NULL",
            "SELECT count(*), count(revoked_at) FROM devices",
            "SELECT count(*) FROM device_commands",
            "SELECT count(*) FROM enrollment_codes",
            "SELECT sum(capacity), string_agg(checkin_before::text || auto_release::text, ',')"
            " FROM rooms",
            "SELECT count(*) FILTER (WHERE out_of_use) FROM desks",
            "SELECT count(*), count(*) FILTER (WHERE visibility = 'visible') FROM people",
            "SELECT count(*), count(disabled_at), count(totp_secret) FROM admins",
            "SELECT count(*) FROM admin_roles",
            "SELECT count(*) FROM sites",
            "SELECT count(*) FROM floors",
            "SELECT count(*), string_agg(site_id || id || names::text || position || signature"
            " || steps::text, ',' ORDER BY site_id, id) FROM visitor_types",
            "SELECT count(*) FROM visitor_terms",
        )
    )


def _call(
    portal: Portal,
    admin_id: int,
    method: str,
    url: str,
    path: str,
    form: dict[str, str] = ACTION_FORM,
) -> int:
    cookie, csrf = portal.session(admin_id)
    portal.use(cookie)
    if method == "GET":
        response = portal.client.get(url, follow_redirects=False)
    else:
        response = portal.client.post(url, data={"csrf": csrf, **form}, follow_redirects=False)
    status = response.status_code
    if status == 403:
        assert re.search(r"do not have access|Sign in again|has expired", response.text), url
    return status

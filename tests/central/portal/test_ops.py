"""The pages of issue 14 part B as their users see them (TestClient over https, real
PostgreSQL): devices with a confirmation step, rooms and policies, desks, a floor plan
upload, people with the visibility toggle and a typed forget, retention, sites and
admins, the HTML error page, and the invite flow's messages in Swedish."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg_pool import AsyncConnectionPool

from central import create_enrollment_code
from central.retention import run_retention
from tests.central.conftest import enroll_body
from tests.central.portal.conftest import Portal, csrf_of
from tests.central.portal.test_pages import _kiosk

SV = {"Accept-Language": "sv"}


def _then(portal: Portal, response: httpx.Response) -> httpx.Response:
    """Follow a 303 by hand (httpx drops the session cookie header on redirects)."""
    assert response.status_code == 303, response.text
    return portal.client.get(response.headers["location"])


def _as(portal: Portal, email: str, role: str = "global", site: str | None = None) -> str:
    cookie, csrf = portal.session(portal.admin(email, role, site))
    portal.use(cookie)
    return csrf


def test_a_technician_confirms_then_revokes_and_commands(portal: Portal) -> None:
    kiosk = _kiosk(portal)
    csrf = _as(portal, "tech@example.com", "technician", "alpha")
    page = portal.client.get("/admin/sites/alpha/devices")
    assert page.status_code == 200 and kiosk.id in page.text and "lobby:l1" in page.text
    ask = {"csrf": csrf, "device_id": kiosk.id, "action": "revoke"}
    confirm = portal.client.post("/admin/sites/alpha/devices/action", data=ask)
    assert confirm.status_code == 200 and f"Revoke {kiosk.id}?" in confirm.text
    assert 'name="confirmed" value="yes"' in confirm.text
    assert portal.sql("SELECT revoked_at FROM devices") == [(None,)]  # nothing yet

    for action in ("restart", "decommission"):
        done = portal.client.post(
            "/admin/sites/alpha/devices/action",
            data={**ask, "action": action, "confirmed": "yes"},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
    bad = portal.client.post(
        "/admin/sites/alpha/devices/action",
        data={**ask, "action": "reconfigure", "confirmed": "yes", "config": "[1, 2"},
    )
    assert bad.status_code == 400 and "must be JSON" in bad.text
    good = portal.client.post(
        "/admin/sites/alpha/devices/action",
        data={**ask, "action": "reconfigure", "confirmed": "yes", "config": '{"kiosk": {"a": 1}}'},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert portal.sql("SELECT kind, args FROM device_commands ORDER BY id") == [
        ("restart", {}),
        ("decommission", {}),
        ("reconfigure", {"config": {"kiosk": {"a": 1}}}),
    ]
    listed = portal.client.get("/admin/sites/alpha/devices")
    assert listed.text.count('class="tag warn">') >= 3  # the three commands wait

    revoked = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/devices/action",
            data={**ask, "confirmed": "yes"},
            follow_redirects=False,
        ),
    )
    assert "The device is revoked" in revoked.text
    response = portal.client.get("/v1/snapshot/rooms", headers=kiosk.headers)
    assert response.status_code == 401  # its credentials stopped working
    actions = portal.audit_actions()
    assert actions[-4:] == [
        "device.restart",
        "device.decommission",
        "device.reconfigure",
        "device.revoke",
    ]
    # another site's device is not reachable through this site
    portal.sql("UPDATE devices SET site_id = 'beta', revoked_at = NULL")
    other = portal.client.post("/admin/sites/alpha/devices/action", data=ask)
    assert other.status_code == 404 and "no such device" in other.text


def test_an_enrollment_code_is_shown_once_and_never_audited(portal: Portal) -> None:
    csrf = _as(portal, "tech@example.com", "technician", "alpha")
    made = portal.client.post(
        "/admin/sites/alpha/devices/enroll", data={"csrf": csrf, "place": "room:r2"}
    )
    assert made.status_code == 200
    code = made.text.split('<p class="bigcode"><code>')[1].split("</code>")[0]
    assert len(code) == 17 and code.count("-") == 2
    [(target,)] = portal.sql("SELECT target FROM admin_audit WHERE action = 'device.enroll_code'")
    assert target == "room:r2" and code not in json.dumps(
        portal.sql("SELECT * FROM admin_audit"), default=str
    )
    beta = portal.client.post(
        "/admin/sites/alpha/devices/enroll", data={"csrf": csrf, "place": "room:b1"}
    )
    assert beta.status_code == 404 and portal.sql("SELECT count(*) FROM enrollment_codes") == [(1,)]
    enrolled = portal.client.post(
        "/v1/enroll", json=enroll_body(code, Ed25519PrivateKey.generate())
    )
    assert enrolled.status_code == 201  # the code shown is a real one


def test_a_site_admin_edits_a_room_and_the_snapshot_follows(portal: Portal) -> None:
    code = portal.run(lambda: create_enrollment_code(portal.pool, room_id="r1"))
    body = portal.client.post(
        "/v1/enroll", json=enroll_body(code.code, Ed25519PrivateKey.generate())
    )
    headers = {"Authorization": f"Bearer {body.json()['token']}"}
    csrf = _as(portal, "fm@example.com", "site_admin", "alpha")
    form = portal.client.get("/admin/sites/alpha/rooms/edit?room=r1")
    assert form.status_code == 200 and 'value="6"' in form.text
    fields = {
        "csrf": csrf,
        "room_id": "r1",
        "capacity": "8",
        "equipment": "screen, whiteboard",
        "checkin_before": "5",
        "checkin_after": "15",
        "ask_booker": "on",
        "empty_offer": "7",
        "empty_release": "6",
    }
    refused = portal.client.post("/admin/sites/alpha/rooms/edit", data=fields)
    assert refused.status_code == 400 and "released later than it is offered" in refused.text
    assert 'value="7"' in refused.text  # what was typed stays
    saved = portal.client.post(
        "/admin/sites/alpha/rooms/edit",
        data={**fields, "empty_release": "30"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    rooms = portal.client.get("/v1/snapshot/rooms", headers=headers).json()
    [r1] = [r for r in rooms["rooms"] if r["id"] == "r1"]
    assert r1["capacity"] == 8 and r1["equipment"] == ["screen", "whiteboard"]
    assert r1["auto_release"] is False and r1["checkin_before_minutes"] == 5
    assert r1["checkin_after_minutes"] == 15 and r1["ask_booker"] is True
    assert r1["empty_release_minutes"] == 30
    assert "room.update" in portal.audit_actions()
    wrong = portal.client.post(
        "/admin/sites/alpha/rooms/edit", data={**fields, "room_id": "b1", "empty_release": "30"}
    )
    assert wrong.status_code == 404
    assert portal.sql("SELECT capacity FROM rooms WHERE id = 'b1'") == [(8,)]  # beta's own


def test_desks_and_a_floor_plan_upload(portal: Portal) -> None:
    csrf = _as(portal, "fm@example.com", "site_admin", "alpha")
    out = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/desks/state",
            data={"csrf": csrf, "desk_id": "d1", "out_of_use": "yes", "reason": "Broken chair"},
            follow_redirects=False,
        ),
    )
    assert "Broken chair" in out.text and "out of use" in out.text
    assert portal.sql("SELECT out_of_use, out_of_use_reason FROM desks") == [(True, "Broken chair")]
    plan = {
        "name": "First",
        "width": 20,
        "height": 10,
        "desks": [{"id": "d1", "x": 1, "y": 1, "w": 2, "h": 1}],
        "rooms": [{"id": "r1", "x": 5, "y": 1, "w": 4, "h": 4}],
    }
    files = {"file": ("first.json", json.dumps(plan).encode(), "application/json")}
    no_csrf = portal.client.post("/admin/sites/alpha/floors", data={"floor": "1"}, files=files)
    assert no_csrf.status_code == 403 and portal.sql("SELECT count(*) FROM floors") == [(0,)]
    done = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/floors",
            data={"csrf": csrf, "floor": "1"},
            files=files,
            follow_redirects=False,
        ),
    )
    assert done.status_code == 200, done.text
    assert portal.sql("SELECT floor, name FROM floors") == [(1, "First")]
    assert "First" in done.text
    bad = portal.client.post(
        "/admin/sites/alpha/floors",
        data={"csrf": csrf, "floor": "2"},
        files=files,
    )
    assert bad.status_code == 400 and "Floor plan refused" in bad.text and "floor 1" in bad.text
    assert portal.audit_actions()[-2:] == ["desk.out_of_use", "floor.import"]


def test_people_visibility_and_a_typed_forget(portal: Portal) -> None:
    desk_csrf = _as(portal, "desk@example.com", "receptionist", "alpha")
    assert portal.client.get("/admin/sites/alpha/people").status_code == 403
    for page in ("", "/visitors", "/evacuation"):
        assert "Ivan" not in portal.client.get(f"/admin/sites/alpha{page}").text
    del desk_csrf
    _as(portal, "tech@example.com", "technician", "alpha")
    for page in ("", "/devices"):
        assert "Ivan" not in portal.client.get(f"/admin/sites/alpha{page}").text
    csrf = _as(portal, "fm@example.com", "site_admin", "alpha")
    listing = portal.client.get("/admin/sites/alpha/people")
    assert "Ivan Invisible" in listing.text and "invisible</span>" in listing.text
    found = portal.client.get("/admin/sites/alpha/people?q=vera")
    assert "Vera Visible" in found.text and "Ivan" not in found.text
    portal.client.post(
        "/admin/sites/alpha/people/visibility",
        data={"csrf": csrf, "person_id": "p-vis", "visibility": "invisible"},
    )
    assert portal.sql("SELECT visibility FROM people WHERE id = 'p-vis'") == [("invisible",)]
    ask = portal.client.get("/admin/sites/alpha/people/forget?person=p-inv")
    assert "Forget Ivan Invisible?" in ask.text
    wrong = portal.client.post(
        "/admin/sites/alpha/people/forget",
        data={"csrf": csrf, "person_id": "p-inv", "typed": "Ivan"},
    )
    assert wrong.status_code == 400 and portal.sql("SELECT count(*) FROM people") == [(2,)]
    _kiosk(portal)  # a device of the site, told to forget
    gone = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/people/forget",
            data={"csrf": csrf, "person_id": "p-inv", "typed": " ivan  invisible "},
            follow_redirects=False,
        ),
    )
    assert "is forgotten" in gone.text
    assert portal.sql("SELECT id FROM people") == [("p-vis",)]
    assert portal.sql("SELECT kind, args FROM device_commands") == [
        ("forget_person", {"person_id": "p-inv"})
    ]
    assert portal.audit_actions()[-2:] == ["person.visibility", "person.forget"]
    beta = portal.client.post(
        "/admin/sites/beta/people/forget",
        data={"csrf": csrf, "person_id": "p-vis", "typed": "Vera Visible"},
    )
    assert beta.status_code == 403


async def _old_audit(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO admin_audit (at, action, address) VALUES (%s, 'old.thing', 'x')",
            [datetime.now(UTC) - timedelta(days=400)],
        )


def test_retention_purges_the_audit_log_and_the_page_says_when(portal: Portal) -> None:
    _as(portal, "fm@example.com", "site_admin", "alpha")
    portal.run(_old_audit, portal.pool)
    before = portal.client.get("/admin/sites/alpha/retention")
    assert "Retention has not run yet." in before.text
    row = before.text.split("<code>admin_audit</code>")[1].split("</tr>")[0]
    assert "365 days (the audit log)" in row and row.rstrip().endswith(">1</td>")
    counts = portal.run(run_retention, portal.pool, datetime.now(UTC))
    assert counts["admin_audit"] == 1
    assert portal.sql("SELECT count(*) FROM admin_audit WHERE action = 'old.thing'") == [(0,)]
    after = portal.client.get("/admin/sites/alpha/retention", headers=SV)
    assert "Gallringen kördes senast" in after.text
    row = after.text.split("<code>admin_audit</code>")[1].split("</tr>")[0]
    assert ">1</td>" in row  # deleted at the last run


def test_a_global_admin_manages_admins_and_sites(portal: Portal) -> None:
    csrf = _as(portal, "boss@example.com")
    new = {
        "csrf": csrf,
        "email": "newdesk@example.com",
        "password": "password1234",
        "password2": "password1234",
        "role": "receptionist",
        "site": "alpha",
    }
    weak = portal.client.post("/admin/admins/create", data=new, headers=SV)
    assert weak.status_code == 400 and "för vanligt" in weak.text
    assert 'value="newdesk@example.com"' in weak.text
    strong = {
        **new,
        "password": "a long unusual passphrase 77",
        "password2": "a long unusual passphrase 77",
    }
    assert portal.client.post("/admin/admins/create", data=strong).status_code == 200
    [(new_id,)] = portal.sql("SELECT id FROM admins WHERE email = 'newdesk@example.com'")
    assert portal.sign_in("newdesk@example.com", strong["password"]).status_code == 303
    change = {"csrf": csrf, "admin_id": str(new_id)}
    portal.use(
        portal.session(portal.sql("SELECT id FROM admins WHERE email = 'boss@example.com'")[0][0])[
            0
        ]
    )
    csrf = csrf_of(portal.client.get("/admin/admins"))
    change["csrf"] = csrf
    portal.client.post(
        "/admin/admins/change",
        data={**change, "change": "role", "site": "beta", "role": "technician"},
    )
    assert sorted(
        portal.sql("SELECT site_id, role FROM admin_roles WHERE admin_id = %s", new_id)
    ) == [
        ("alpha", "receptionist"),
        ("beta", "technician"),
    ]
    portal.client.post("/admin/admins/change", data={**change, "change": "totp_reset"})
    assert portal.sql("SELECT totp_secret FROM admins WHERE id = %s", new_id) == [(None,)]
    assert portal.sql("SELECT count(*) FROM admin_sessions WHERE admin_id = %s", new_id) == [(0,)]
    portal.client.post("/admin/admins/change", data={**change, "change": "deactivate"})
    assert portal.sign_in("newdesk@example.com", strong["password"]).status_code != 303
    portal.use(
        portal.session(portal.sql("SELECT id FROM admins WHERE email = 'boss@example.com'")[0][0])[
            0
        ]
    )
    csrf = csrf_of(portal.client.get("/admin/admins"))
    site = portal.client.post(
        "/admin/admins/sites",
        data={"csrf": csrf, "site_id": "gamma", "name": "Gamma", "timezone": "Mars/Olympus"},
    )
    assert site.status_code == 400 and "Europe/Stockholm" in site.text
    portal.client.post(
        "/admin/admins/sites",
        data={"csrf": csrf, "site_id": "gamma", "name": "Gamma", "timezone": "Europe/Oslo"},
    )
    assert portal.sql("SELECT name, timezone FROM sites WHERE id = 'gamma'") == [
        ("Gamma", "Europe/Oslo")
    ]
    rows = portal.sql(
        "SELECT admin_id, action, target FROM admin_audit"
        " WHERE action LIKE 'admin.%%' OR action = 'site.create' ORDER BY id"
    )
    boss = portal.sql("SELECT id FROM admins WHERE email = 'boss@example.com'")[0][0]
    assert [r[1] for r in rows if r[0] == boss] == [
        "admin.create",
        "admin.role",
        "admin.totp_reset",
        "admin.deactivate",
        "site.create",
    ]
    assert all(r[2] in (str(new_id), "gamma") for r in rows if r[0] == boss)
    self_off = portal.client.post(
        "/admin/admins/change", data={"csrf": csrf, "admin_id": str(boss), "change": "deactivate"}
    )
    assert self_off.status_code == 400 and portal.sql(
        "SELECT disabled_at FROM admins WHERE id = %s", boss
    ) == [(None,)]


def test_an_unexpected_error_is_an_html_page(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import central.portal.pages_people as pages

    secret = "ada@example.org"  # what an error's message could quote

    async def broken(*args: object) -> dict[str, int]:
        raise RuntimeError(secret)

    monkeypatch.setattr(pages, "retention_preview", broken)
    _as(portal, "fm@example.com", "site_admin", "alpha")
    page = portal.client.get("/admin/sites/alpha/retention", headers=SV)
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Något gick fel" in page.text and secret not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "central.portal")
    assert "RuntimeError" in logged and "broken" in logged  # the type and the frames
    assert secret not in logged  # not the message (it could quote a row)


def test_invite_errors_in_swedish_and_the_lobby_by_name(portal: Portal) -> None:
    csrf = _as(portal, "desk@example.com", "receptionist", "alpha")
    response = portal.client.post(
        "/admin/sites/alpha/invites",
        data={"csrf": csrf, "name": "Grace", "email": "nope", "host_id": "p-vis"},
        headers=SV,
    )
    assert response.status_code == 400 and "Det är ingen e-postadress." in response.text
    late = portal.client.post(
        "/admin/sites/alpha/invites",
        data={
            "csrf": csrf,
            "name": "Grace",
            "email": "g@example.org",
            "host_id": "p-vis",
            "day": "2020-01-01",
        },
        headers=SV,
    )
    assert late.status_code == 400 and "Dagen måste vara" in late.text
    from tests.central.visiting import signin

    portal.sql("UPDATE lobbies SET name = 'Main entrance' WHERE id = 'l1'")
    kiosk = _kiosk(portal)
    event = kiosk.event("visitor.signin", "lobby:l1", signin(host_id="p-vis"))
    portal.client.post("/v1/events", json=kiosk.batch(event), headers=kiosk.headers)
    portal.use(portal.session(portal.admin("desk2@example.com", "receptionist", "alpha"))[0])
    page = portal.client.get("/admin/sites/alpha/evacuation")
    assert "Main entrance" in page.text and ">l1<" not in page.text

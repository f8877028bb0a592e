"""A site admin edits the visitor types and publishes terms in the portal (TestClient over
https, real PostgreSQL), and a lobby kiosk's next ``kiosk`` snapshot shows them; bad
input is refused on the form with nothing saved; other roles, another site's admin and a
form without its CSRF token change nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.central.portal.conftest import Portal
from tests.central.portal.test_pages import _kiosk

SV = {"Accept-Language": "sv"}
TYPE = {
    "type_id": "auditor",
    "name_en": "Auditor",
    "name_sv": "Revisor",
    "steps": "company, email, host, terms",
    "signature": "on",
    "position": "7",
}
TERMS = {
    "version": "2026-12-01",
    "title_en": "Visitor terms",
    "text_en": "Wear your badge.\r\n\r\nWe keep your visit for 30 days.",  # as a browser sends
    "title_sv": "Besöksvillkor",
    "text_sv": "Bär din bricka.",
}


def _as(portal: Portal, email: str, role: str = "site_admin", site: str | None = "alpha") -> str:
    cookie, csrf = portal.session(portal.admin(email, role, site))
    portal.use(cookie)
    return csrf


def _multipart(fields: dict[str, str]) -> dict[str, Any]:
    """The terms form as a browser sends it (``multipart/form-data``)."""
    return {"files": {k: (None, v) for k, v in fields.items()}}


def _types(portal: Portal) -> list[tuple[Any, ...]]:
    return portal.sql(
        "SELECT id, names, steps, signature, position FROM visitor_types"
        " WHERE site_id = 'alpha' ORDER BY id"
    )


def _terms_rows(portal: Portal) -> list[tuple[Any, ...]]:
    return portal.sql(
        "SELECT site_id, version, lang, title, body FROM visitor_terms ORDER BY 1, 2, 3"
    )


def _then(portal: Portal, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    return portal.client.get(response.headers["location"])


def test_a_site_admin_adds_a_type_publishes_terms_and_the_kiosk_follows(portal: Portal) -> None:
    kiosk = _kiosk(portal)
    csrf = _as(portal, "fm@example.com")
    page = portal.client.get("/admin/sites/alpha/visitor-types")
    assert page.status_code == 200 and "Add a visitor type" in page.text
    assert "Guest" in page.text  # the site's existing types are listed

    listed = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/visitor-types",
            data={"csrf": csrf, **TYPE},
            follow_redirects=False,
        ),
    )
    assert "Saved" in listed.text and "Auditor" in listed.text and "Revisor" in listed.text
    published = _then(
        portal,
        portal.client.post(
            "/admin/sites/alpha/terms",
            **_multipart({"csrf": csrf, **TERMS}),
            follow_redirects=False,
        ),
    )
    assert "Current version: 2026-12-01" in published.text
    assert (
        "We keep your visit for 30 days." in published.text and "Bär din bricka." in published.text
    )

    snapshot = portal.client.get("/v1/snapshot/kiosk", headers=kiosk.headers)
    assert snapshot.status_code == 200, snapshot.text
    body = snapshot.json()
    [auditor] = [t for t in body["visitor_types"] if t["id"] == "auditor"]
    assert auditor == {
        "id": "auditor",
        "names": {"en": "Auditor", "sv": "Revisor"},
        "steps": ["company", "email", "host", "terms"],
        "signature": True,
    }
    assert body["terms"]["version"] == "2026-12-01"
    assert body["terms"]["title"] == {"en": "Visitor terms", "sv": "Besöksvillkor"}
    assert body["terms"]["text"]["sv"] == "Bär din bricka."
    assert body["terms"]["text"]["en"] == "Wear your badge.\n\nWe keep your visit for 30 days."
    assert "<p>Wear your badge.</p>" in published.text  # a paragraph each

    # edit: the form comes filled in; the change reaches the kiosk too
    form = portal.client.get("/admin/sites/alpha/visitor-types?edit=auditor")
    assert 'value="Revisor"' in form.text and 'value="company, email, host, terms"' in form.text
    portal.client.post(
        "/admin/sites/alpha/visitor-types",
        data={"csrf": csrf, **TYPE, "steps": "host", "signature": "", "editing": "yes"},
    )
    again = portal.client.get("/v1/snapshot/kiosk", headers=kiosk.headers).json()
    [auditor] = [t for t in again["visitor_types"] if t["id"] == "auditor"]
    assert auditor["steps"] == ["host"] and auditor["signature"] is False

    # remove: first a confirmation, nothing gone; then gone from the kiosk
    ask = portal.client.post(
        "/admin/sites/alpha/visitor-types/remove", data={"csrf": csrf, "type_id": "auditor"}
    )
    assert ask.status_code == 200 and "Remove the visitor type Auditor?" in ask.text
    assert 'name="confirmed" value="yes"' in ask.text
    assert any(row[0] == "auditor" for row in _types(portal))
    portal.client.post(
        "/admin/sites/alpha/visitor-types/remove",
        data={"csrf": csrf, "type_id": "auditor", "confirmed": "yes"},
    )
    assert not any(row[0] == "auditor" for row in _types(portal))
    final = portal.client.get("/v1/snapshot/kiosk", headers=kiosk.headers).json()
    assert "auditor" not in [t["id"] for t in final["visitor_types"]]

    audit = portal.sql("SELECT action, site_id, target FROM admin_audit ORDER BY id")
    assert [a for a in audit if a[0].startswith(("visitor_type.", "terms."))] == [
        ("visitor_type.set", "alpha", "auditor"),
        ("terms.publish", "alpha", "2026-12-01"),
        ("visitor_type.set", "alpha", "auditor"),
        ("visitor_type.remove", "alpha", "auditor"),
    ]
    assert "Wear your badge" not in str(portal.sql("SELECT * FROM admin_audit"))


def test_bad_input_is_refused_on_the_form_with_nothing_saved(portal: Portal) -> None:
    csrf = _as(portal, "fm@example.com")
    types_before, terms_before = _types(portal), _terms_rows(portal)
    for change, said in (
        ({"type_id": "Bad Id!"}, "The id is 1 to 32"),
        ({"name_en": ""}, "needs an English name"),
        ({"steps": "company, dance"}, "Steps are names from company, email, host, terms, photo"),
        ({"steps": "host, host"}, "each at most once"),
        ({"steps": "company"}, "add terms to the steps"),  # a signature without terms
        ({"position": "first"}, "whole number"),
    ):
        refused = portal.client.post(
            "/admin/sites/alpha/visitor-types", data={"csrf": csrf, **TYPE, **change}
        )
        assert refused.status_code == 400 and said in refused.text, (change, refused.text[:300])
        assert refused.text.count('class="error"') == 1
        assert 'value="Revisor"' in refused.text  # what was typed stays
    sv = portal.client.post(
        "/admin/sites/alpha/visitor-types",
        data={"csrf": csrf, **TYPE, "type_id": "-x"},
        headers=SV,
    )
    assert sv.status_code == 400 and "Id:t är 1 till 32" in sv.text

    first = portal.client.post(
        "/admin/sites/alpha/terms", **_multipart({"csrf": csrf, **TERMS}), follow_redirects=False
    )
    assert first.status_code == 303
    terms_before = _terms_rows(portal)
    for change, said in (
        ({}, "Version 2026-12-01 is published already"),  # the same id again
        ({"text_en": "Other words."}, "Version 2026-12-01 is published already"),
        ({"version": "bad version"}, "A version is 1 to 64"),
        ({"version": "v2", "text_en": " "}, "Each language needs a title"),
        ({"version": "v2", "title_sv": ""}, "Each language needs a title"),  # half a Swedish one
        ({"version": "v2", "text_sv": "x" * 20000}, "longer than 16383 characters"),
    ):
        refused = portal.client.post(
            "/admin/sites/alpha/terms", **_multipart({"csrf": csrf, **TERMS, **change})
        )
        assert refused.status_code == 400 and said in refused.text, (change, refused.text[:300])
    assert _types(portal) == types_before and _terms_rows(portal) == terms_before
    [(count,)] = portal.sql(
        "SELECT count(*) FROM admin_audit WHERE starts_with(action, 'visitor_type.')"
    )
    assert count == 0


def test_other_roles_other_sites_and_no_csrf_change_nothing(portal: Portal) -> None:
    state = (_types(portal), _terms_rows(portal))
    for role, site in (
        ("receptionist", "alpha"),
        ("technician", "alpha"),
        ("site_admin", "beta"),
    ):
        csrf = _as(portal, f"{role}-{site}@example.com", role, site)
        for path, form in (
            ("/visitor-types", TYPE),
            ("/visitor-types/remove", {"type_id": "guest", "confirmed": "yes"}),
            ("/terms", TERMS),
        ):
            page = portal.client.get("/admin/sites/alpha" + path.replace("/remove", ""))
            assert page.status_code == 403, (role, site, path)
            refused = portal.client.post("/admin/sites/alpha" + path, data={"csrf": csrf, **form})
            assert refused.status_code == 403 and "Sign in again" in refused.text
    csrf = _as(portal, "fm@example.com")
    for path, form in (
        ("/visitor-types", TYPE),
        ("/visitor-types/remove", {"type_id": "guest", "confirmed": "yes"}),
        ("/terms", TERMS),
    ):
        for token in ("", "wrong"):
            refused = portal.client.post("/admin/sites/alpha" + path, data={"csrf": token, **form})
            assert refused.status_code == 403 and "This form has expired" in refused.text
    assert (_types(portal), _terms_rows(portal)) == state
    # beta's admin manages beta: the same form works there
    beta = _as(portal, "fm-beta@example.com", "site_admin", "beta")
    done = portal.client.post(
        "/admin/sites/beta/visitor-types", data={"csrf": beta, **TYPE}, follow_redirects=False
    )
    assert done.status_code == 303 and _types(portal) == state[0]
    assert portal.sql("SELECT count(*) FROM visitor_types WHERE id = 'auditor'") == [(1,)]

"""Visitors at central (issue 10): the sign-in and sign-out appliers, the ``kiosk`` and
``visitors`` snapshots, invites (API and outbox email with a real QR code), the end-of-day
sign-out and forgetting a visitor — against the real PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from central import BadRequest, NotFound
from central.notify.invites import invite_key, invite_qr
from central.notify.outbox import drain_outbox
from central.notify.settings import NotifySettings, SmtpSettings
from central.visitor_setup import (
    VisitorType,
    publish_terms,
    remove_visitor_type,
    set_visitor_type,
)
from central.visitors import auto_signout, forget_visitor, onsite
from sync.events import MAX_PHOTO_BYTES
from tests.central.conftest import TODAY, ZONE, World, at
from tests.central.visiting import (
    ADMIN_TOKEN,
    BADGE,
    JPEG,
    PNG,
    SmtpServer,
    b64,
    sign_in,
    smtp_server,
    vworld,
)

__all__ = ["smtp_server", "vworld"]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _visitors(world: World, headers: dict[str, str]) -> dict[str, Any]:
    response = await world.client.get("/v1/snapshot/visitors", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _row(world: World, sql: str, *params: object) -> tuple[object, ...]:
    async with world.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    assert row is not None
    return tuple(row)


async def test_a_signin_without_a_findable_host_tells_reception(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    results = [
        await sign_in(vworld, kiosk, visitor_id="v-none", host_id=None),
        await sign_in(vworld, kiosk, visitor_id="v-invisible", host_id="p-inv"),
        await sign_in(vworld, kiosk, visitor_id="v-gone", host_id="p-nobody"),
        await sign_in(vworld, kiosk, visitor_id="v-host"),
    ]
    assert [r["outcome"] for r in results] == ["applied"] * 4
    assert await vworld.count("visitor_signins", "host_id IS NULL") == 3
    assert await vworld.count("host_notifications", "recipient = 'reception'") == 3
    assert await vworld.count("host_notifications", "recipient = 'host'") == 1
    snapshot = await _visitors(vworld, kiosk.headers)
    hosts = {v["visitor_id"]: v["host_id"] for v in snapshot["signed_in"]}
    assert hosts == {"v-none": None, "v-invisible": None, "v-gone": None, "v-host": "p-vis"}


async def test_types_and_versioned_terms_are_checked(vworld: World) -> None:
    await publish_terms(vworld.pool, "alpha", "2026-11-01", "en", "Terms", "Keep secrets.")
    kiosk = await vworld.enroll(lobby="l1")
    cases: dict[str, dict[str, Any]] = {
        "unknown type": dict(visitor_type="astronaut", accepted_terms=True),
        "not accepted": dict(terms_version="2026-11-01"),
        "no version": dict(accepted_terms=True),
        "wrong version": dict(accepted_terms=True, terms_version="1999-01-01"),
        "no signature": dict(
            visitor_type="contractor", accepted_terms=True, terms_version="2026-11-01"
        ),
        "jpeg signature": dict(
            visitor_type="contractor",
            accepted_terms=True,
            terms_version="2026-11-01",
            signature=b64(JPEG),
        ),
    }
    reasons = {}
    for n, (case, fields) in enumerate(cases.items()):
        result = await sign_in(vworld, kiosk, visitor_id=f"v-{n}", **fields)
        assert result["outcome"] == "rejected", case
        reasons[case] = result["reason"]
    assert "astronaut" in reasons["unknown type"]
    assert "did not accept" in reasons["not accepted"]
    assert "terms_version" in reasons["no version"]
    assert "1999-01-01" in reasons["wrong version"]
    assert "signature" in reasons["no signature"]
    assert "PNG" in reasons["jpeg signature"]

    good = [
        await sign_in(
            vworld, kiosk, visitor_id="v-ok", accepted_terms=True, terms_version="2026-11-01"
        ),
        await sign_in(vworld, kiosk, visitor_id="v-delivery", visitor_type="delivery"),
        await sign_in(
            vworld,
            kiosk,
            visitor_id="v-sign",
            visitor_type="contractor",
            accepted_terms=True,
            terms_version="2026-11-01",
            signature=b64(PNG),
            photo=b64(JPEG),
        ),
    ]
    assert [r["outcome"] for r in good] == ["applied"] * 3
    version, accepted = await _row(
        vworld, "SELECT terms_version, accepted_terms_at FROM visitor_signins WHERE id = 'v-ok'"
    )
    assert version == "2026-11-01" and accepted is not None
    assert await _row(
        vworld,
        "SELECT terms_version, accepted_terms_at FROM visitor_signins WHERE id = 'v-delivery'",
    ) == (None, None)
    stored = await _row(
        vworld,
        "SELECT signature, signature_type, photo, photo_type FROM visitor_signins"
        " WHERE id = 'v-sign'",
    )
    assert stored == (PNG, "image/png", JPEG, "image/jpeg")


async def test_bad_fields_get_clear_reasons(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    cases: dict[str, dict[str, Any]] = {
        "email": dict(email="not an address"),
        "photo": dict(photo=b64(b"GIF89a" + b"\x00" * 10)),
        "photo size": dict(photo=b64(JPEG + b"\x00" * MAX_PHOTO_BYTES)),
        "base64": dict(photo="!!!not-base64!!!"),
        "control": dict(name="Ada\r\nBcc: everyone@example.org"),
        "bidi": dict(name="Ada \u202eecilA"),
        "badge": dict(badge_token="short"),
    }
    for n, (case, fields) in enumerate(cases.items()):
        result = await sign_in(vworld, kiosk, visitor_id=f"v-{n}", **fields)
        assert result["outcome"] == "rejected" and result["code"] == "invalid", case
        assert result["reason"], case
    assert await vworld.count("visitor_signins") == 0
    ok = await sign_in(
        vworld,
        kiosk,
        visitor_id="v-ok",
        email="Ada@Example.ORG",
        name="أدا لوفلايس 🙂",
        badge_token=BADGE,
    )
    assert ok["outcome"] == "applied"
    email, badge = await _row(
        vworld, "SELECT email, badge_hash FROM visitor_signins WHERE id = 'v-ok'"
    )
    assert email == "Ada@example.org"
    assert badge == hashlib.sha256(BADGE.encode()).digest()


async def test_signing_out_by_badge_needs_that_badge(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, visitor_id="v-b", badge_token=BADGE)
    await sign_in(vworld, kiosk, visitor_id="v-l")
    other = "another-badge-token-abcdefghijklmnop"
    results = await vworld.send(
        kiosk,
        kiosk.event(
            "visitor.signout",
            "lobby:l1",
            {"visitor_id": "v-b", "via": "badge", "badge_token": other},
        ),
        kiosk.event("visitor.signout", "lobby:l1", {"visitor_id": "v-b", "via": "badge"}),
        kiosk.event("visitor.signout", "lobby:l1", {"visitor_id": "v-b", "via": "teleport"}),
        kiosk.event(
            "visitor.signout",
            "lobby:l1",
            {"visitor_id": "v-l", "via": "badge", "badge_token": BADGE},
        ),
        kiosk.event(
            "visitor.signout",
            "lobby:l1",
            {"visitor_id": "v-b", "via": "badge", "badge_token": BADGE},
        ),
        kiosk.event("visitor.signout", "lobby:l1", {"visitor_id": "v-l", "via": "list"}),
    )
    assert [r["outcome"] for r in results] == [
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "applied",
        "applied",
    ]
    assert results[0]["code"] == "forbidden" and "badge" in results[0]["reason"]
    assert "token" in results[1]["reason"] and "via" in results[2]["reason"]
    assert await _row(vworld, "SELECT signed_out_via FROM visitor_signins WHERE id = 'v-b'") == (
        "badge",
    )
    assert await onsite(vworld.pool, "alpha") == []


async def test_the_kiosk_snapshots_are_for_kiosks_of_the_site(vworld: World) -> None:
    kiosk, panel = await vworld.enroll(lobby="l1"), await vworld.enroll(room="r1")
    beta = await vworld.enroll(lobby="bl1")
    for kind in ("kiosk", "visitors"):
        response = await vworld.client.get(f"/v1/snapshot/{kind}", headers=panel.headers)
        assert response.status_code == 403, kind
    response = await vworld.client.get("/v1/snapshot/kiosk", headers=kiosk.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["site"] == {"id": "alpha", "name": "Alpha HQ", "timezone": "Europe/Stockholm"}
    assert body["lobby"] == {"id": "l1", "name": "l1"}
    assert (body["end_of_day"], body["idle_seconds"], body["terms"]) == ("18:00", 60, None)
    assert [t["id"] for t in body["visitor_types"]] == [
        "guest",
        "interview",
        "contractor",
        "delivery",
    ]
    assert body["visitor_types"][2] == {
        "id": "contractor",
        "names": {"en": "Contractor", "sv": "Entreprenör"},
        "steps": ["company", "email", "host", "terms", "photo"],
        "signature": True,
    }
    etag = response.headers["etag"]
    cached = await vworld.client.get(
        "/v1/snapshot/kiosk", headers={**kiosk.headers, "If-None-Match": etag}
    )
    assert cached.status_code == 304
    await publish_terms(vworld.pool, "alpha", "v2", "en", "Rules", "Be kind.")
    await publish_terms(vworld.pool, "alpha", "v2", "sv", "Regler", "Var snäll.")
    fresh = await vworld.client.get(
        "/v1/snapshot/kiosk", headers={**kiosk.headers, "If-None-Match": etag}
    )
    assert fresh.status_code == 200
    assert fresh.json()["terms"] == {
        "version": "v2",
        "title": {"en": "Rules", "sv": "Regler"},
        "text": {"en": "Be kind.", "sv": "Var snäll."},
    }

    signed = await sign_in(vworld, kiosk, accepted_terms=True, terms_version="v2")
    assert signed["outcome"] == "applied"
    seen = await _visitors(vworld, kiosk.headers)
    assert seen["day"] == TODAY.isoformat()
    [visitor] = seen["signed_in"]
    assert set(visitor) == {
        "visitor_id",
        "name",
        "company",
        "host_id",
        "visitor_type",
        "signed_in_at",
        "notified",
    }
    assert visitor["notified"] == "pending"
    offset = datetime.fromisoformat(visitor["signed_in_at"]).utcoffset()
    assert offset == datetime.now(ZONE).utcoffset()  # the site's time
    elsewhere = await _visitors(vworld, beta.headers)
    assert (elsewhere["invites"], elsewhere["signed_in"]) == ([], [])


async def test_an_invite_is_made_emailed_with_its_qr_code_and_used(
    vworld: World, smtp_server: SmtpServer, central_key: object
) -> None:
    import zxingcpp
    from PIL import Image

    kiosk = await vworld.enroll(lobby="l1")
    body = {
        "site_id": "alpha",
        "host_id": "p-vis",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "company": "Analytical",
    }
    assert (await vworld.client.post("/v1/admin/invites", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        await vworld.client.post("/v1/admin/invites", json=body, headers=wrong)
    ).status_code == 401
    bad = await vworld.client.post(
        "/v1/admin/invites", json={**body, "email": "ada"}, headers=ADMIN
    )
    assert bad.status_code == 400 and "email" in bad.json()["detail"]
    response = await vworld.client.post("/v1/admin/invites", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    invite_id = response.json()["id"]
    assert response.json()["day"] == TODAY.isoformat()

    [invite] = (await _visitors(vworld, kiosk.headers))["invites"]
    assert invite["email_masked"] == "a•••@example.org"
    assert "ada@example.org" not in str(invite)
    smtp = SmtpSettings("127.0.0.1", smtp_server.port, "none", "Tapin <t@alpha.example>")
    key = invite_key(central_key)  # type: ignore[arg-type]
    report = await drain_outbox(
        vworld.pool, NotifySettings(smtp=smtp), datetime.now(UTC), invite_key=key
    )
    assert report.delivered == 1
    [(recipients, message)] = smtp_server.mailbox.messages
    assert recipients == ["ada@example.org"]
    [png] = [part for part in message.iter_attachments() if part.get_content_type() == "image/png"]
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.get_content())))
    assert code.text == invite_qr(key, invite_id)
    secret = code.text.rpartition(":")[2]
    assert invite["qr_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        await vworld.count(
            "visitor_invites", "secret_hash = %s", hashlib.sha256(secret.encode()).digest()
        )
        == 1
    )

    used = await sign_in(
        vworld, kiosk, visitor_id="v-inv", email="", company="", invite_id=invite_id
    )
    assert used["outcome"] == "applied"
    assert await _row(
        vworld, "SELECT email, company, invite_id FROM visitor_signins WHERE id = 'v-inv'"
    ) == ("ada@example.org", "Analytical", invite_id)
    assert (await _visitors(vworld, kiosk.headers))["invites"] == []
    unknown = await sign_in(vworld, kiosk, visitor_id="v-x", invite_id="inv-nope")
    assert unknown["outcome"] == "rejected" and unknown["code"] == "not_found"


async def test_the_admin_api_is_off_without_a_token(world: World) -> None:
    response = await world.client.post(
        "/v1/admin/invites", json={}, headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 403 and "admin" in response.json()["detail"]


async def test_the_admin_onsite_list(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)
    response = await vworld.client.get("/v1/admin/onsite?site=alpha", headers=ADMIN)
    assert response.status_code == 200
    [visitor] = response.json()["visitors"]
    assert (visitor["name"], visitor["host_name"]) == ("Ada Lovelace", "Vera Visible")
    missing = await vworld.client.get("/v1/admin/onsite?site=nowhere", headers=ADMIN)
    assert missing.status_code == 404


async def test_visitors_still_in_are_signed_out_at_the_end_of_the_day(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await vworld.send(
        kiosk,
        kiosk.event(
            "visitor.signin",
            "lobby:l1",
            {"visitor_id": "v-early", "name": "Ada", "host_id": "p-vis", "accepted_terms": False},
            created_at=at(8, 30),
        ),
    )
    assert await auto_signout(vworld.pool, at(17, 59)) == {}
    assert len(await onsite(vworld.pool, "alpha")) == 1

    assert await auto_signout(vworld.pool, at(18, 1)) == {"alpha": 1}

    out_at, via = await _row(
        vworld, "SELECT signed_out_at, signed_out_via FROM visitor_signins WHERE id = 'v-early'"
    )
    assert (out_at, via) == (at(18), "auto")
    assert await auto_signout(vworld.pool, at(18, 2)) == {}
    assert await onsite(vworld.pool) == []


async def test_forgetting_a_visitor_by_email(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, visitor_id="v-1", photo=b64(JPEG))
    await sign_in(vworld, kiosk, visitor_id="v-2", email="ADA@example.org")
    await sign_in(vworld, kiosk, visitor_id="v-3", email="grace@example.org")

    report = await forget_visitor(vworld.pool, "ada@EXAMPLE.org")

    assert (report.signins, report.invites) == (2, 0)
    assert await vworld.count("visitor_signins") == 1
    assert await vworld.count("host_notifications") == 1
    with pytest.raises(NotFound):
        await forget_visitor(vworld.pool, "ada@example.org")


async def test_a_site_can_shape_its_visitor_types(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    with pytest.raises(BadRequest, match="steps"):
        await set_visitor_type(
            vworld.pool, "alpha", VisitorType("vip", {"en": "VIP"}, ("name", "terms"))
        )
    with pytest.raises(BadRequest, match="terms"):
        await set_visitor_type(
            vworld.pool, "alpha", VisitorType("vip", {"en": "VIP"}, ("company",), signature=True)
        )
    await set_visitor_type(
        vworld.pool, "alpha", VisitorType("vip", {"en": "VIP", "sv": "VIP"}, ("host",), False, 0)
    )
    assert await remove_visitor_type(vworld.pool, "alpha", "delivery")
    response = await vworld.client.get("/v1/snapshot/kiosk", headers=kiosk.headers)
    types = [t["id"] for t in response.json()["visitor_types"]]
    assert types == ["vip", "guest", "interview", "contractor"]
    refused = await sign_in(vworld, kiosk, visitor_type="delivery")
    assert refused["outcome"] == "rejected" and "delivery" in refused["reason"]
    assert (await sign_in(vworld, kiosk, visitor_type="vip"))["outcome"] == "applied"

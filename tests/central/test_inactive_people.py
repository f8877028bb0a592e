"""People the directory sync made inactive (``people.inactive_since``) are no one outside
the snapshots too: a sign-in naming one tells reception, a host notification queued before
they left goes to reception instead, an invite cannot name one — against the real
PostgreSQL and a real SMTP server. (The calendar organiser mapping is in
tests/central/calendars/test_sync_rules.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from central.notify.outbox import drain_outbox
from central.notify.settings import NotifySettings, SmtpSettings
from central.visitor_setup import configure_site
from tests.central.conftest import World
from tests.central.visiting import SmtpServer, sign_in, smtp_server, vworld

__all__ = ["smtp_server", "vworld"]


async def _leave(world: World, person_id: str) -> None:
    """What the directory sync writes when a person vanishes from the source."""
    async with world.pool.connection() as conn:
        await conn.execute("UPDATE people SET inactive_since = now() WHERE id = %s", [person_id])
        await conn.commit()


def _smtp(server: SmtpServer) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", server.port, "none", "Tapin <t@alpha.example>", timeout=5)


async def test_a_signin_naming_an_inactive_host_tells_reception(vworld: World) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await _leave(vworld, "p-vis")

    result = await sign_in(vworld, kiosk, visitor_id="v-left", host_id="p-vis")

    assert result["outcome"] == "applied"
    assert await vworld.count("visitor_signins", "id = 'v-left' AND host_id IS NULL") == 1
    assert await vworld.count("host_notifications", "recipient = 'host'") == 0
    assert (
        await vworld.count("host_notifications", "recipient = 'reception' AND reason = 'no_host'")
        == 1
    )


async def test_a_host_who_left_after_the_signin_is_not_emailed_reception_is(
    vworld: World, smtp_server: SmtpServer
) -> None:
    await configure_site(vworld.pool, "alpha", reception_email="desk@alpha.example")
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, visitor_id="v-1", host_id="p-vis")
    assert await vworld.count("host_notifications", "recipient = 'host'") == 1
    await _leave(vworld, "p-vis")

    report = await drain_outbox(
        vworld.pool, NotifySettings(smtp=_smtp(smtp_server)), datetime.now(UTC)
    )

    assert (report.failed, report.delivered) == (1, 1)
    assert [to for to, _ in smtp_server.mailbox.messages] == [["desk@alpha.example"]]
    async with vworld.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT recipient, status, reason, last_error FROM host_notifications ORDER BY id"
        )
        rows = await cur.fetchall()
    assert rows == [
        ("host", "failed", "signin", "the host is no longer in the directory"),
        ("reception", "delivered", "host_failed", None),
    ]


async def test_an_invite_cannot_name_an_inactive_host(vworld: World) -> None:
    from tests.central.visiting import ADMIN_TOKEN

    await _leave(vworld, "p-vis")
    body = {"site_id": "alpha", "host_id": "p-vis", "name": "Ada", "email": "ada@example.org"}

    response = await vworld.client.post(
        "/v1/admin/invites", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert response.status_code == 404, response.text
    assert "p-vis" in response.json()["detail"]
    assert await vworld.count("visitor_invites") == 0

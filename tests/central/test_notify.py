"""Host notifications delivered for real: aiosmtpd SMTP servers (plain, STARTTLS, implicit
TLS) and a local HTTP receiver for Teams and Slack webhooks, driven through the outbox
as ``tapin central serve``'s worker drives it."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central import SettingsError, create_app
from central.notify.outbox import drain_outbox, message_id
from central.notify.settings import NotifySettings, RetryPolicy, SmtpSettings, load_settings
from central.visitor_setup import configure_site, set_notify_pref
from tests.central.conftest import NOW, World, seed_world
from tests.central.visiting import (
    Receiver,
    SmtpServer,
    pki,
    receiver,
    sign_in,
    signin,
    smtp_server,
    starttls_server,
    tls_server,
    vworld,
)

__all__ = ["pki", "receiver", "smtp_server", "starttls_server", "tls_server", "vworld"]

FAST = RetryPolicy(attempts=3, first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=4))


def _smtp(server: SmtpServer, security: str = "none") -> SmtpSettings:
    return SmtpSettings(
        host="localhost" if server.pki else "127.0.0.1",
        port=server.port,
        security=security,
        sender="Tapin <tapin@alpha.example>",
        timeout=5,
        ca_file=str(server.pki.ca_file) if server.pki else None,
    )


async def _notified(world: World, kiosk_headers: dict[str, str]) -> dict[str, str]:
    response = await world.client.get("/v1/snapshot/visitors", headers=kiosk_headers)
    assert response.status_code == 200, response.text
    return {v["visitor_id"]: v["notified"] for v in response.json()["signed_in"]}


async def test_the_hosts_email_arrives_once_even_when_the_kiosk_resends(
    vworld: World, smtp_server: SmtpServer
) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    event = kiosk.event("visitor.signin", "lobby:l1", signin("v-1"))
    [first] = await vworld.send(kiosk, event)
    assert first["outcome"] == "applied"
    assert await _notified(vworld, kiosk.headers) == {"v-1": "pending"}
    settings = NotifySettings(smtp=_smtp(smtp_server))

    report = await drain_outbox(vworld.pool, settings, datetime.now(UTC))

    assert report.delivered == 1
    [(recipients, message)] = smtp_server.mailbox.messages
    assert recipients == ["vera@example.com"]
    assert "Ada Lovelace" in message["Subject"]
    body = message.get_body(("plain",))
    assert body is not None and "Ada Lovelace (Analytical)" in body.get_content()
    assert await _notified(vworld, kiosk.headers) == {"v-1": "delivered"}
    # the same event again (a lost answer), and the same visitor id in a new event
    [again] = await vworld.send(kiosk, event)
    reused = await sign_in(vworld, kiosk, visitor_id="v-1")
    assert again["outcome"] == "duplicate"
    assert reused["outcome"] == "rejected" and "already used" in reused["reason"]
    await drain_outbox(vworld.pool, settings, datetime.now(UTC) + timedelta(minutes=1))
    assert len(smtp_server.mailbox.messages) == 1
    assert await vworld.count("visitor_signins") == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_goes_over_starttls_and_implicit_tls(
    vworld: World, security: str, request: pytest.FixtureRequest
) -> None:
    server: SmtpServer = request.getfixturevalue(f"{security}_server")
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)

    report = await drain_outbox(
        vworld.pool, NotifySettings(smtp=_smtp(server, security)), datetime.now(UTC)
    )

    assert report.delivered == 1, await vworld.count("host_notifications", "last_error IS NULL")
    [(recipients, message)] = server.mailbox.messages
    assert recipients == ["vera@example.com"] and "Ada Lovelace" in message["Subject"]


async def test_teams_and_slack_webhooks_receive_their_json(
    vworld: World, receiver: Receiver
) -> None:
    await configure_site(
        vworld.pool,
        "alpha",
        teams_webhook="alpha-teams",
        reception_via="slack",
        slack_webhook="alpha-slack",
    )
    await set_notify_pref(vworld.pool, "p-vis", "teams")
    settings = NotifySettings(
        webhooks={"alpha-teams": receiver.url("/teams"), "alpha-slack": receiver.url("/slack")}
    )
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, visitor_id="v-t")
    await sign_in(vworld, kiosk, visitor_id="v-s", host_id=None, name="Grace Hopper")

    report = await drain_outbox(vworld.pool, settings, datetime.now(UTC))

    assert report.delivered == 2
    posts = dict(receiver.posts)
    teams, slack = posts["/teams"], posts["/slack"]
    assert teams["type"] == "message"
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "Ada Lovelace" in card["content"]["body"][0]["text"]
    assert "Grace Hopper" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    kiosk_view = await _notified(vworld, kiosk.headers)
    assert kiosk_view == {"v-t": "delivered", "v-s": "reception"}


async def test_a_server_failing_twice_then_succeeding_delivers_once(
    vworld: World, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.answers = ["451 4.3.0 try later", "451 4.3.0 try later"]
    settings = NotifySettings(smtp=_smtp(smtp_server), retry=FAST)
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)
    start = datetime.now(UTC)

    reports = [
        await drain_outbox(vworld.pool, settings, start + timedelta(seconds=s)) for s in (0, 0, 5)
    ]
    assert [(r.delivered, r.retrying) for r in reports] == [(0, 1), (0, 0), (0, 1)]
    final = await drain_outbox(vworld.pool, settings, start + timedelta(seconds=30))

    assert final.delivered == 1
    assert smtp_server.mailbox.tries == 3
    assert len(smtp_server.mailbox.messages) == 1
    assert await _notified(vworld, kiosk.headers) == {"v-1": "delivered"}
    assert await vworld.count("host_notifications", "attempts = 3 AND status = 'delivered'") == 1


async def test_a_webhook_that_always_fails_gives_up_and_reception_is_told(
    vworld: World, receiver: Receiver, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.statuses = [503] * 10
    await configure_site(
        vworld.pool, "alpha", slack_webhook="alpha-slack", reception_email="desk@alpha.example"
    )
    await set_notify_pref(vworld.pool, "p-vis", "slack")
    secret_url = receiver.url("/services/T000/B000/very-secret")
    settings = NotifySettings(
        smtp=_smtp(smtp_server), webhooks={"alpha-slack": secret_url}, retry=FAST
    )
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)
    start = datetime.now(UTC)

    for minute in range(6):
        await drain_outbox(vworld.pool, settings, start + timedelta(minutes=minute))

    assert receiver.tries == FAST.attempts
    assert await vworld.count("host_notifications", "recipient = 'host' AND status = 'failed'") == 1
    [(recipients, message)] = smtp_server.mailbox.messages
    assert recipients == ["desk@alpha.example"]
    assert "could not be told" in message["Subject"]
    assert await _notified(vworld, kiosk.headers) == {"v-1": "failed"}
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")
    )  # aiosmtpd's own log is the test server's, not central's
    assert "notification" in ours
    for private in ("Ada", "ada@example.org", "vera@example.com", "very-secret", "desk@alpha"):
        assert private not in ours


async def test_a_permanent_4xx_is_not_retried(vworld: World, receiver: Receiver) -> None:
    receiver.statuses = [404]
    await configure_site(vworld.pool, "alpha", teams_webhook="alpha-teams")
    await set_notify_pref(vworld.pool, "p-vis", "teams")
    settings = NotifySettings(webhooks={"alpha-teams": receiver.url("/gone")}, retry=FAST)
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)
    start = datetime.now(UTC)

    first = await drain_outbox(vworld.pool, settings, start)
    for minute in range(1, 4):
        await drain_outbox(vworld.pool, settings, start + timedelta(minutes=minute))

    # the host row failed at once; the reception row (email, not configured) failed too
    assert first.failed == 2
    assert receiver.tries == 1
    async with vworld.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT recipient, status, attempts, last_error FROM host_notifications ORDER BY id"
        )
        rows = await cur.fetchall()
    assert rows[0][:3] == ("host", "failed", 1) and "404" in rows[0][3]
    assert rows[1][:2] == ("reception", "failed")


async def test_two_workers_at_once_deliver_each_signin_once(
    vworld: World, smtp_server: SmtpServer
) -> None:
    kiosk = await vworld.enroll(lobby="l1")
    await vworld.send(
        kiosk,
        *(kiosk.event("visitor.signin", "lobby:l1", signin(f"v-{n}")) for n in range(8)),
    )
    settings = NotifySettings(smtp=_smtp(smtp_server))
    now = datetime.now(UTC)

    a, b = await asyncio.gather(
        drain_outbox(vworld.pool, settings, now), drain_outbox(vworld.pool, settings, now)
    )

    assert a.delivered + b.delivered == 8
    ids = [m["Message-ID"] for _, m in smtp_server.mailbox.messages]
    assert len(ids) == 8 == len(set(ids))


async def test_the_worker_inside_the_app_delivers_within_seconds(
    db: str, central_key: X25519PrivateKey, smtp_server: SmtpServer
) -> None:
    settings = NotifySettings(smtp=_smtp(smtp_server))
    app = create_app(db, central_key, clock=lambda: NOW, pool_max=4, settings=settings, worker=True)
    async with app.router.lifespan_context(app):
        pool = app.state.central.pool
        await seed_world(pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://central") as client:
            world = World(client, pool, central_key)
            kiosk = await world.enroll(lobby="l1")
            started = time.monotonic()
            await sign_in(world, kiosk)
            while not smtp_server.mailbox.messages and time.monotonic() - started < 10:
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            assert len(smtp_server.mailbox.messages) == 1
            assert elapsed < 3, elapsed
            print(f"sign-in to email: {elapsed * 1000:.0f} ms")
            for _ in range(50):
                if await _notified(world, kiosk.headers) == {"v-1": "delivered"}:
                    break
                await asyncio.sleep(0.05)
            assert await _notified(world, kiosk.headers) == {"v-1": "delivered"}


def test_settings_come_from_a_private_file_and_never_quote_secrets(tmp_path: Path) -> None:
    path = tmp_path / "central.toml"
    path.write_text(
        '[smtp]\nhost = "smtp.example.org"\nfrom = "Tapin <t@example.org>"\n'
        'user = "u"\npassword = "hunter2"\n'
        '[webhooks]\nteams = "https://example.webhook.office.com/secret-path"\n'
        f'[admin]\ntoken_sha256 = "{"ab" * 32}"\n[notify]\nattempts = 7\n'
    )
    path.chmod(0o600)
    settings = load_settings(str(path), env={"TAPIN_CENTRAL_SMTP_PORT": "2525"})
    assert settings.smtp is not None
    assert (settings.smtp.port, settings.smtp.security, settings.retry.attempts) == (
        2525,
        "starttls",
        7,
    )
    assert settings.admin_token_sha256 == bytes.fromhex("ab" * 32)
    assert "hunter2" not in repr(settings) and "secret-path" not in repr(settings)
    path.chmod(0o644)
    with pytest.raises(SettingsError, match="too open"):
        load_settings(str(path), env={})
    path.write_text('[webhooks]\nteams = "http://evil.example/secret-path"\n')
    path.chmod(0o600)
    with pytest.raises(SettingsError) as refused:
        load_settings(str(path), env={})
    assert "https" in refused.value.detail and "secret-path" not in refused.value.detail
    assert load_settings(None, env={}).smtp is None


async def test_a_send_interrupted_by_a_crash_is_never_posted_twice(
    vworld: World, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """A "before" record without its "after" means a worker died mid-send: an email is
    sent again under the same Message-ID (the mail system drops the copy); a webhook is
    not posted again — reception is told instead."""
    await configure_site(
        vworld.pool, "alpha", teams_webhook="alpha-teams", reception_email="desk@alpha.example"
    )
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk, visitor_id="v-mail")
    await set_notify_pref(vworld.pool, "p-vis", "teams")
    await sign_in(vworld, kiosk, visitor_id="v-hook")
    async with vworld.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO notification_sends (notification_id, attempt)"
            " SELECT id, 1 FROM host_notifications"
        )
    settings = NotifySettings(
        smtp=_smtp(smtp_server), webhooks={"alpha-teams": receiver.url("/teams")}
    )

    await drain_outbox(vworld.pool, settings, datetime.now(UTC))

    assert receiver.tries == 0
    recipients = sorted(r for rs, _ in smtp_server.mailbox.messages for r in rs)
    assert recipients == ["desk@alpha.example", "vera@example.com"]
    host_mail = next(m for rs, m in smtp_server.mailbox.messages if rs == ["vera@example.com"])
    assert host_mail["Message-ID"] == message_id("v-mail", "host", "alpha.example")
    assert await _notified(vworld, kiosk.headers) == {"v-mail": "delivered", "v-hook": "failed"}
    assert await vworld.count("notification_sends") == 0


async def test_an_smtp_refusal_5xx_gives_up_at_once_and_reception_is_told(
    vworld: World, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.answers = ["550 5.1.1 mailbox unavailable"]
    await configure_site(vworld.pool, "alpha", reception_email="desk@alpha.example")
    settings = NotifySettings(smtp=_smtp(smtp_server), retry=FAST)
    kiosk = await vworld.enroll(lobby="l1")
    await sign_in(vworld, kiosk)

    report = await drain_outbox(vworld.pool, settings, datetime.now(UTC))

    assert (report.failed, report.delivered) == (1, 1)
    assert smtp_server.mailbox.tries == 2
    [(recipients, _)] = smtp_server.mailbox.messages
    assert recipients == ["desk@alpha.example"]
    async with vworld.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT last_error FROM host_notifications WHERE status = 'failed'"
        )
        [(error,)] = await cur.fetchall()
    assert error == "SMTP 550 (SMTPDataError)"
    assert await _notified(vworld, kiosk.headers) == {"v-1": "failed"}

"""Helpers for the visitor tests: a world whose app has an admin token, sign-in payloads,
real SMTP servers (aiosmtpd) and a real HTTP receiver for webhooks, all on 127.0.0.1.

Import the fixtures into a test module (``from tests.central.visiting import vworld``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central import create_app
from central.devcert import DevPKI, make_pki
from central.local import free_port
from central.notify.settings import NotifySettings
from tests.central.conftest import NOW, Device, World, seed_world

ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijklmnop"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
BADGE = "badge-token-0123456789abcdefXYZ"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signin(visitor_id: str = "v-1", **fields: Any) -> dict[str, Any]:
    """A ``visitor.signin`` payload for site alpha (no terms published unless a test does)."""
    payload: dict[str, Any] = {
        "visitor_id": visitor_id,
        "name": "Ada Lovelace",
        "host_id": "p-vis",
        "accepted_terms": False,
        "company": "Analytical",
        "email": "ada@example.org",
        "visitor_type": "guest",
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


async def sign_in(world: World, kiosk: Device, **fields: Any) -> dict[str, str]:
    [result] = await world.send(kiosk, kiosk.event("visitor.signin", "lobby:l1", signin(**fields)))
    return result


@pytest.fixture
async def vworld(db: str, central_key: X25519PrivateKey) -> AsyncIterator[World]:
    """Like ``world``, with the admin API on (token :data:`ADMIN_TOKEN`)."""
    settings = NotifySettings(admin_token_sha256=hashlib.sha256(ADMIN_TOKEN.encode()).digest())
    app = create_app(db, central_key, clock=lambda: NOW, pool_min=1, pool_max=4, settings=settings)
    async with app.router.lifespan_context(app):
        pool = app.state.central.pool
        await seed_world(pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://central") as client:
            yield World(client, pool, central_key)


# --- SMTP ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps what it accepts; ``answers`` are the replies to DATA
    for the first messages (``None``: accept), e.g. ``["451 4.3.0 busy", None]``."""

    answers: list[str | None] = field(default_factory=list)
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    tries: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tries += 1
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            return answer
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    pki: DevPKI | None


@pytest.fixture
def pki(tmp_path: Path) -> DevPKI:
    return make_pki(tmp_path / "pki")


def _tls(pki: DevPKI) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (security ``none``) on 127.0.0.1."""
    yield from _serve(None, starttls=False)


@pytest.fixture
def starttls_server(pki: DevPKI) -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS, with central.devcert's certificate."""
    yield from _serve(pki, starttls=True)


@pytest.fixture
def tls_server(pki: DevPKI) -> Iterator[SmtpServer]:
    """An SMTP server on implicit TLS (port 465 style)."""
    yield from _serve(pki, starttls=False)


def _serve(pki: DevPKI | None, *, starttls: bool) -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    options: dict[str, Any] = {}
    if pki is not None and starttls:
        options = {"tls_context": _tls(pki), "require_starttls": True}
    elif pki is not None:
        options = {"ssl_context": _tls(pki)}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(mailbox, port, pki)
    finally:
        controller.stop()


# --- HTTP receiver for webhooks ----------------------------------------------------------


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server: records each POST's path and JSON body and answers with
    the next status of ``statuses`` (then 200)."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)
    tries: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
            self.tries += 1
            status = self.statuses.pop(0) if self.statuses else 200
            if status < 300:
                self.posts.append((path, json.loads(body)))
            text = b"1" if status < 300 else b"no"
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(text)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + text
            )
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found

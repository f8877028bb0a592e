"""Google Workspace over CalDAV with a service account (OAuth 2.0, RFC 7523), against local
stand-ins because Google cannot be reached here: a token endpoint on 127.0.0.1 that verifies
the JWT assertion with the service account's public key, and in front of a real Radicale a
reverse proxy that, like Google's CalDAV, takes only ``Authorization: Bearer <token>``."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from central.calendars.base import (
    AuthFailed,
    CalendarEvent,
    Connector,
    ConnectorError,
    SyncState,
    Window,
    booking_uid,
)
from central.calendars.caldav import CalDavConnector
from central.calendars.google import SCOPE, GoogleBearerAuth, read_service_account
from central.calendars.settings import load_calendar_settings, make_connector
from central.calendars.sync import sync_site
from central.calendars.writeback import drain_writebacks
from central.errors import SettingsError
from tests.central.calendars.conftest import ics, vevent
from tests.central.calendars.radicale import PASSWORD, USER, Radicale
from tests.central.conftest import NOW, ZONE, World, at

ACCOUNT = "tapin-rooms@tapin-test.iam.gserviceaccount.com"
SUBJECT = "rooms-admin@example.org"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"


class TokenEndpoint(ThreadingHTTPServer):
    """Google's OAuth 2.0 token endpoint, as far as the JWT bearer grant goes."""

    def __init__(self, public_key: Any) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.public_key = public_key
        self.expires_in = 3600
        self.issued: dict[str, float] = {}
        """token -> when it expires (monotonic)."""
        self.refused = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/token"

    def valid(self, token: str) -> bool:
        return self.issued.get(token, 0) > time.monotonic()


class _TokenHandler(BaseHTTPRequestHandler):
    server: TokenEndpoint

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        grant = form.get("grant_type", [""])[0]
        try:
            if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                raise jwt.InvalidTokenError("grant_type")
            claims = jwt.decode(
                form["assertion"][0],
                self.server.public_key,
                algorithms=["RS256"],
                audience=GOOGLE_AUDIENCE,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "scope"]},
            )
            if (claims["iss"], claims["sub"], claims["scope"]) != (ACCOUNT, SUBJECT, SCOPE):
                raise jwt.InvalidTokenError("claims")
        except (jwt.InvalidTokenError, KeyError):
            self.server.refused += 1
            self._answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT"})
            return
        token = "ya29." + secrets.token_urlsafe(24)
        self.server.issued[token] = time.monotonic() + self.server.expires_in
        body = {"access_token": token, "expires_in": self.server.expires_in}
        self._answer(200, {**body, "token_type": "Bearer"})


class BearerProxy(ThreadingHTTPServer):
    """Google's CalDAV stand-in: a bearer token the endpoint issued and that has not
    expired, else 401; ``If-None-Match`` refused (Google supports no If* header but
    If-Match); forwards everything else to Radicale with Basic auth."""

    def __init__(self, tokens: TokenEndpoint, upstream: Radicale) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.tokens = tokens
        self.upstream = urllib.parse.urlsplit(upstream.url)
        self.seen: list[str] = []
        self.rejected = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server"}


class _ProxyHandler(BaseHTTPRequestHandler):
    server: BearerProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if not self.server.tokens.valid(token):
            self.server.rejected += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.seen.append(token)
        if "If-None-Match" in self.headers:  # Google's guide: no If* header but If-Match
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname or "", up.port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _handle
    do_POST = do_HEAD = do_MKCALENDAR = do_PROPPATCH = _handle


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return thread


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def tokens(key: rsa.RSAPrivateKey) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(key.public_key())
    thread = _serve(endpoint)
    yield endpoint
    endpoint.shutdown()
    endpoint.server_close()
    thread.join(5)


@pytest.fixture
def proxy(tokens: TokenEndpoint, server: Radicale) -> Iterator[BearerProxy]:
    made = BearerProxy(tokens, server)
    thread = _serve(made)
    yield made
    made.shutdown()
    made.server_close()
    thread.join(5)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def key_file(tmp_path: Path, key: rsa.RSAPrivateKey, tokens: TokenEndpoint) -> Path:
    """A service account key JSON as Google's console downloads it, mode 0600."""
    path = tmp_path / "google-sa.json"
    info = {
        "type": "service_account",
        "project_id": "tapin-test",
        "private_key_id": "0123456789abcdef",
        "private_key": _pem(key),
        "client_email": ACCOUNT,
        "client_id": "1234567890",
        "token_uri": tokens.uri,
    }
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


def _settings(tmp_path: Path, proxy: BearerProxy, calendar: Any, key_file: Path) -> Path:
    room = urllib.parse.urlsplit(str(calendar.url)).path.lstrip("/")
    path = tmp_path / "calendars.toml"
    path.write_text(
        f'[sites.alpha]\nurl = "{proxy.url}"\nauth = "google-service-account"\n'
        f'credentials_file = "{key_file}"\nsubject = "{SUBJECT}"\n'
        f'[sites.alpha.rooms]\nr2 = "{room}"\n'
    )
    path.chmod(0o600)
    return path


async def test_events_and_write_back_go_through_google_style_oauth(
    world: World,
    calendar: Any,
    proxy: BearerProxy,
    tokens: TokenEndpoint,
    key_file: Path,
    key: rsa.RSAPrivateKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    site = load_calendar_settings(str(_settings(tmp_path, proxy, calendar, key_file))).sites[
        "alpha"
    ]
    assert site.auth == "google-service-account" and site.user is None
    connector = make_connector(site)
    panel = await world.enroll(room="r2")
    calendar.save_event(ics(vevent("standup", at(10), at(10, 30), "Standup")))

    report = await sync_site(world.pool, site, connector, NOW)
    assert (report.rooms, report.failed) == (1, {})
    response = await world.client.get(
        "/v1/snapshot/calendar", params={"room": "r2"}, headers=panel.headers
    )
    assert [m["subject"] for m in response.json()["meetings"]] == ["Standup"]

    booking = {"booking_id": "bk-g", "subject": "Quick sync"}
    [result] = await world.send(
        panel, panel.event("booking.create", "room:r2", booking, at(11), at(11, 30))
    )
    assert result["outcome"] == "applied"
    assert (await drain_writebacks(world.pool, {"alpha": connector}, {"r2": "alpha"})).written
    event = calendar.event_by_uid(booking_uid("bk-g")).icalendar_component
    assert (event.decoded("dtstart"), event.decoded("dtend")) == (at(11), at(11, 30))

    # another connector of the site (the sync reads several rooms at once) shares the token
    other = make_connector(site)
    assert _fetch(other, calendar) == 2  # the standup and the written-back booking
    other.close()

    # one token for all of it (cached), every request carried it, none was refused
    assert (len(tokens.issued), tokens.refused, proxy.rejected) == (1, 0, 0)
    assert set(proxy.seen) == set(tokens.issued)
    connector.close()

    # no secret in any log line or repr: not the key, not the token, not the assertion
    key_body = _pem(key).splitlines()[5]
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(site) + repr(connector)
    [token] = tokens.issued
    assert key_body not in logged and token not in logged and "eyJ" not in logged


def _auth(key_file: Path, margin: float) -> GoogleBearerAuth:
    info = read_service_account(str(key_file))
    return GoogleBearerAuth(info, SUBJECT, margin=timedelta(seconds=margin), timeout=5)


def _fetch(connector: Connector, calendar: Any) -> int:
    """The events of ``calendar`` read through the proxy (a full read each time)."""
    window = Window(at(0), at(0) + timedelta(days=1), ZONE)
    path = urllib.parse.urlsplit(str(calendar.url)).path.lstrip("/")
    return len(connector.fetch(path, SyncState(), window).changed)


def test_an_expired_token_is_refreshed_before_the_server_refuses_it(
    calendar: Any, proxy: BearerProxy, tokens: TokenEndpoint, key_file: Path
) -> None:
    calendar.save_event(ics(vevent("one", at(10), at(11), "One")))
    tokens.expires_in = 2
    auth = _auth(key_file, margin=0.5)
    connector = CalDavConnector(proxy.url, None, None, auth=auth)
    try:
        assert _fetch(connector, calendar) == 1
        [old] = tokens.issued
        time.sleep(2.1)
        assert not tokens.valid(old)  # the server would refuse it now
        assert _fetch(connector, calendar) == 1
        assert auth.refreshes == 2 and proxy.rejected == 0
        assert proxy.seen[-1] != old and tokens.valid(proxy.seen[-1])

        # a token the server stops taking early: one refusal, then a new token
        tokens.issued.clear()
        with pytest.raises(AuthFailed):
            _fetch(connector, calendar)
        assert _fetch(connector, calendar) == 1
        assert auth.refreshes == 3

        # the stand-in takes no If-None-Match (as Google): what the Google settings avoid
        path = urllib.parse.urlsplit(str(calendar.url)).path.lstrip("/")
        event = CalendarEvent("tapin-booking-x", at(12), at(13), "Booked on the room panel")
        with pytest.raises(ConnectorError, match="answered 400"):
            connector.put_event(path, event, etag=None, create=True)
    finally:
        connector.close()


def test_a_refused_grant_and_bad_key_files_say_what_to_fix(
    calendar: Any, proxy: BearerProxy, tokens: TokenEndpoint, key_file: Path, tmp_path: Path
) -> None:
    info = read_service_account(str(key_file))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = GoogleBearerAuth({**info, "private_key": _pem(other)}, SUBJECT, timeout=5)
    connector = CalDavConnector(proxy.url, None, None, auth=forged)
    try:
        with pytest.raises(AuthFailed, match="domain-wide delegation"):
            _fetch(connector, calendar)
    finally:
        connector.close()
    assert tokens.refused == 1 and not tokens.issued

    key_file.chmod(0o644)
    with pytest.raises(SettingsError, match="0644 are too open"):
        read_service_account(str(key_file))
    loose = _settings(tmp_path, proxy, calendar, key_file)
    with pytest.raises(SettingsError, match="too open"):
        load_calendar_settings(str(loose))
    key_file.chmod(0o600)
    key_file.write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    with pytest.raises(SettingsError, match="not a service account key"):
        read_service_account(str(key_file))
    key_file.write_text(json.dumps({**info, "private_key": ""}))
    with pytest.raises(SettingsError, match="lacks private_key"):
        read_service_account(str(key_file))
    key_file.write_text(json.dumps(info))
    good = loose.read_text()
    for change, problem in (
        ((f'subject = "{SUBJECT}"\n', ""), "needs subject"),
        (('auth = "google-service-account"', 'auth = "oauth"'), "auth must be one of basic,"),
        (("auth =", 'user = "tapin"\npassword = "x"\nauth ='), "takes no user or password"),
        (
            ("[sites.alpha.rooms]", 'token_uri = "http://example.org/token"\n[sites.alpha.rooms]'),
            "token_uri must be an https:// URL",
        ),
    ):
        loose.write_text(good.replace(*change))
        with pytest.raises(SettingsError, match=problem):
            load_calendar_settings(str(loose))

"""A local stand-in for Microsoft Graph and the Entra token endpoint, over real HTTPS.

The real service cannot be reached from the tests, so this answers the documented request
and response shapes central uses: the tenant's OpenID configuration and the
client-credentials token endpoint (``access_token``, ``expires_in``), room mailboxes'
``calendarView`` and ``calendarView/delta`` (pages of ``Prefer: odata.maxpagesize``,
``@odata.nextLink``, a ``@odata.deltaLink`` carrying a ``$deltatoken``, ``@removed``
items), events ``POST`` (``transactionId`` makes a repeat a no-op) / ``PATCH``
(``If-Match``) / ``DELETE``, the extended-property ``$filter`` on ``/events``,
``/users/delta`` (changed users with their changed properties only) and a group's
``transitiveMembers``. Throttling (429 with ``Retry-After``) and token expiry (401
``InvalidAuthenticationToken``) are switched on by the test.

Uvicorn on 127.0.0.1 (an ephemeral port) with a certificate from :mod:`central.devcert`;
the client trusts its CA file.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from central.devcert import make_pki

TENANT = "contoso-tenant"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "gr4ph-s3cret-value-never-logged"
_FILTER = re.compile(r"ep/value eq '((?:[^']|'')*)'")


def when(moment: datetime) -> dict[str, str]:
    """A Graph dateTimeTimeZone in UTC, as Graph writes it (seven fraction digits)."""
    utc = moment.astimezone(UTC)
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _read_when(value: dict[str, str]) -> datetime:
    text = value["dateTime"][:19]
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": code}}, status_code=status, headers=headers
    )


@dataclass
class GraphStandIn:
    base: str = ""
    ca_file: str = ""
    secret: str = SECRET
    expires_in: int = 3600
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Mailbox -> event id -> the event as Graph returns it."""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    """(method, path?query) of every request."""
    tokens_issued: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    throttle: list[int] = field(default_factory=list)
    """Retry-After seconds of the next 429 answers, one per request."""
    certificate: str = ""
    """The app's registered certificate (PEM): a client assertion must be signed by it."""
    forget_delta_links: bool = False
    """The next delta request with a ``$deltatoken`` is answered 410 (then back to normal)."""
    _valid: set[str] = field(default_factory=set)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changes: list[tuple[int, str, str]] = field(default_factory=list)
    _user_changes: list[tuple[int, str, frozenset[str]]] = field(default_factory=list)
    _pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def graph_url(self) -> str:
        return self.base + "v1.0/"

    @property
    def authority(self) -> str:
        return self.base + TENANT

    # -- what a test does in "Outlook" ----------------------------------------------------

    def _touch(self, room: str, event_id: str) -> None:
        self._changes.append((next(self._seq), room, event_id))

    def add_event(
        self, room: str, subject: str, start: datetime, end: datetime, **fields: Any
    ) -> str:
        """An event in ``room``'s calendar; ``fields`` are Graph properties. Its id."""
        with self._lock:
            event_id = fields.pop("id", None) or f"AAMk{uuid.uuid4().hex}"
            event = {
                "id": event_id,
                "changeKey": uuid.uuid4().hex[:12],
                "iCalUId": f"040000008200E0{uuid.uuid4().hex}",
                "subject": subject,
                "start": when(start),
                "end": when(end),
                "isAllDay": False,
                "isCancelled": False,
                "sensitivity": "normal",
                "showAs": "busy",
                "type": "singleInstance",
                "organizer": {"emailAddress": {"name": room, "address": room}},
                "attendees": [],
                **fields,
            }
            self.events.setdefault(room, {})[event_id] = event
            self._touch(room, event_id)
            return event_id

    def update_event(self, room: str, event_id: str, **fields: Any) -> None:
        with self._lock:
            event = self.events[room][event_id]
            event.update(fields)
            event["changeKey"] = uuid.uuid4().hex[:12]
            self._touch(room, event_id)

    def delete_event(self, room: str, event_id: str) -> None:
        with self._lock:
            del self.events[room][event_id]
            self._touch(room, event_id)

    def find(self, room: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(e)
                for e in self.events.get(room, {}).values()
                if all(e.get(k) == v for k, v in match.items())
            ]

    def set_user(self, user_id: str, **fields: Any) -> None:
        with self._lock:
            user = self.users.setdefault(user_id, {"id": user_id})
            user.update(fields)
            self._user_changes.append((next(self._seq), user_id, frozenset(fields)))

    def remove_user(self, user_id: str) -> None:
        with self._lock:
            del self.users[user_id]
            self._user_changes.append((next(self._seq), user_id, frozenset()))

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on (401 on its next use)."""
        with self._lock:
            self._valid.clear()

    def graph_requests(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.log if p.startswith("/v1.0/")]

    # -- paging --------------------------------------------------------------------------

    def _page(self, items: list[dict[str, Any]], size: int, final: dict[str, str]) -> Any:
        """One page of ``items``; the rest behind a next link, ``final`` on the last."""
        body: dict[str, Any] = {"value": items[:size]}
        if len(items) > size:
            token = uuid.uuid4().hex
            self._pages[token] = [*items[size:]]
            self._pages[token + ":final"] = [final]
            body["@odata.nextLink"] = f"{self.graph_url}_pages?$skiptoken={token}&size={size}"
        else:
            body.update(final)
        return body


def _size(request: Request) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
    return int(match.group(1)) if match else 10


def _overlaps(event: dict[str, Any], lo: datetime, hi: datetime) -> bool:
    return _read_when(event["start"]) < hi and _read_when(event["end"]) > lo


def _public(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "singleValueExtendedProperties"}


def _assertion_ok(state: GraphStandIn, assertion: str) -> bool:
    """A client assertion (RFC 7523) signed with the registered certificate's key, for
    this token endpoint and this app."""
    if not (assertion and state.certificate):
        return False
    import jwt
    from cryptography import x509

    key = x509.load_pem_x509_certificate(state.certificate.encode()).public_key()
    try:
        claims = jwt.decode(
            assertion,
            key,  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            audience=f"{state.base}{TENANT}/oauth2/v2.0/token",
        )
    except jwt.InvalidTokenError:
        return False
    return bool(claims.get("iss") == CLIENT_ID == claims.get("sub"))


def build_app(state: GraphStandIn) -> Starlette:
    async def guard(request: Request) -> Response | None:
        state.log.append((request.method, request.url.path + "?" + request.url.query))
        if state.throttle:
            wait = state.throttle.pop(0)
            return _error(429, "TooManyRequests", {"Retry-After": str(wait)})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in state._valid:
            return _error(401, "InvalidAuthenticationToken")
        return None

    async def openid(request: Request) -> Response:
        state.log.append((request.method, request.url.path))
        issuer = f"{state.base}{TENANT}/v2.0"
        return JSONResponse(
            {
                "issuer": issuer,
                "token_endpoint": f"{state.base}{TENANT}/oauth2/v2.0/token",
                "authorization_endpoint": f"{state.base}{TENANT}/oauth2/v2.0/authorize",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            }
        )

    async def token(request: Request) -> Response:
        state.log.append((request.method, request.url.path))
        form = dict((await request.form()).items())
        state.token_requests.append({k: str(v) for k, v in form.items()})
        secret_ok = form.get("client_secret") == state.secret
        assertion = _assertion_ok(state, str(form.get("client_assertion") or ""))
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if not (secret_ok or assertion):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        with state._lock:
            state.tokens_issued += 1
            issued = f"tok-{state.tokens_issued}-{uuid.uuid4().hex}"
            state._valid.add(issued)
        return JSONResponse(
            {"token_type": "Bearer", "expires_in": state.expires_in, "access_token": issued}
        )

    async def view(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        room = request.path_params["room"].lower()
        lo = datetime.fromisoformat(request.query_params["startDateTime"].replace("Z", "+00:00"))
        hi = datetime.fromisoformat(request.query_params["endDateTime"].replace("Z", "+00:00"))
        with state._lock:
            items = [
                _public(e) for e in state.events.get(room, {}).values() if _overlaps(e, lo, hi)
            ]
            return JSONResponse(state._page(items, _size(request), {}))

    async def delta(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        room = request.path_params["room"].lower()
        query = request.query_params
        lo = datetime.fromisoformat(query["startDateTime"].replace("Z", "+00:00"))
        hi = datetime.fromisoformat(query["endDateTime"].replace("Z", "+00:00"))
        with state._lock:
            now = next(state._seq)
            since = query.get("$deltatoken")
            calendar = state.events.get(room, {})
            if since is None:
                items = [_public(e) for e in calendar.values() if _overlaps(e, lo, hi)]
            else:
                if state.forget_delta_links:
                    state.forget_delta_links = False
                    return _error(410, "SyncStateNotFound")
                changed = dict.fromkeys(
                    i for s, r, i in state._changes if r == room and s > int(since)
                )
                items = []
                for event_id in changed:
                    event = calendar.get(event_id)
                    if event is None or not _overlaps(event, lo, hi):
                        items.append({"id": event_id, "@removed": {"reason": "deleted"}})
                    else:
                        items.append(_public(event))
            params = urlencode(
                {
                    "$deltatoken": now,
                    "startDateTime": query["startDateTime"],
                    "endDateTime": query["endDateTime"],
                }
            )
            link = f"{state.graph_url}users/{room}/calendarView/delta?{params}"
            return JSONResponse(state._page(items, _size(request), {"@odata.deltaLink": link}))

    async def pages(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        token = request.query_params["$skiptoken"]
        with state._lock:
            rest = state._pages.pop(token)
            final = state._pages.pop(token + ":final")[0]
            return JSONResponse(state._page(rest, int(request.query_params["size"]), final))

    async def events(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        room = request.path_params["room"].lower()
        calendar = state.events.setdefault(room, {})
        if request.method == "GET":
            match = _FILTER.search(request.query_params.get("$filter", ""))
            wanted = match.group(1).replace("''", "'") if match else None
            with state._lock:
                found = [
                    {"id": e["id"], "changeKey": e["changeKey"]}
                    for e in calendar.values()
                    if any(
                        p.get("value") == wanted for p in e.get("singleValueExtendedProperties", ())
                    )
                ]
            return JSONResponse({"value": found})
        body = await request.json()
        with state._lock:
            repeat = [
                e
                for e in calendar.values()
                if body.get("transactionId") and e.get("transactionId") == body["transactionId"]
            ]
        if repeat:
            return JSONResponse(_public(repeat[0]), status_code=201)
        start, end = _read_when(body["start"]), _read_when(body["end"])
        made = state.add_event(
            room,
            body.get("subject", ""),
            start,
            end,
            **{k: v for k, v in body.items() if k not in ("subject", "start", "end")},
        )
        return JSONResponse(_public(state.events[room][made]), status_code=201)

    async def event(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        room = request.path_params["room"].lower()
        event_id = request.path_params["id"]
        current = state.events.get(room, {}).get(event_id)
        if current is None:
            return _error(404, "ErrorItemNotFound")
        match = request.headers.get("if-match")
        if match and match != f'W/"{current["changeKey"]}"':
            return _error(412, "ErrorIrresolvableConflict")
        if request.method == "DELETE":
            state.delete_event(room, event_id)
            return Response(status_code=204)
        body = await request.json()
        for edge in ("start", "end"):  # Graph keeps its own dateTime format
            if edge in body:
                body[edge] = when(_read_when(body[edge]))
        state.update_event(room, event_id, **body)
        return JSONResponse(_public(state.events[room][event_id]))

    async def users_delta(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        with state._lock:
            now = next(state._seq)
            since = request.query_params.get("$deltatoken")
            if since is None:
                items = [dict(u) for u in state.users.values()]
            else:
                changed: dict[str, set[str]] = {}
                for s, user_id, fields in state._user_changes:
                    if s > int(since):
                        changed.setdefault(user_id, set()).update(fields)
                items = []
                for user_id, names in changed.items():
                    user = state.users.get(user_id)
                    if user is None:
                        items.append({"id": user_id, "@removed": {"reason": "deleted"}})
                    else:  # only what changed, as Graph answers an updated user
                        items.append({"id": user_id, **{f: user[f] for f in names}})
            link = f"{state.graph_url}users/delta?$deltatoken={now}"
            return JSONResponse(state._page(items, _size(request), {"@odata.deltaLink": link}))

    async def members(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        ids = sorted(state.groups.get(request.path_params["group"], set()))
        return JSONResponse(state._page([{"id": i} for i in ids], _size(request), {}))

    routes = [
        Route(f"/{TENANT}/v2.0/.well-known/openid-configuration", openid),
        Route(f"/{TENANT}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/v1.0/users/delta", users_delta),
        Route("/v1.0/_pages", pages),
        Route("/v1.0/users/{room}/calendarView/delta", delta),
        Route("/v1.0/users/{room}/calendarView", view),
        Route("/v1.0/users/{room}/events", events, methods=["GET", "POST"]),
        Route("/v1.0/users/{room}/events/{id}", event, methods=["PATCH", "DELETE"]),
        Route("/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user", members),
    ]
    return Starlette(routes=routes)


@contextmanager
def graph_server(folder: Path) -> Iterator[GraphStandIn]:
    """Serve a fresh :class:`GraphStandIn` over HTTPS on 127.0.0.1 until the block ends."""
    pki = make_pki(folder, ("127.0.0.1",))
    state = GraphStandIn(ca_file=str(pki.ca_file))
    config = uvicorn.Config(
        build_app(state),
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(pki.cert_file),
        ssl_keyfile=str(pki.key_file),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Graph stand-in did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.base = f"https://127.0.0.1:{port}/"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(10)


def parse_query(path: str) -> dict[str, list[str]]:
    """The query of a logged ``path?query``."""
    return parse_qs(path.partition("?")[2])

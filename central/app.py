"""The ASGI application: routes under ``/v1``, one connection pool, no global state.

``create_app`` builds it; the pool opens in the app's lifespan. When driving the app
in-process (``httpx.ASGITransport`` runs no lifespan), wrap the calls in
``async with app.router.lifespan_context(app):``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources

import orjson
import psycopg
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from central import commands, fleet, snapshots
from central.auth import DeviceContext, authenticate, bearer_token, hash_secret
from central.batch import EpochKeys, Limits
from central.db import open_pool
from central.enroll import confirm_enrollment, enroll_device
from central.errors import (
    BadRequest,
    EnrollmentError,
    Forbidden,
    NotAuthorised,
    NotFound,
    ServerError,
)
from central.ingest import ingest
from central.keys import public_bytes
from central.notify.invites import invite_key
from central.notify.settings import NotifySettings
from central.notify.worker import run_worker
from central.ratelimit import check_enroll, enroll_failed
from central.visitors import InviteRequest, create_invite, onsite
from central.web import (
    DateAndErrors,
    etag_matches,
    handle_http_exception,
    handle_server_error,
    read_json,
)
from sync.events import EventType

__all__ = ["create_app"]

_ENROLL_BODY_LIMIT = 8 * 1024
_SMALL_BODY_LIMIT = 1024
_ADMIN_BODY_LIMIT = 8 * 1024


@dataclass(slots=True)
class _Central:
    keys: EpochKeys
    public_key: bytes
    limits: Limits
    clock: Callable[[], datetime]
    settings: NotifySettings
    invite_key: bytes
    pool: AsyncConnectionPool | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set after each batch that carries a visitor sign-in: the notification worker looks
    at once (other batches queue no notification)."""

    def db(self) -> AsyncConnectionPool:
        if self.pool is None:
            raise RuntimeError("central's pool is not open: run the app's lifespan")
        return self.pool


def _central(request: Request) -> _Central:
    central: _Central = request.app.state.central
    return central


async def _device(request: Request, central: _Central) -> DeviceContext:
    async with central.db().connection() as conn:
        return await authenticate(conn, request.headers.get("authorization"))


async def health(request: Request) -> Response:
    central = _central(request)
    async with central.db().connection() as conn:
        await conn.execute("SELECT 1")
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> Response:
    text = resources.files("central").joinpath("openapi.yaml").read_bytes()
    return Response(text, media_type="application/yaml")


async def enroll(request: Request) -> Response:
    central = _central(request)
    source = request.client.host if request.client else "unknown"
    failed: ServerError | None = None
    async with central.db().connection() as conn:
        await check_enroll(conn, source)
        try:
            body = await read_json(request, _ENROLL_BODY_LIMIT)
            enrolled = await enroll_device(conn, body)
        except (BadRequest, EnrollmentError) as exc:
            failed = exc
    if failed is not None:  # recorded in a transaction of its own: the refusal rolls back
        async with central.db().connection() as conn:
            await enroll_failed(conn, source, failed.error)
        raise failed
    return JSONResponse(
        {
            "device_id": enrolled.device_id,
            "token": enrolled.token,
            "site_id": enrolled.site_id,
            "scope": {"kind": enrolled.scope_kind, "id": enrolled.scope_id},
            "central_public_key": base64.b64encode(central.public_key).decode("ascii"),
            "server_time": central.clock().isoformat(),
            "pending": True,
            "retry_until": enrolled.retry_until.isoformat() if enrolled.retry_until else None,
        },
        status_code=200 if enrolled.repeated else 201,
    )


async def enroll_confirm(request: Request) -> Response:
    """The device stored its identity (token and key): its enrollment is confirmed."""
    central = _central(request)
    body = await read_json(request, _SMALL_BODY_LIMIT)
    async with central.db().connection() as conn:
        device_id, first = await confirm_enrollment(
            conn, request.headers.get("authorization"), body
        )
    return JSONResponse({"device_id": device_id, "confirmed": True, "first_time": first})


_Builder = Callable[
    [psycopg.AsyncConnection, DeviceContext, Request, datetime], Awaitable[snapshots.Snapshot]
]

_SNAPSHOTS: dict[str, _Builder] = {
    "rooms": lambda conn, device, request, now: snapshots.rooms(conn, device),
    "desks": lambda conn, device, request, now: snapshots.desks(conn, device),
    "directory": lambda conn, device, request, now: snapshots.directory(conn, device),
    "calendar": lambda conn, device, request, now: snapshots.calendar(
        conn, device, request.query_params.get("room"), now
    ),
    "availability": lambda conn, device, request, now: snapshots.availability(conn, device, now),
    "kiosk": lambda conn, device, request, now: snapshots.kiosk(conn, device),
    "visitors": lambda conn, device, request, now: snapshots.visitors(conn, device, now),
    "floors": lambda conn, device, request, now: snapshots.floors(conn, device),
    "desk_bookings": lambda conn, device, request, now: snapshots.desk_bookings(conn, device, now),
}


async def snapshot(request: Request) -> Response:
    central = _central(request)
    build = _SNAPSHOTS.get(request.path_params["kind"])
    if build is None:
        raise NotFound(
            f"no snapshot {request.path_params['kind']!r}; known: {', '.join(_SNAPSHOTS)}"
        )
    async with central.db().connection() as conn:
        device = await authenticate(conn, request.headers.get("authorization"))
        snap = await build(conn, device, request, central.clock())
    headers = {"ETag": snap.etag, "Cache-Control": "no-cache"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match, snap.etag):
        return Response(status_code=304, headers=headers)
    return Response(snap.body, media_type="application/json", headers=headers)


async def events(request: Request) -> Response:
    central = _central(request)
    device = await _device(request, central)
    body = await read_json(request, central.limits.max_body_bytes)
    async with central.db().connection() as conn:
        results = await ingest(
            conn,
            device,
            body,
            keys=central.keys,
            limits=central.limits,
            now=central.clock(),
        )
    if _carries_signin(body):  # its notification goes out now, not at the next poll
        central.wake.set()
    # what JSONResponse would send (compact UTF-8), for a fraction of its cost
    return Response(orjson.dumps({"results": results}), media_type="application/json")


def _carries_signin(body: object) -> bool:
    """Does this batch hold a visitor sign-in (the only event that queues a notification)?

    Other batches leave the worker to its poll: waking it after every batch of presence
    samples would only add its queries to the next batch's."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return False
    signin = EventType.VISITOR_SIGNIN.value
    return any(isinstance(e, dict) and e.get("type") == signin for e in events)


async def list_commands(request: Request) -> Response:
    central = _central(request)
    async with central.db().connection() as conn:
        device = await authenticate(conn, request.headers.get("authorization"))
        pending = await commands.pending(conn, device)
    return JSONResponse({"commands": pending})


async def ack_command(request: Request) -> Response:
    central = _central(request)
    command_id = request.path_params["command_id"]
    # no body (devices before results): done; else {"result", "detail"}
    empty = request.headers.get("content-length", "0") == "0"
    body = None if empty else await read_json(request, _SMALL_BODY_LIMIT)
    result, detail = commands.read_ack(body)
    async with central.db().connection() as conn:
        device = await authenticate(conn, request.headers.get("authorization"))
        first = await commands.acknowledge(conn, device, command_id, result, detail)
    return JSONResponse({"id": int(command_id), "acknowledged": True, "first_time": first})


async def heartbeat(request: Request) -> Response:
    """The device's health facts (central.fleet); the latest one per device is kept."""
    central = _central(request)
    device = await _device(request, central)
    facts = fleet.read_heartbeat(await read_json(request, fleet.HEARTBEAT_LIMIT))
    async with central.db().connection() as conn:
        await fleet.store_heartbeat(conn, device, facts)
    return Response(status_code=204)


async def rotate(request: Request) -> Response:
    """Key rotation, step 1 (central.commands): the new token, not yet in force."""
    central = _central(request)
    device = await _device(request, central)
    body = await read_json(request, _SMALL_BODY_LIMIT)
    async with central.db().connection() as conn:
        token = await commands.begin_rotation(conn, device, body)
    return JSONResponse({"device_id": device.id, "token": token})


async def rotate_confirm(request: Request) -> Response:
    """Key rotation, step 2: the new key and token in force, the old token refused."""
    central = _central(request)
    device = await _device(request, central)
    body = await read_json(request, _SMALL_BODY_LIMIT)
    async with central.db().connection() as conn:
        await commands.confirm_rotation(conn, device, body)
    return JSONResponse({"device_id": device.id, "rotated": True})


def _admin(request: Request, central: _Central) -> None:
    """Raises :class:`Forbidden` when the admin API is off, :class:`NotAuthorised` for a
    missing or wrong admin token."""
    expected = central.settings.admin_token_sha256
    if expected is None:
        raise Forbidden("the admin API is off: set [admin] token_sha256 in central's settings")
    token = bearer_token(request.headers.get("authorization"))
    if not hmac.compare_digest(hash_secret(token), expected):
        raise NotAuthorised("wrong admin token")


async def admin_invite(request: Request) -> Response:
    """Invite a visitor for a day; the email with the QR code goes through the outbox."""
    central = _central(request)
    _admin(request, central)
    body = await read_json(request, _ADMIN_BODY_LIMIT)
    made = await create_invite(
        central.db(), InviteRequest.from_json(body), now=central.clock(), key=central.invite_key
    )
    return JSONResponse(made.to_json(), status_code=201)


async def admin_onsite(request: Request) -> Response:
    """The evacuation list: visitors signed in now, at ``?site=`` or everywhere."""
    central = _central(request)
    _admin(request, central)
    site = request.query_params.get("site") or None
    people = await onsite(central.db(), site)
    return JSONResponse({"visitors": [v.to_json() for v in people]})


def _portal(central: _Central) -> Starlette:
    """The admin portal on this central's pool, clock and invite key."""
    from central.portal import Deps, portal_app

    return portal_app(Deps(central.db, lambda: central.clock(), central.invite_key))


def create_app(
    dsn: str,
    central_private_key: X25519PrivateKey,
    *,
    limits: Limits | None = None,
    clock: Callable[[], datetime] | None = None,
    pool_min: int = 2,
    pool_max: int = 8,
    settings: NotifySettings | None = None,
    worker: bool = False,
) -> Starlette:
    """The central API for the database at ``dsn``.

    ``central_private_key`` opens the devices' sealed epoch keys (and makes invite QR
    codes); ``limits`` bounds batches and bodies; ``clock`` (aware ``datetime``) decides
    "today" and event age; ``settings`` are central's notification settings (SMTP,
    webhooks, the admin token); ``worker`` runs the notification worker
    (:mod:`central.notify.worker`) in the app's lifespan. Nothing connects until the
    app's lifespan starts.
    """
    central = _Central(
        keys=EpochKeys(central_private_key),
        public_key=public_bytes(central_private_key),
        limits=limits or Limits(),
        clock=clock or (lambda: datetime.now(UTC)),
        settings=settings or NotifySettings(),
        invite_key=invite_key(central_private_key),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_pool(dsn, min_size=pool_min, max_size=pool_max) as pool:
            central.pool = pool
            stop = asyncio.Event()
            task = (
                asyncio.create_task(
                    run_worker(
                        pool,
                        central.settings,
                        stop,
                        invite_key=central.invite_key,
                        wake=central.wake,
                    )
                )
                if worker
                else None
            )
            try:
                yield
            finally:
                stop.set()
                central.wake.set()
                if task is not None:
                    await task
                central.pool = None

    app = Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/openapi.yaml", openapi, methods=["GET"]),
            Route("/v1/enroll", enroll, methods=["POST"]),
            Route("/v1/enroll/confirm", enroll_confirm, methods=["POST"]),
            Route("/v1/snapshot/{kind}", snapshot, methods=["GET"]),
            Route("/v1/events", events, methods=["POST"]),
            Route("/v1/commands", list_commands, methods=["GET"]),
            Route("/v1/commands/{command_id}/ack", ack_command, methods=["POST"]),
            Route("/v1/heartbeat", heartbeat, methods=["PUT"]),
            Route("/v1/rotate", rotate, methods=["POST"]),
            Route("/v1/rotate/confirm", rotate_confirm, methods=["POST"]),
            Route("/v1/admin/invites", admin_invite, methods=["POST"]),
            Route("/v1/admin/onsite", admin_onsite, methods=["GET"]),
            Mount("/admin", app=_portal(central)),  # the admin portal (docs/portal.md)
        ],
        middleware=[Middleware(DateAndErrors)],
        exception_handlers={
            ServerError: handle_server_error,
            HTTPException: handle_http_exception,
        },
        lifespan=lifespan,
    )
    app.state.central = central
    return app

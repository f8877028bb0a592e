"""The ASGI application: routes under ``/v1``, one connection pool, no global state.

``create_app`` builds it; the pool opens in the app's lifespan. When driving the app
in-process (``httpx.ASGITransport`` runs no lifespan), wrap the calls in
``async with app.router.lifespan_context(app):``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import psycopg
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from central import commands, snapshots
from central.auth import DeviceContext, authenticate
from central.batch import EpochKeys, Limits
from central.db import open_pool
from central.enroll import enroll_device
from central.errors import BadRequest, EnrollmentError, NotFound, ServerError
from central.ingest import ingest
from central.keys import public_bytes
from central.ratelimit import check_enroll, enroll_failed
from central.web import (
    DateAndErrors,
    etag_matches,
    handle_http_exception,
    handle_server_error,
    read_json,
)

__all__ = ["create_app"]

_ENROLL_BODY_LIMIT = 8 * 1024
_SMALL_BODY_LIMIT = 1024


@dataclass(slots=True)
class _Central:
    keys: EpochKeys
    public_key: bytes
    limits: Limits
    clock: Callable[[], datetime]
    pool: AsyncConnectionPool | None = None

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
        },
        status_code=201,
    )


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
    return JSONResponse({"results": results})


async def list_commands(request: Request) -> Response:
    central = _central(request)
    async with central.db().connection() as conn:
        device = await authenticate(conn, request.headers.get("authorization"))
        pending = await commands.pending(conn, device)
    return JSONResponse({"commands": pending})


async def ack_command(request: Request) -> Response:
    central = _central(request)
    command_id = request.path_params["command_id"]
    async with central.db().connection() as conn:
        device = await authenticate(conn, request.headers.get("authorization"))
        first = await commands.acknowledge(conn, device, command_id)
    return JSONResponse({"id": int(command_id), "acknowledged": True, "first_time": first})


def create_app(
    dsn: str,
    central_private_key: X25519PrivateKey,
    *,
    limits: Limits | None = None,
    clock: Callable[[], datetime] | None = None,
    pool_min: int = 2,
    pool_max: int = 8,
) -> Starlette:
    """The central API for the database at ``dsn``.

    ``central_private_key`` opens the devices' sealed epoch keys; ``limits`` bounds
    batches and bodies; ``clock`` (aware ``datetime``) decides "today" and event age.
    Nothing connects until the app's lifespan starts.
    """
    central = _Central(
        keys=EpochKeys(central_private_key),
        public_key=public_bytes(central_private_key),
        limits=limits or Limits(),
        clock=clock or (lambda: datetime.now(UTC)),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_pool(dsn, min_size=pool_min, max_size=pool_max) as pool:
            central.pool = pool
            try:
                yield
            finally:
                central.pool = None

    app = Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/openapi.yaml", openapi, methods=["GET"]),
            Route("/v1/enroll", enroll, methods=["POST"]),
            Route("/v1/snapshot/{kind}", snapshot, methods=["GET"]),
            Route("/v1/events", events, methods=["POST"]),
            Route("/v1/commands", list_commands, methods=["GET"]),
            Route("/v1/commands/{command_id}/ack", ack_command, methods=["POST"]),
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

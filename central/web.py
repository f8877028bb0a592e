"""HTTP plumbing shared by the routes: JSON errors, bounded bodies, ETags, the Date header."""

from __future__ import annotations

import logging
import traceback
from email.utils import formatdate
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.errors import BadRequest, PayloadTooLarge, ServerError, TooManyRequests
from central.jsonread import loads

__all__ = [
    "DateAndErrors",
    "HttpMiddleware",
    "error_response",
    "etag_matches",
    "handle_http_exception",
    "handle_server_error",
    "read_json",
]

log = logging.getLogger(__name__)


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


async def handle_server_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServerError)
    response = error_response(exc.status, exc.error, exc.detail)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    names = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, names.get(exc.status_code, "http_error"), exc.detail)


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, refusing more than ``limit`` bytes.

    Raises :class:`PayloadTooLarge` and :class:`BadRequest`.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("the request body", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("the request body", limit)
        chunks.append(chunk)
    try:
        return loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as ``If-None-Match`` requires."""
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag.removeprefix("W/") in candidates


class HttpMiddleware:
    """Base of an ASGI middleware that acts on HTTP requests only: :meth:`http` sees
    them, anything else (lifespan, websockets) goes straight to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request. Raises :class:`NotImplementedError` unless overridden."""
        raise NotImplementedError


class DateAndErrors(HttpMiddleware):
    """ASGI middleware: a ``Date`` header on every response (devices derive their clock
    offset from it), and a JSON 500 instead of a bare traceback page."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_with_date(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_date)
        except ClientDisconnect:
            # flaky Wi-Fi: the device resends the batch; nothing was applied half-way
            log.info("client went away during %s %s", scope.get("method"), scope.get("path"))
            return
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, (psycopg.OperationalError, PoolTimeout)):
                log.warning("database unavailable: %s", type(exc).__name__)
                response = error_response(
                    503, "database_unavailable", "the database is unavailable"
                )
            else:
                # The message may quote data (a driver's DETAIL line): log its type and stack only.
                log.error(
                    "unhandled %s%s on %s %s\n%s",
                    type(exc).__name__,
                    f" ({exc.sqlstate})" if isinstance(exc, psycopg.Error) else "",
                    scope.get("method"),
                    scope.get("path"),
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                response = error_response(500, "internal", "central failed; it has been logged")
            await response(scope, receive, send_with_date)

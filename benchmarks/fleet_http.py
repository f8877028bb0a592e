"""The fleet simulator's HTTP/1.1 client: one TLS connection per simulated device, raw
asyncio streams, request heads exactly as the device's client sends them.

A real device talks through :class:`sync.client.CentralClient` (httpx). Running a
thousand httpx clients in one process would make the load generator the bottleneck, so
each simulated device has this light equivalent instead: its own keep-alive connection
(closed by central after its idle timeout and opened again, TLS handshake included, as
a real device's would be), verified against the same CA with
:func:`sync.client.tls_context`. The request heads are built by httpx itself, once per
shape (method, path, which headers vary), from the same client settings as
``CentralClient``; :func:`check_shapes` proves them byte-identical to what a real
``CentralClient`` would send.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

import httpx

from sync.client import CentralClient

__all__ = ["Answer", "Connection", "Heads", "HttpError", "check_shapes"]

_TOKEN = "\x01TOKEN\x01"
_ETAG = '"\x01ETAG\x01"'
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


class HttpError(Exception):
    """The exchange failed below HTTP: connection refused or reset, a timeout, a reply
    that is not HTTP/1.1 as expected."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    etag: str | None
    new_connection: bool


class Heads:
    """Request heads (request line and headers) for one central, built by httpx."""

    def __init__(self, base_url: str) -> None:
        # the client settings of sync.client.CentralClient (its token is per request here)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"User-Agent": "tapin-device/1"}
        )
        self._shapes: dict[tuple[str, str, tuple[tuple[str, str], ...], bool, bool], bytes] = {}

    def head(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None = None,
        etag: str | None = None,
        body: bytes | None = None,
    ) -> bytes:
        key = (method, path, tuple(sorted((params or {}).items())), etag is not None, bool(body))
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._build(method, path, params, etag, body)
        head = shape.replace(_TOKEN.encode(), token.encode())
        if etag is not None:
            head = head.replace(_ETAG.encode(), etag.encode())
        if body:
            head = head.replace(b"\x01LENGTH\x01", str(len(body)).encode())
        return head

    def _build(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        etag: str | None,
        body: bytes | None,
    ) -> bytes:
        headers = {"Authorization": f"Bearer {_TOKEN}"}
        if etag is not None:
            headers["If-None-Match"] = _ETAG
        kwargs: dict[str, object] = {"headers": headers, "params": dict(params or {})}
        if body:
            headers["Content-Type"] = "application/json"
            kwargs["content"] = b"x"
        request = self._http.build_request(method, path, **kwargs)  # type: ignore[arg-type]
        return serialise(request, length_slot=bool(body))

    async def aclose(self) -> None:
        await self._http.aclose()


def serialise(request: httpx.Request, *, length_slot: bool = False) -> bytes:
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), request.url.raw_path)]
    for name, value in request.headers.raw:
        if length_slot and name.lower() == b"content-length":
            value = b"\x01LENGTH\x01"
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


def check_shapes(base_url: str) -> list[str]:
    """Differences between :class:`Heads` and a real ``CentralClient`` (none, hopefully)."""
    token, etag, body = "t0ken-Abc_123", '"0123abcd"', b'{"epochs":{},"events":[]}'
    real = CentralClient(base_url, token=token)
    ours = Heads(base_url)
    http: httpx.AsyncClient = real._http  # the device's own request builder
    cases = [
        ("GET", "/v1/snapshot/rooms", {}, None, None),
        ("GET", "/v1/snapshot/calendar", {"room": "r-1"}, etag, None),
        ("GET", "/v1/commands", {}, None, None),
        ("POST", "/v1/commands/17/ack", {}, None, None),
        ("POST", "/v1/events", {}, None, body),
    ]
    problems = []
    for method, path, params, tag, content in cases:
        headers = {"If-None-Match": tag} if tag else {}
        if content:
            headers["Content-Type"] = "application/json"
        want = serialise(
            http.build_request(method, path, params=params, headers=headers, content=content)
        )
        got = ours.head(method, path, token, params=params, etag=tag, body=content)
        if got != want:
            problems.append(f"{method} {path}: {got!r} != {want!r}")
    return problems


class Connection:
    """One device's keep-alive connection to central (opened when needed)."""

    def __init__(self, host: str, port: int, server_name: str, context: ssl.SSLContext) -> None:
        self.host, self.port, self.server_name, self.context = host, port, server_name, context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def _usable(self) -> bool:
        return (
            self._reader is not None
            and self._writer is not None
            and not self._writer.is_closing()
            and not self._reader.at_eof()
        )

    async def exchange(self, head: bytes, body: bytes | None = None) -> Answer:
        """Send one request and read its whole answer. Raises :class:`HttpError`."""
        new = not self._usable()
        try:
            if new:
                await self.close()
                self._reader, self._writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.context, server_hostname=self.server_name
                )
            assert self._reader is not None and self._writer is not None
            self._writer.write(head + body if body else head)
            await self._writer.drain()
            return await self._read(self._reader, new)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise HttpError(type(exc).__name__) from None
        except (ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(f"not HTTP/1.1 as expected ({type(exc).__name__})") from None

    async def _read(self, reader: asyncio.StreamReader, new: bool) -> Answer:
        raw = await reader.readuntil(b"\r\n\r\n")
        if len(raw) > _MAX_HEAD:
            raise ValueError("head too large")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _chunked(reader)
        elif status == 304 or status < 200:
            body = b""
        else:
            length = int(headers.get("content-length", "0"))
            if length > _MAX_BODY:
                raise ValueError("body too large")
            body = await reader.readexactly(length)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, body, headers.get("etag"), new)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    size = 0
    for _ in range(100_000):
        length = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if length == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        size += length
        if size > _MAX_BODY:
            raise ValueError("body too large")
        parts.append(await reader.readexactly(length))
        await reader.readexactly(2)
    raise ValueError("too many chunks")

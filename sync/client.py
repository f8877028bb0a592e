"""The device's HTTP client for the central API (httpx, async, TLS verified).

Exceptions (one tree; the agent decides retry or reject by class)::

    CentralError
     ├── Unreachable        network error or timeout            -> retry with backoff
     ├── ServerTrouble      5xx, or an answer that is not the contract -> retry
     └── Refused            4xx                                  -> do not retry as is
          └── NotAuthorised 401/403: unknown, revoked or out-of-scope device

TLS always verifies: against the organisation's CA file when one is configured, else
the system store. There is no switch to turn verification off.

Every request has a deadline for the whole exchange (a central that trickles bytes
never holds the device), answers are read up to a size limit, and nothing central
sends can make a method raise anything but a :class:`CentralError`.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.wire import OUTCOMES, SealedEvent

__all__ = [
    "CentralClient",
    "CentralError",
    "NotAuthorised",
    "Refused",
    "ServerTrouble",
    "Snapshot",
    "Unreachable",
]

_MAX_BODY = 16 * 1024 * 1024
_MAX_ETAG = 256
# Visible ASCII only: an ETag is sent back in If-None-Match, and a header value that
# httpx cannot encode (or h11 refuses to send) would break every later refresh.
_ETAG = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class CentralError(Exception):
    """Talking to central failed."""


class Unreachable(CentralError):
    pass


class ServerTrouble(CentralError):
    pass


class Refused(CentralError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"central refused ({status}): {message}")


class NotAuthorised(Refused):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        CentralError.__init__(
            self,
            f"central does not accept this device ({status}): {message}; "
            "check that it is enrolled and not revoked",
        )


@dataclass(frozen=True, slots=True)
class _Answer:
    """Central's answer, read in full (and bounded)."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    etag: str | None
    data: Any
    """Parsed JSON, or ``None`` when central answered 304 (unchanged)."""

    @property
    def unchanged(self) -> bool:
        return self.data is None


def tls_context(ca_file: Path | str | None) -> ssl.SSLContext:
    """Verification on, against ``ca_file`` (the organisation's CA) or the system store."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _clean(text: str, limit: int) -> str:
    """Central's text made safe for a status line or a log: one line, bounded."""
    return _CONTROL.sub(" ", text[: limit * 2]).strip()[:limit]


def _parse_json(body: bytes) -> Any:
    """Raises ``ValueError`` for anything that is not JSON (too deep included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _error_text(answer: _Answer) -> str:
    fallback = _clean(answer.reason, 100) or "no reason given"
    try:
        body = _parse_json(answer.body)
    except ValueError:
        return fallback
    if isinstance(body, dict):
        parts = [_clean(v, 300) for k in ("error", "detail") if isinstance(v := body.get(k), str)]
        text = ": ".join(p for p in parts if p)
        if text:
            return text[:300]
    return fallback


class CentralClient:
    """One connection pool to central for the device's lifetime."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ca_file: Path | str | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        deadline: float | None = None,
    ) -> None:
        headers = {"User-Agent": "tapin-device/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            verify=tls_context(ca_file),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.deadline = deadline if deadline is not None else 4 * timeout
        """The longest one whole exchange may take (connect, send, read every byte)."""
        self.clock_offset: timedelta | None = None
        """central's clock minus ours, from the last ``Date`` header."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CentralClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _request(
        self, method: str, path: str, *, not_modified_ok: bool = False, **kwargs: Any
    ) -> _Answer:
        """One exchange; the answer when it is a 2xx (or a 304 when ``not_modified_ok``).

        Raises only :class:`CentralError`: :class:`Unreachable` for network errors,
        timeouts and the deadline; :class:`Refused`/:class:`NotAuthorised` for 4xx;
        :class:`ServerTrouble` for 5xx, any other status, or an unreadable answer.
        """
        try:
            async with asyncio.timeout(self.deadline):
                answer = await self._exchange(method, path, **kwargs)
        except TimeoutError:
            raise Unreachable(
                f"central unreachable: no complete answer within {self.deadline:g} s"
            ) from None
        self._note_date(answer.headers)
        status = answer.status
        if status in (401, 403):
            raise NotAuthorised(status, _error_text(answer))
        if status in (408, 429):  # timeout, rate limited: transient, retry with backoff
            raise ServerTrouble(f"central answered {status}; will retry")
        if 400 <= status < 500:
            raise Refused(status, _error_text(answer))
        if not (200 <= status < 300 or (status == 304 and not_modified_ok)):
            raise ServerTrouble(f"central answered {status}")
        return answer

    async def _exchange(self, method: str, path: str, **kwargs: Any) -> _Answer:
        try:
            request = self._http.build_request(method, path, **kwargs)
            response = await self._http.send(request, stream=True)
            try:
                body = await self._read(response)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise Unreachable(f"central unreachable: {type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            raise ServerTrouble(f"central's answer is not HTTP as expected: {exc}") from None
        return _Answer(response.status_code, response.reason_phrase, response.headers, body)

    @staticmethod
    async def _read(response: httpx.Response) -> bytes:
        """The decoded body, at most ``_MAX_BODY`` bytes (a compressed bomb included)."""
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_BODY:
                    raise ServerTrouble("central's answer is too large")
        except httpx.DecodingError:
            if response.is_success:
                raise ServerTrouble("central's answer does not decode (Content-Encoding)") from None
            return b""  # an error answer: its status says what matters
        return bytes(body)

    def _note_date(self, headers: httpx.Headers) -> None:
        header = headers.get("date")
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header)
            if server.tzinfo is not None:
                self.clock_offset = server - datetime.now(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            return

    @staticmethod
    def _json(answer: _Answer) -> Any:
        try:
            return _parse_json(answer.body)
        except ValueError:
            raise ServerTrouble("central's answer is not JSON") from None

    async def health(self) -> bool:
        answer = await self._request("GET", "/v1/health")
        return answer.status == 200

    async def enroll(self, code: str, key: Ed25519PrivateKey) -> dict[str, Any]:
        """Prove possession of ``key`` with the one-time ``code``; central's answer."""
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        body = {
            "code": code,
            "public_key": base64.b64encode(public).decode(),
            "signature": base64.b64encode(key.sign(code.encode("utf-8"))).decode(),
        }
        data = self._json(await self._request("POST", "/v1/enroll", json=body))
        required = ("device_id", "token", "site_id", "central_public_key")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in required):
            raise ServerTrouble("central's enrollment answer lacks device_id/token/key")
        return data

    async def snapshot(
        self, kind: str, *, etag: str | None = None, params: Mapping[str, str] | None = None
    ) -> Snapshot:
        """``GET /v1/snapshot/<kind>``; with ``etag``, an unchanged answer costs a 304."""
        headers = {"If-None-Match": etag} if etag else {}
        answer = await self._request(
            "GET",
            f"/v1/snapshot/{kind}",
            headers=headers,
            params=dict(params or {}),
            not_modified_ok=bool(etag),
        )
        if answer.status == 304:
            return Snapshot(etag, None)
        data = self._json(answer)
        if data is None:
            raise ServerTrouble(f"central's {kind} snapshot is empty (null)")
        return Snapshot(_valid_etag(answer.headers.get("etag")), data)

    async def upload(
        self, epochs: Mapping[str, bytes], events: Sequence[SealedEvent]
    ) -> list[dict[str, Any]]:
        """Send a batch; central's per-event outcomes, validated.

        Raises :class:`ServerTrouble` when the answer does not account for the batch in
        the contract's shape: the caller then puts every event back to pending.
        """
        # json.dumps({"epochs": ..., "events": [e.to_wire() ...]}, separators=(",", ":")),
        # each event written out by wire_json (the generic encoder costs more than the rest)
        sealed = {k: base64.b64encode(v).decode() for k, v in epochs.items()}
        content = (
            f'{{"epochs":{json.dumps(sealed, separators=(",", ":"))},'
            f'"events":[{",".join([e.wire_json() for e in events])}]}}'
        ).encode("ascii")
        answer = await self._request(
            "POST",
            "/v1/events",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        data = self._json(answer)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ServerTrouble("central's answer to an upload has no 'results' list")
        sent = {e.id for e in events}
        clean: list[dict[str, Any]] = []
        for item in results:
            if not isinstance(item, dict):
                continue
            event_id, outcome = item.get("id"), item.get("outcome")
            if not isinstance(event_id, str) or event_id not in sent or outcome not in OUTCOMES:
                continue
            reason, code = item.get("reason"), item.get("code")
            clean.append(
                {
                    "id": event_id,
                    "outcome": outcome,
                    "reason": reason[:500] if isinstance(reason, str) else None,
                    "code": code[:100] if isinstance(code, str) else None,
                    "detail": _detail(item.get("detail")),
                }
            )
        return clean

    async def commands(self) -> list[dict[str, Any]]:
        data = self._json(await self._request("GET", "/v1/commands"))
        items = data.get("commands") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ServerTrouble("central's commands answer is not a list")
        return [c for c in items if isinstance(c, dict) and _command_id(c.get("id"))]

    async def ack_command(
        self, command_id: str | int, result: str | None = None, detail: str | None = None
    ) -> None:
        """Acknowledge a command; with ``result`` (``done``/``refused``) and ``detail``
        (why, at most 300 chars) in the body (no body: done, as central always took)."""
        # one path segment whatever the id holds: "../events" must not become a path
        segment = quote(str(command_id), safe="")
        body = None if result is None else {"result": result, "detail": (detail or None)}
        if body is not None and detail:
            body["detail"] = detail[:300]
        await self._request("POST", f"/v1/commands/{segment}/ack", json=body)

    async def heartbeat(self, facts: Mapping[str, Any]) -> None:
        """``PUT /v1/heartbeat``: the device's health facts (:mod:`tapin.device.health`)."""
        await self._request("PUT", "/v1/heartbeat", json=dict(facts))

    async def rotate(self, body: Mapping[str, str]) -> str:
        """``POST /v1/rotate``: the new token (not in force until :meth:`rotate_confirm`)."""
        data = self._json(await self._request("POST", "/v1/rotate", json=dict(body)))
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= 200:
            raise ServerTrouble("central's rotation answer has no token")
        return token

    async def rotate_confirm(self, signature: str) -> None:
        """``POST /v1/rotate/confirm``: the new key and token in force at central."""
        await self._request("POST", "/v1/rotate/confirm", json={"signature": signature})

    def use_token(self, token: str) -> None:
        """Send ``token`` from now on (after a key rotation)."""
        self._http.headers["Authorization"] = f"Bearer {token}"


def _command_id(value: object) -> bool:
    """An id that can name a command in a URL path: an integer, or a short string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and 0 < len(value) <= 128 and value not in (".", "..")


def _valid_etag(value: str | None) -> str | None:
    """The ETag as central sent it, or ``None`` (no caching) when it could not be sent
    back: not visible ASCII, or absurdly long."""
    if value is None or len(value) > _MAX_ETAG or not _ETAG.fullmatch(value):
        return None
    return value


def _detail(value: Any) -> dict[str, str] | None:
    """A rejection's ``detail`` (see :mod:`sync.events`): a few short strings, or ``None``."""
    if not isinstance(value, dict) or len(value) > 8:
        return None
    clean = {
        k: v
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, str) and len(k) <= 20 and len(v) <= 64
    }
    return clean or None

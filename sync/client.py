"""The device's HTTP client for the central API (httpx, async, TLS verified).

Exceptions (one tree; the agent decides retry or reject by class)::

    CentralError
     ├── Unreachable        network error or timeout            -> retry with backoff
     ├── ServerTrouble      5xx, or an answer that is not the contract -> retry
     └── Refused            4xx                                  -> do not retry as is
          └── NotAuthorised 401/403: unknown, revoked or out-of-scope device

TLS always verifies: against the organisation's CA file when one is configured, else
the system store. There is no switch to turn verification off.
"""

from __future__ import annotations

import base64
import email.utils
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    pass


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


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no reason given"
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("error", "detail") if body.get(k)]
        if parts:
            return ": ".join(parts)[:300]
    return response.reason_phrase or "no reason given"


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
        self.clock_offset: timedelta | None = None
        """central's clock minus ours, from the last ``Date`` header."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CentralClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"central unreachable: {type(exc).__name__}: {exc}") from None
        self._note_date(response)
        if response.status_code in (401, 403):
            raise NotAuthorised(response.status_code, _error_text(response))
        if 400 <= response.status_code < 500:
            raise Refused(response.status_code, _error_text(response))
        if response.status_code >= 500 or response.status_code in (301, 302, 307, 308):
            raise ServerTrouble(f"central answered {response.status_code}")
        if len(response.content) > _MAX_BODY:
            raise ServerTrouble("central's answer is too large")
        return response

    def _note_date(self, response: httpx.Response) -> None:
        header = response.headers.get("date")
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is not None:
            self.clock_offset = server - datetime.now(UTC)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise ServerTrouble("central's answer is not JSON") from None

    async def health(self) -> bool:
        response = await self._request("GET", "/v1/health")
        return response.status_code == 200

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
        response = await self._request(
            "GET", f"/v1/snapshot/{kind}", headers=headers, params=dict(params or {})
        )
        if response.status_code == 304:
            return Snapshot(etag, None)
        return Snapshot(response.headers.get("etag"), self._json(response))

    async def upload(
        self, epochs: Mapping[str, bytes], events: Sequence[SealedEvent]
    ) -> list[dict[str, Any]]:
        """Send a batch; central's per-event outcomes, validated.

        Raises :class:`ServerTrouble` when the answer does not account for the batch in
        the contract's shape: the caller then puts every event back to pending.
        """
        body = {
            "epochs": {k: base64.b64encode(v).decode() for k, v in epochs.items()},
            "events": [e.to_wire() for e in events],
        }
        content = json.dumps(body, separators=(",", ":")).encode()
        response = await self._request(
            "POST",
            "/v1/events",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        data = self._json(response)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ServerTrouble("central's answer to an upload has no 'results' list")
        sent = {e.id for e in events}
        clean: list[dict[str, Any]] = []
        for item in results:
            if (
                isinstance(item, dict)
                and item.get("id") in sent
                and item.get("outcome") in OUTCOMES
            ):
                reason = item.get("reason")
                clean.append(
                    {
                        "id": item["id"],
                        "outcome": item["outcome"],
                        "reason": str(reason)[:500] if reason is not None else None,
                        "code": item.get("code") if isinstance(item.get("code"), str) else None,
                    }
                )
        return clean

    async def commands(self) -> list[dict[str, Any]]:
        data = self._json(await self._request("GET", "/v1/commands"))
        items = data.get("commands") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ServerTrouble("central's commands answer is not a list")
        return [c for c in items if isinstance(c, dict) and isinstance(c.get("id"), str | int)]

    async def ack_command(self, command_id: str | int) -> None:
        await self._request("POST", f"/v1/commands/{command_id}/ack")

"""The two requests of ``tapin enroll``: the enrollment, saying which scope the device
expects, and its confirmation signed with the device's key (see :mod:`central.enroll`).

A :class:`sync.client.CentralClient` with these two exchanges, so their answers and
failures are read exactly as every other request's (the same exception tree).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.client import CentralClient, ServerTrouble

__all__ = ["EnrollClient", "confirm_message"]


def confirm_message(device_id: str) -> bytes:
    """What the device signs to confirm (as :func:`central.enroll.confirm_message`)."""
    return f"tapin-enroll-confirm:{device_id}".encode()


class EnrollClient(CentralClient):
    async def enroll_expecting(
        self, code: str, key: Ed25519PrivateKey, expect: tuple[str, str] | None
    ) -> dict[str, Any]:
        """``POST /v1/enroll`` proving possession of ``key``; with ``expect`` (kind, id)
        central refuses a code for another room or lobby, naming both, and keeps it.

        Raises :class:`sync.client.CentralError` (``Refused`` for a refused code)."""
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        body: dict[str, Any] = {
            "code": code,
            "public_key": base64.b64encode(public).decode(),
            "signature": base64.b64encode(key.sign(code.encode("utf-8"))).decode(),
        }
        if expect is not None:
            body["expect_scope"] = {"kind": expect[0], "id": expect[1]}
        data = self._json(await self._request("POST", "/v1/enroll", json=body))
        required = ("device_id", "token", "site_id", "central_public_key")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in required):
            raise ServerTrouble("central's enrollment answer lacks device_id/token/key")
        return data

    async def confirm(self, device_id: str, token: str, key: Ed25519PrivateKey) -> None:
        """``POST /v1/enroll/confirm`` with the new token, signed with ``key``. A central
        without that route (404) confirms at the first authenticated request instead.

        Raises :class:`sync.client.CentralError`."""
        from sync.client import Refused

        signature = base64.b64encode(key.sign(confirm_message(device_id))).decode()
        try:
            await self._request(
                "POST",
                "/v1/enroll/confirm",
                json={"signature": signature},
                headers={"Authorization": f"Bearer {token}"},
            )
        except Refused as exc:
            if exc.status != 404:
                raise

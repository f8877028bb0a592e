"""Microsoft Graph app-only sign-in and settings: MSAL and the ``[sites.S]`` graph table.

:class:`GraphAuth` is MSAL's client-credentials flow (``ConfidentialClientApplication``,
a client secret or a certificate): the token kept in MSAL's in-memory cache, re-acquired
when it runs out, dropped on demand when Graph says it is stale. :func:`graph_site` reads
a graph site's settings. Neither the secret nor a token ever appears in a message, a log
line or a ``repr``. The connector itself is :mod:`central.calendars.graph`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from central.calendars.base import AuthFailed, ConnectorError

if TYPE_CHECKING:
    from central.calendars.settings import SiteCalendars

__all__ = ["AUTHORITY", "GRAPH_URL", "GraphAuth", "GraphSession", "graph_site", "read_certificate"]

for _noisy in ("msal", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

GRAPH_URL = "https://graph.microsoft.com/v1.0/"
AUTHORITY = "https://login.microsoftonline.com/"


class GraphSession(requests.Session):
    """A session that verifies against ``ca_file`` when one is configured (requests would
    otherwise let ``$REQUESTS_CA_BUNDLE`` override a session's ``verify``)."""

    def __init__(self, ca_file: str | None) -> None:
        super().__init__()
        self._ca_file = ca_file

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        if self._ca_file and "verify" not in kwargs:
            kwargs["verify"] = self._ca_file
        return super().request(method, url, *args, **kwargs)


class GraphAuth:
    """App-only tokens for one Entra app registration (``tenant``, ``client_id`` and a
    ``client_secret`` or a PEM ``certificate`` holding key and certificate, sent as a signed
    client assertion). ``authority`` defaults to Entra's for ``tenant``; a configured one is
    used as given (no instance discovery: a sovereign cloud, a stand-in in tests). Not
    thread-safe on its own: the connector serialises its calls. Raises :class:`ValueError`
    when neither a secret nor a usable certificate is given."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str | None,
        certificate: str | None,
        authority: str | None,
        scope: str,
        session: requests.Session,
        timeout: float,
    ) -> None:
        import msal

        if not (client_secret or certificate):
            raise ValueError("the Graph connector needs a client secret or a certificate")
        self._scope = scope
        self._session = session
        self._timeout = timeout
        credential: Any = client_secret
        if certificate:
            key = re.search(
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----",
                certificate,
                re.S,
            )
            cert = re.search(
                r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", certificate, re.S
            )
            if not (key and cert):
                raise ValueError("the Graph certificate file needs a private key and a certificate")
            credential = {"private_key": key.group(0), "public_certificate": cert.group(0)}
        self._msal = msal
        self._app: Any = None
        self._credential = credential
        self._client_id = client_id
        # the authority is used as configured: no instance discovery or validation against
        # Microsoft's list when it is given (a sovereign cloud, a stand-in in tests)
        self._authority = (authority or AUTHORITY).rstrip("/") + ("" if authority else f"/{tenant}")
        self._configured_authority = authority is not None

    def __repr__(self) -> str:
        return "GraphAuth()"

    def _application(self) -> Any:
        """MSAL's client, made on first use (it reads the authority's OpenID configuration)."""
        if self._app is None:
            self._app = self._msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._credential,
                authority=self._authority,
                validate_authority=not self._configured_authority,
                instance_discovery=False if self._configured_authority else None,
                token_cache=self._msal.TokenCache(),  # in memory only
                http_client=self._session,
                timeout=self._timeout,
            )
        return self._app

    def token(self) -> str:
        """A valid access token. Raises :class:`AuthFailed` (credentials refused) and
        :class:`ConnectorError` (sign-in failed otherwise)."""
        try:
            result = self._application().acquire_token_for_client(scopes=[self._scope])
        except (requests.RequestException, ValueError, RuntimeError) as exc:
            raise ConnectorError(f"Microsoft sign-in failed ({type(exc).__name__})") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            code = str(result.get("error", "no token")) if isinstance(result, dict) else "no token"
            if code in ("invalid_client", "unauthorized_client", "invalid_grant"):
                raise AuthFailed(f"Microsoft sign-in refused the app's credentials ({code})")
            raise ConnectorError(f"Microsoft sign-in failed ({code[:60]})")
        return str(token)

    def drop(self) -> None:
        """Forget the cached token (Graph called it expired or revoked): the next
        :meth:`token` asks Entra for a new one."""
        self._application().remove_tokens_for_client()


def read_certificate(path: str) -> str:
    """The PEM text at ``path`` (key and certificate). Raises :class:`OSError`."""
    return Path(path).read_text("utf-8")


_MAILBOX = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")


def graph_site(site_id: str, table: Mapping[str, Any], env: Mapping[str, str]) -> SiteCalendars:
    """A ``[sites.S]`` table with ``connector = "graph"`` as
    :class:`~central.calendars.settings.SiteCalendars` (``user`` the client id,
    ``password`` the secret, rooms' calendars their mailbox addresses). Raises
    :class:`~central.errors.SettingsError` naming what to fix (never quoting a secret)."""
    import os

    from central.calendars.settings import (
        SiteCalendars,
        _check_url,
        _flag,
        _number,
        _secret,
    )
    from central.directory_sync import directory_options
    from central.errors import SettingsError
    from central.secretfiles import too_open

    where = f"[sites.{site_id}]"
    tenant, client_id = table.get("tenant"), table.get("client_id")
    if not isinstance(tenant, str) or not tenant or not isinstance(client_id, str) or not client_id:
        raise SettingsError(f"calendar settings: {where} (graph) needs tenant and client_id")
    secret = _secret(table, "client_secret", env, where)
    certificate = table.get("certificate_file")
    if bool(secret) == bool(certificate):
        raise SettingsError(
            f"calendar settings: {where} (graph) give client_secret (or client_secret_env) "
            "or certificate_file, one of them"
        )
    if certificate:
        try:
            mode = os.stat(str(certificate)).st_mode
        except OSError:
            raise SettingsError(
                f"calendar settings: {where} certificate_file {certificate} cannot be read"
            ) from None
        if too_open(mode):
            raise SettingsError(
                f"calendar settings: {where} certificate_file holds a private key; use mode 0600"
            )
    graph_url = _check_url(table.get("graph_url", GRAPH_URL), f"{where} graph_url")
    authority = table.get("authority")
    if authority is not None:
        authority = _check_url(authority, f"{where} authority")
    rooms_table = table.get("rooms", {})
    if not isinstance(rooms_table, dict) or not rooms_table:
        raise SettingsError(f"calendar settings: {where} needs a [sites.{site_id}.rooms] table")
    rooms: dict[str, str] = {}
    for room_id, mailbox in rooms_table.items():
        if not isinstance(mailbox, str) or not _MAILBOX.match(mailbox):
            raise SettingsError(
                f"calendar settings: room {room_id!r} needs its room mailbox address "
                "(room@example.org)"
            )
        rooms[room_id] = mailbox.lower()
    return SiteCalendars(
        site_id=site_id,
        connector="graph",
        url=graph_url,
        user=client_id,
        password=str(secret) if secret else None,
        rooms=rooms,
        interval_seconds=_number(table, "interval_seconds", 60, 5, 24 * 3600),
        writeback=_flag(table, "writeback", True, where),
        ca_file=str(table["ca_file"]) if table.get("ca_file") else None,
        timeout_seconds=_number(table, "timeout_seconds", 30, 1, 300),
        tenant=tenant,
        authority=authority,
        certificate_file=str(certificate) if certificate else None,
        **directory_options(site_id, table, "graph"),
    )

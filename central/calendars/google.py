"""Google Workspace over CalDAV: OAuth 2.0 bearer tokens from a service account.

Google's CalDAV endpoint (``https://apidata.googleusercontent.com/caldav/v2/<calendarId>/
events``) takes no passwords, only OAuth 2.0 access tokens. Central gets them with a
service account and domain-wide delegation: the JWT bearer grant (RFC 7523) signed with
the account's private key, for the scope :data:`SCOPE`, acting as ``subject`` (a Workspace
user who can see the room resource calendars). The grant is made by ``google-auth``
(:class:`google.oauth2.service_account.Credentials`); this module keeps the token in memory
only, refreshes it :data:`REFRESH_MARGIN` before it expires (and after the server refused
it), and puts it on every CalDAV request as ``Authorization: Bearer …``.

The credentials file is refused when group or others may read it (use 0600). Neither the
key, the assertion nor the token is ever logged or shown in a ``repr``.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from niquests.auth import AuthBase

from central.calendars.base import AuthFailed, ConnectorError
from central.errors import SettingsError
from central.secretfiles import read_secret_text

__all__ = [
    "GOOGLE_AUTH",
    "REFRESH_MARGIN",
    "SCOPE",
    "GoogleBearerAuth",
    "bearer_for",
    "read_service_account",
]

GOOGLE_AUTH = "google-service-account"
SCOPE = "https://www.googleapis.com/auth/calendar"
REFRESH_MARGIN = timedelta(seconds=60)
_FIELDS = ("client_email", "private_key", "token_uri")
_LIVE: weakref.WeakSet[GoogleBearerAuth] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for auth in list(_LIVE):
        auth.close()


def read_service_account(path: str, token_uri: str | None = None) -> dict[str, Any]:
    """The service account JSON at ``path`` (``token_uri`` replaces its own when given).

    Raises :class:`SettingsError` naming what to fix: missing or unreadable file, loose
    permissions, not a service account key (never quoting the key)."""
    text = read_secret_text(path, "Google credentials file", holds="a private key")
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise SettingsError(f"Google credentials file {path} is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SettingsError(
            f"Google credentials file {path} is not a service account key "
            '("type": "service_account"; download a JSON key of the service account)'
        )
    missing = [k for k in _FIELDS if not isinstance(info.get(k), str) or not info.get(k)]
    if missing:
        raise SettingsError(f"Google credentials file {path} lacks {', '.join(missing)}")
    if token_uri:
        info = {**info, "token_uri": token_uri}
    return info


class GoogleBearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` on each request, the token from a service account
    with domain-wide delegation for ``subject``; refreshed (blocking, in the caller's
    thread) when it is missing, within ``margin`` of its expiry, or refused with a 401.

    Raises :class:`AuthFailed` when the token endpoint refuses the grant and
    :class:`ConnectorError` when it cannot be reached."""

    def __init__(
        self,
        info: dict[str, Any],
        subject: str,
        *,
        timeout: float = 30.0,
        ca_file: str | None = None,
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        import requests
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        try:
            self._credentials: Any = service_account.Credentials.from_service_account_info(
                info, scopes=[SCOPE], subject=subject
            )
        except (ValueError, KeyError):
            raise SettingsError(
                "Google credentials: the service account key cannot be used (a bad private key?)"
            ) from None
        self.account = str(info["client_email"])
        self.refreshes = 0
        self._margin = margin
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stale = True
        session = requests.Session()
        if ca_file:
            session.verify = ca_file
        self._transport: Any = Request(session)
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"GoogleBearerAuth({self.account!r})"

    def _request(self, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._transport(**kwargs)

    def _expired(self) -> bool:
        expiry = self._credentials.expiry  # naive UTC (google-auth), None when unknown
        if self._stale or not self._credentials.token:
            return True
        if expiry is None:
            return False
        return self._clock() >= expiry.replace(tzinfo=UTC) - self._margin

    def token(self) -> str:
        """A current access token, refreshed when needed (see the class)."""
        from google.auth import exceptions

        with self._lock:
            if self._expired():
                try:
                    self._credentials.refresh(self._request)
                except exceptions.RefreshError:
                    raise AuthFailed(
                        "Google refused the service account's token request (is domain-wide "
                        "delegation granted for the calendar scope, and the subject a user?)"
                    ) from None
                except exceptions.TransportError:
                    raise ConnectorError("Google's token endpoint cannot be reached") from None
                self._stale = False
                self.refreshes += 1
            return str(self._credentials.token)

    def close(self) -> None:
        """Drop the token endpoint's connection pool (at exit: closed while the interpreter
        can still import, not by ``google-auth``'s ``__del__`` during shutdown)."""
        with self._lock:
            session = getattr(self._transport, "session", None)
            self._transport.session = None
        if session is not None:
            session.close()

    def invalidate(self) -> None:
        """The server refused the token: get a new one on the next request."""
        with self._lock:
            self._stale = True

    def _on_response(self, response: Any, **_: Any) -> Any:
        if getattr(response, "status_code", None) == 401:
            self.invalidate()
        return response

    def __call__(self, r: Any) -> Any:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        r.register_hook("response", self._on_response)
        return r


_SHARED: dict[tuple[str, int, str, str, str], GoogleBearerAuth] = {}
_SHARED_LOCK = threading.Lock()


def bearer_for(
    path: str,
    subject: str,
    *,
    token_uri: str | None = None,
    timeout: float = 30.0,
    ca_file: str | None = None,
) -> GoogleBearerAuth:
    """The process's one :class:`GoogleBearerAuth` (so one token) for this key file (as it
    is now: a replaced file is read again), subject and endpoint, shared by every
    connector of the site (the sync reads several rooms at once). Raises
    :class:`SettingsError` as :func:`read_service_account` does, or for an unusable key."""
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        changed = 0  # read_service_account says what is wrong
    key = (path, changed, subject, token_uri or "", ca_file or "")
    with _SHARED_LOCK:
        auth = _SHARED.get(key)
        if auth is None:
            info = read_service_account(path, token_uri)
            auth = GoogleBearerAuth(info, subject, timeout=timeout, ca_file=ca_file)
            _SHARED[key] = auth
        return auth

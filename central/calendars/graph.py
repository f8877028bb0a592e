"""The Microsoft Graph connector: Microsoft 365 room mailboxes, app-only (no user signs in).

Authentication (:mod:`central.calendars.graph_auth`, with the settings table) is MSAL's
client-credentials flow (``ConfidentialClientApplication``, a
client secret or a certificate), the token kept in MSAL's in-memory cache and re-acquired
when it runs out; a 401 ``InvalidAuthenticationToken`` (revoked, or expired early) drops
the cached token and retries once with a new one.

Reading a room: ``GET /users/{room}/calendarView/delta?startDateTime=…&endDateTime=…`` with
``Prefer: odata.maxpagesize=N, outlook.timezone="UTC"``. Graph answers occurrences already
expanded (``type`` singleInstance / occurrence / exception, ``seriesMasterId``,
``originalStart``), one item per occurrence; ``@odata.nextLink`` pages are followed and the
last page's ``@odata.deltaLink`` is the sync state: the next fetch ``GET``\\s only that link
and gets what changed, removed items marked ``@removed``. A link the server no longer
knows (410) starts a full read. ``sensitivity`` private / confidential is Tapin's private
flag; ``isCancelled`` leaves the occurrence out.

Throttling (429, 503) is waited out when the server's ``Retry-After`` is at most
:data:`MAX_RETRY_AFTER` seconds, :data:`MAX_RETRIES` times per request; longer, the call
fails as temporary and the sync tries again at its next run.

Writing: ``POST /users/{room}/events`` with ``transactionId`` = the booking's UID (Graph
drops a repeated POST with the same transactionId) and the UID in a single-value extended
property, by which the event is found again for ``PATCH`` (``If-Match`` its changeKey) and
``DELETE``. Neither the client secret nor a token ever appears in a message, a log line or
a ``repr``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

if TYPE_CHECKING:
    from central.calendars.settings import SiteCalendars

from central.calendars.base import (
    BOOKING_UID_PREFIX,
    AuthFailed,
    CalendarEvent,
    CalendarNotFound,
    ConnectorError,
    EventStatus,
    FetchedItem,
    FetchResult,
    PreconditionFailed,
    SyncState,
    Window,
)
from central.calendars.graph_auth import (
    AUTHORITY,
    GRAPH_URL,
    GraphAuth,
    GraphSession,
    graph_site,
    read_certificate,
)

__all__ = [
    "AUTHORITY",
    "GRAPH_URL",
    "MAX_RETRIES",
    "MAX_RETRY_AFTER",
    "UID_PROPERTY",
    "DeltaExpired",
    "GraphConnector",
    "connector_for",
    "graph_site",
    "parse_event",
]

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_RETRIES = 3
MAX_RETRY_AFTER = 30.0
"""Seconds: a longer ``Retry-After`` fails the call (retried at the next sync) instead."""
UID_PROPERTY = "String {8c5b2a3e-7f7e-4a43-9a43-2b7f3e6d9a10} Name TapinUid"
"""The single-value extended property holding the UID of an event central wrote."""
_FRACTION = re.compile(r"(\.\d{6})\d+")


class DeltaExpired(ConnectorError):
    """Graph no longer knows a delta link (410 Gone): read everything again."""


def _parse_instant(text: str) -> datetime:
    """A Graph DateTimeOffset (``2026-01-01T09:00:00Z``, 7 fraction digits allowed)."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_when(value: Mapping[str, Any], all_day: bool, zone: ZoneInfo) -> datetime:
    """A Graph dateTimeTimeZone; all-day dates are read in the site's ``zone``.

    Raises ValueError (unknown time zone, bad date)."""
    text = str(value["dateTime"])
    if all_day:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time(), tzinfo=zone)
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    if moment.tzinfo is not None:
        return moment
    name = str(value.get("timeZone") or "UTC")
    try:
        tz = UTC if name.upper() in ("UTC", "Z") else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return moment.replace(tzinfo=tz)


def _email(block: Any) -> str | None:
    if isinstance(block, dict):
        address = (block.get("emailAddress") or {}).get("address")
        if isinstance(address, str) and "@" in address:
            return address.strip().lower()
    return None


def parse_event(item: Mapping[str, Any], zone: ZoneInfo, room: str = "") -> CalendarEvent | None:
    """One Graph event (an occurrence as calendarView answers it) as a
    :class:`CalendarEvent`; ``None`` when it is cancelled. ``room``: the room's mailbox,
    left out of the attendees. Raises KeyError / ValueError on a malformed item."""
    if item.get("isCancelled"):
        return None
    all_day = bool(item.get("isAllDay"))
    start = _parse_when(item["start"], all_day, zone)
    end = _parse_when(item["end"], all_day, zone)
    transaction = str(item.get("transactionId") or "")
    kind = item.get("type") or "singleInstance"
    recurrence_id = None
    if transaction.startswith(BOOKING_UID_PREFIX):
        uid = transaction
    elif kind in ("occurrence", "exception") and item.get("seriesMasterId"):
        uid = f"series:{item['seriesMasterId']}"
        original = item.get("originalStart")
        recurrence_id = _parse_instant(str(original)) if original else start
    else:
        uid = str(item.get("iCalUId") or item["id"])
    mailbox = room.lower()
    attendees = tuple(
        dict.fromkeys(
            e for e in (_email(a) for a in item.get("attendees") or ()) if e and e != mailbox
        )
    )
    organiser = _email(item.get("organizer"))
    return CalendarEvent(
        uid=uid,
        start=start,
        end=end,
        subject=str(item.get("subject") or ""),
        recurrence_id=recurrence_id,
        organiser_email=organiser if organiser != mailbox else None,
        attendee_emails=attendees,
        private=str(item.get("sensitivity") or "").lower() in ("private", "confidential"),
        status=EventStatus.TENTATIVE
        if item.get("showAs") == "tentative"
        else EventStatus.CONFIRMED,
    )


def _retry_after(response: requests.Response, attempt: int) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return float(2**attempt)


def _error_code(response: requests.Response) -> str:
    try:
        code = response.json().get("error", {}).get("code", "")
    except (ValueError, AttributeError):
        return ""
    return str(code)[:80] if isinstance(code, str) else ""


def _utc(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


class GraphConnector:
    """One Entra app registration (``tenant``, ``client_id`` and a secret or a certificate)
    for every room mailbox of a site. Blocking and thread-safe (calls are serialised).

    ``certificate``: a PEM text holding the private key and its certificate (MSAL sends
    a signed client assertion). ``authority`` defaults to Entra's for ``tenant``;
    ``graph_url`` to Graph v1.0. ``sleep`` is how throttling waits (tests count it).
    Raises :class:`ValueError` when neither a secret nor a certificate is given."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        client_secret: str | None = None,
        certificate: str | None = None,
        graph_url: str = GRAPH_URL,
        authority: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
        page_size: int = PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.graph_url = graph_url if graph_url.endswith("/") else graph_url + "/"
        self.requests = 0
        self._origin = urlsplit(self.graph_url)[:2]
        self._scope = f"{self._origin[0]}://{self._origin[1]}/.default"
        self._timeout = timeout
        self._page_size = page_size
        self._sleep = sleep
        self._lock = threading.Lock()
        self._session = GraphSession(ca_file)
        self._auth = GraphAuth(
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret,
            certificate=certificate,
            authority=authority,
            scope=self._scope,
            session=self._session,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"GraphConnector({urlsplit(self.graph_url).hostname!r})"

    def close(self) -> None:
        self._session.close()

    # -- transport -----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.graph_url + path

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One Graph request, throttling waited out and a stale token renewed once.

        Raises :class:`ConnectorError` (network; still throttled) and :class:`AuthFailed`
        (a 401/403 after a fresh token); other statuses are the caller's to read."""
        if urlsplit(url)[:2] != self._origin:  # a link from a page must stay on Graph
            raise ConnectorError(f"{what}: Microsoft Graph sent a link to another server")
        renewed = False
        attempt = 0
        while True:
            sent = {
                "Authorization": f"Bearer {self._auth.token()}",
                "Prefer": f'odata.maxpagesize={self._page_size}, outlook.timezone="UTC"',
                "Accept": "application/json",
                **(headers or {}),
            }
            self.requests += 1
            try:
                response = self._session.request(
                    method, url, json=json, headers=sent, timeout=self._timeout
                )
            except requests.RequestException as exc:
                raise ConnectorError(f"{what} failed ({type(exc).__name__})") from None
            status = response.status_code
            if status in (429, 503):
                wait = _retry_after(response, attempt)
                if attempt >= MAX_RETRIES or wait > MAX_RETRY_AFTER:
                    raise ConnectorError(f"{what}: Microsoft Graph is throttling ({status})")
                log.info("%s: throttled by Microsoft Graph, waiting %.1f s", what, wait)
                self._sleep(wait)
                attempt += 1
                continue
            if status == 401 and not renewed:
                renewed = True
                self._auth.drop()  # expired or revoked: a new one
                continue
            if status in (401, 403):
                code = _error_code(response) or str(status)
                raise AuthFailed(f"{what}: Microsoft Graph refused the app ({code})")
            return response

    @staticmethod
    def _check(response: requests.Response, what: str) -> None:
        status = response.status_code
        if status == 404:
            raise CalendarNotFound(f"{what}: no such mailbox or event in Microsoft Graph")
        if status == 412:
            raise PreconditionFailed(f"{what}: the event changed in the calendar")
        if status >= 400:
            code = _error_code(response)
            raise ConnectorError(f"{what}: Microsoft Graph answered {status} {code}".rstrip())

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        self._check(response, what)
        try:
            body = response.json()
        except ValueError:
            raise ConnectorError(f"{what}: Microsoft Graph sent no JSON") from None
        if not isinstance(body, dict):
            raise ConnectorError(f"{what}: Microsoft Graph sent an unexpected answer")
        return body

    def get(self, link: str, what: str) -> dict[str, Any]:
        """One JSON page: ``link`` absolute (a next/delta link) or relative to the Graph
        URL. Raises :class:`DeltaExpired` (410), :class:`ConnectorError` (or a subclass)."""
        url = link if "://" in link else self._url(link)
        with self._lock:
            response = self._send("GET", url, what)
            if response.status_code == 410:
                raise DeltaExpired(f"{what}: Microsoft Graph forgot the delta link")
            return self._json(response, what)

    # -- reading -------------------------------------------------------------------------

    def _view_url(self, room: str, start: datetime, end: datetime, delta: bool) -> str:
        def iso(moment: datetime) -> str:
            return quote(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

        path = "calendarView/delta" if delta else "calendarView"
        return self._url(
            f"users/{quote(room)}/{path}?startDateTime={iso(start)}&endDateTime={iso(end)}"
        )

    def fetch(self, calendar: str, state: SyncState, window: Window) -> FetchResult:
        with self._lock:
            before = self.requests
            result = self._fetch(calendar, state, window)
            result.requests = self.requests - before
            return result

    def _fetch(self, room: str, state: SyncState, window: Window) -> FetchResult:
        link = state.token or self._view_url(room, window.start, window.end, delta=True)
        full = state.token is None
        changed: dict[str, FetchedItem] = {}
        removed: dict[str, None] = {}
        while True:
            response = self._send("GET", link, "calendar sync")
            if response.status_code == 410 and not full:  # the delta link expired
                log.info("calendar sync: Microsoft Graph forgot the delta link; reading it all")
                return self._fetch(room, SyncState(), window)
            page = self._json(response, "calendar sync")
            for item in page.get("value") or ():
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                key = str(item["id"])
                if "@removed" in item:
                    changed.pop(key, None)
                    removed[key] = None
                    continue
                removed.pop(key, None)
                changed[key] = self._item(key, item, room, window)
            if page.get("@odata.nextLink"):
                link = str(page["@odata.nextLink"])
                continue
            token = page.get("@odata.deltaLink")
            if not token:
                raise ConnectorError("calendar sync: Microsoft Graph sent no delta link")
            return FetchResult(
                token=str(token),
                changed=list(changed.values()),
                removed=[] if full else list(removed),
                full=full,
            )

    @staticmethod
    def _item(key: str, item: Mapping[str, Any], room: str, window: Window) -> FetchedItem:
        etag = str(item.get("changeKey") or item.get("@odata.etag") or "")
        try:
            event = parse_event(item, window.zone, room)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("calendar item skipped: %s", type(exc).__name__)
            event = None
        keep = event is not None and event.start < window.end and event.end > window.start
        return FetchedItem(key, etag, (event,) if keep and event else ())

    def events_between(
        self, calendar: str, start: datetime, end: datetime, zone: ZoneInfo
    ) -> Sequence[CalendarEvent]:
        with self._lock:
            found: list[CalendarEvent] = []
            link: str | None = self._view_url(calendar, start, end, delta=False)
            while link:
                page = self._json(self._send("GET", link, "calendar read"), "calendar read")
                for item in page.get("value") or ():
                    try:
                        event = parse_event(item, zone, calendar)
                    except (KeyError, TypeError, ValueError):
                        continue
                    if event is not None and event.start < end and event.end > start:
                        found.append(event)
                link = page.get("@odata.nextLink")
            return found

    # -- writing -------------------------------------------------------------------------

    def _find(self, room: str, uid: str) -> tuple[str, str] | None:
        """``(event id, changeKey)`` of the event central wrote with ``uid``, if any."""
        query = "singleValueExtendedProperties/Any(ep: ep/id eq '{}' and ep/value eq '{}')".format(
            UID_PROPERTY, uid.replace("'", "''")
        )
        url = self._url(f"users/{quote(room)}/events?$filter={quote(query)}&$select=id,changeKey")
        page = self._json(self._send("GET", url, "event lookup"), "event lookup")
        for item in page.get("value") or ():
            if isinstance(item, dict) and item.get("id"):
                return str(item["id"]), str(item.get("changeKey") or "")
        return None

    @staticmethod
    def _body(event: CalendarEvent) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": event.subject,
            "start": _utc(event.start),
            "end": _utc(event.end),
            "sensitivity": "private" if event.private else "normal",
            "showAs": "busy",
        }
        if event.organiser_email:
            body["organizer"] = {"emailAddress": {"address": event.organiser_email}}
        return body

    def put_event(
        self, calendar: str, event: CalendarEvent, *, etag: str | None, create: bool
    ) -> str:
        with self._lock:
            found = self._find(calendar, event.uid)
            if found is None:
                body = {
                    **self._body(event),
                    "transactionId": event.uid,
                    "singleValueExtendedProperties": [{"id": UID_PROPERTY, "value": event.uid}],
                }
                url = self._url(f"users/{quote(calendar)}/events")
                made = self._json(self._send("POST", url, "event write", json=body), "event write")
                return str(made.get("changeKey") or "")
            if create:
                raise PreconditionFailed("event write: the event exists already")
            event_id, _ = found
            headers = {"If-Match": f'W/"{etag}"'} if etag else {}
            url = self._url(f"users/{quote(calendar)}/events/{quote(event_id)}")
            response = self._send(
                "PATCH", url, "event write", json=self._body(event), headers=headers
            )
            return str(self._json(response, "event write").get("changeKey") or "")

    def delete_event(self, calendar: str, uid: str, *, etag: str | None) -> None:
        with self._lock:
            found = self._find(calendar, uid)
            if found is None:
                return
            headers = {"If-Match": f'W/"{etag}"'} if etag else {}
            url = self._url(f"users/{quote(calendar)}/events/{quote(found[0])}")
            response = self._send("DELETE", url, "event delete", headers=headers)
            if response.status_code != 404:
                self._check(response, "event delete")


def connector_for(site: SiteCalendars) -> GraphConnector:
    """The connector for a graph site's settings. Raises
    :class:`~central.errors.SettingsError` when its certificate file cannot be read."""
    from central.errors import SettingsError

    certificate = None
    if site.certificate_file:
        try:
            certificate = read_certificate(site.certificate_file)
        except (OSError, UnicodeDecodeError):
            raise SettingsError(
                f"calendar settings: site {site.site_id} certificate_file cannot be read"
            ) from None
    try:
        return GraphConnector(
            tenant=site.tenant or "",
            client_id=site.user or "",
            client_secret=site.password,
            certificate=certificate,
            graph_url=site.url,
            authority=site.authority,
            ca_file=site.ca_file,
            timeout=site.timeout_seconds,
        )
    except ValueError as exc:
        raise SettingsError(f"calendar settings: site {site.site_id}: {exc}") from None

"""The CalDAV connector (RFC 4791): Google Workspace, Nextcloud, Fastmail, Radicale, …

Built on the ``caldav`` library (transport, authentication, sync-collection, multiget,
time-range search). Reading a room's calendar:

- **RFC 6578 sync-collection** where the server has it: one small REPORT answers the hrefs
  changed (with ETags) and removed since the stored sync token; the changed ones are then
  read with ``calendar-multiget`` in batches of :data:`MULTIGET_BATCH`. An unchanged
  calendar costs one request. An expired token gets a full read.
- **ctag + ETags** otherwise (``sync_collection = false``, or a server without the report):
  a Depth-0 PROPFIND of ``getctag`` (unchanged: done, one request), else a Depth-1 PROPFIND
  of every ``getetag``, compared with the ETags central holds, and a multiget of the
  changed ones.

Writing: ``PUT <calendar>/<uid>.ics`` with ``If-None-Match: *`` to create or ``If-Match``
to update; ``DELETE`` likewise. The password never appears in a message, a log line or a
``repr`` (the library's own debug logging is kept at WARNING: it would print headers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from central.calendars.base import (
    AuthFailed,
    CalendarEvent,
    CalendarNotFound,
    ConnectorError,
    FetchedItem,
    FetchResult,
    PreconditionFailed,
    SyncState,
    Window,
)
from central.calendars.ical import BadCalendarData, expand, to_ics

__all__ = ["MULTIGET_BATCH", "CalDavConnector"]

log = logging.getLogger(__name__)
for _noisy in ("caldav", "niquests", "urllib3", "urllib3_future"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

MULTIGET_BATCH = 200
_CTAG = "ctag:"
_DAV = "{DAV:}"
_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop>{}</d:prop></d:propfind>"
)
T = TypeVar("T")


def _failure(exc: Exception, what: str) -> ConnectorError:
    """Our error for a library/transport exception (its text may hold a URL: not used)."""
    from caldav.lib import error

    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, error.AuthorizationError):
        return AuthFailed(f"{what}: the calendar server refused the credentials")
    if isinstance(exc, error.NotFoundError):
        return CalendarNotFound(f"{what}: no such calendar on the server")
    return ConnectorError(f"{what} failed ({type(exc).__name__})")


class CalDavConnector:
    """One CalDAV account (``url``, ``user``, ``password``) for every room calendar under it.

    ``auth`` (instead of user and password) is a request hook that authenticates each
    request: :class:`central.calendars.google.GoogleBearerAuth` for Google's OAuth 2.0.
    ``if_none_match=False`` creates events without ``If-None-Match: *`` (Google's CalDAV
    supports no If* header but If-Match; the UID is the booking's, so a retry overwrites
    its own event either way).

    ``sync_collection=False`` skips RFC 6578 and uses ctag + ETags. Thread-safe: calls are
    serialised (the sync runs rooms one after another in a worker thread anyway).
    """

    def __init__(
        self,
        url: str,
        user: str | None,
        password: str | None,
        *,
        sync_collection: bool = True,
        timeout: float = 30.0,
        ca_file: str | None = None,
        auth: Any = None,
        if_none_match: bool = True,
    ) -> None:
        from caldav.davclient import DAVClient

        self.base_url = url
        self.requests = 0
        self._sync = sync_collection
        self._if_none_match = if_none_match
        self._lock = threading.Lock()
        self._client: Any = DAVClient(
            url=url,
            username=user,
            password=password,
            auth=auth,
            timeout=int(timeout),
            ssl_verify_cert=ca_file or True,
        )
        session: Any = self._client.session
        real = session.request

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            return real(*args, **kwargs)

        session.request = counted

    def __repr__(self) -> str:
        return f"CalDavConnector({urlsplit(self.base_url).hostname!r})"

    def close(self) -> None:
        self._client.close()

    def _url(self, calendar: str) -> str:
        url = urljoin(self.base_url, calendar)
        return url if url.endswith("/") else url + "/"

    def _call(self, what: str, work: Callable[[], T]) -> T:
        with self._lock:
            try:
                return work()
            except Exception as exc:
                raise _failure(exc, what) from None

    # -- reading -------------------------------------------------------------------------

    def fetch(self, calendar: str, state: SyncState, window: Window) -> FetchResult:
        before = self.requests
        result = self._call("calendar sync", lambda: self._fetch(calendar, state, window))
        result.requests = self.requests - before
        return result

    def _fetch(self, calendar: str, state: SyncState, window: Window) -> FetchResult:
        from caldav.lib import error

        cal = self._client.calendar(url=self._url(calendar))
        token = state.token
        if self._sync and not (token or "").startswith(_CTAG):
            try:
                return self._by_sync_token(cal, token, window)
            except error.AuthorizationError as exc:
                from caldav.elements import dav

                if token is None or dav.ValidSyncToken.tag not in exc.preconditions:
                    raise
                return self._by_sync_token(cal, None, window)  # expired: read it all
            except error.NotFoundError:
                raise
            except error.DAVError:
                if token is not None:  # an invalid token is answered 403/412 by some servers
                    try:
                        return self._by_sync_token(cal, None, window)
                    except error.DAVError:
                        pass
                log.info("calendar server has no sync-collection: using ctag and ETags")
                self._sync = False
        return self._by_etags(cal, state, window)

    def _by_sync_token(self, cal: Any, token: str | None, window: Window) -> FetchResult:
        coll = cal.get_objects_by_sync_token(
            sync_token=token, load_objects=False, disable_fallback=True
        )
        from caldav.elements import dav

        deleted = {str(u) for u in coll.deleted_urls}
        changed = []
        for obj in coll.objects:
            key = str(obj.url.canonical())
            if key not in deleted:
                changed.append((key, obj.url, str(obj.props.get(dav.GetEtag.tag, ""))))
        items = self._load(cal, changed, window)
        return FetchResult(
            token=str(coll.sync_token) if coll.sync_token else None,
            changed=items,
            removed=sorted(deleted),
            full=token is None,
        )

    def _propfind(self, url: str, props: str, depth: int) -> ElementTree.Element:
        response = self._client.request(
            url,
            "PROPFIND",
            _PROPFIND.format(props),
            {"Depth": str(depth), "Content-Type": "application/xml; charset=utf-8"},
        )
        self._check(response.status, "PROPFIND")
        raw = response.raw if isinstance(response.raw, bytes) else str(response.raw).encode()
        return ElementTree.fromstring(raw)

    def _by_etags(self, cal: Any, state: SyncState, window: Window) -> FetchResult:
        url = str(cal.url)
        tree = self._propfind(url, "<cs:getctag/>", 0)
        ctag = tree.findtext(".//{http://calendarserver.org/ns/}getctag")
        token = f"{_CTAG}{ctag}" if ctag else None
        if token is not None and token == state.token:
            return FetchResult(token=token)
        tree = self._propfind(url, "<d:getetag/>", 1)
        seen: dict[str, tuple[Any, str]] = {}
        base = urlsplit(url).path.rstrip("/")
        for response in tree.iter(f"{_DAV}response"):
            href = response.findtext(f"{_DAV}href") or ""
            etag = response.findtext(f".//{_DAV}getetag")
            if not etag or quote(href.rstrip("/")) == quote(base) or href.rstrip("/") == base:
                continue
            obj_url = cal.url.join(href)
            seen[str(obj_url.canonical())] = (obj_url, etag)
        changed = [(k, u, e) for k, (u, e) in seen.items() if state.etags.get(k) != e]
        items = self._load(cal, changed, window)
        removed = sorted(set(state.etags) - set(seen))
        return FetchResult(token=token, changed=items, removed=removed, full=not state.etags)

    def _load(
        self, cal: Any, wanted: Sequence[tuple[str, Any, str]], window: Window
    ) -> list[FetchedItem]:
        items: list[FetchedItem] = []
        from caldav.elements import dav

        for i in range(0, len(wanted), MULTIGET_BATCH):
            batch = wanted[i : i + MULTIGET_BATCH]
            etags = {key: etag for key, _, etag in batch}
            got = {str(o.url.canonical()): o for o in cal.multiget([u for _, u, _ in batch])}
            for key, _, _ in batch:
                obj = got.get(key)
                if obj is None or not obj.data:
                    continue  # deleted between the listing and the read: gone next time
                etag = str(obj.props.get(dav.GetEtag.tag) or etags[key] or "")
                try:
                    events = expand(obj.data, window)
                except BadCalendarData as exc:
                    log.warning("calendar item skipped: %s", exc)
                    events = []
                items.append(FetchedItem(key, etag, tuple(events)))
        return items

    def events_between(
        self, calendar: str, start: datetime, end: datetime, zone: ZoneInfo
    ) -> Sequence[CalendarEvent]:
        def work() -> list[CalendarEvent]:
            cal = self._client.calendar(url=self._url(calendar))
            found: list[CalendarEvent] = []
            window = Window(start, end, zone)
            for obj in cal.search(start=start, end=end, event=True, expand=False):
                try:
                    found.extend(
                        e for e in expand(obj.data, window) if e.start < end and e.end > start
                    )
                except BadCalendarData:
                    continue
            return found

        return self._call("calendar read", work)

    # -- writing -------------------------------------------------------------------------

    def _event_url(self, calendar: str, uid: str) -> str:
        return self._url(calendar) + quote(uid, safe="") + ".ics"

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status in (401, 403):
            raise AuthFailed(f"{what}: the calendar server refused the credentials")
        if status == 412:
            raise PreconditionFailed(f"{what}: the event exists or changed")
        if status == 404:
            raise CalendarNotFound(f"{what}: not found on the calendar server")
        if status >= 400:
            raise ConnectorError(f"{what}: the calendar server answered {status}")

    def put_event(
        self, calendar: str, event: CalendarEvent, *, etag: str | None, create: bool
    ) -> str:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if create and self._if_none_match:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag

        def work() -> str:
            url = self._event_url(calendar, event.uid)
            response = self._client.request(url, "PUT", to_ics(event), headers)
            self._check(response.status, "event write")
            return str(response.headers.get("ETag") or "")

        return self._call("event write", work)

    def delete_event(self, calendar: str, uid: str, *, etag: str | None) -> None:
        def work() -> None:
            url = self._event_url(calendar, uid)
            response = self._client.request(url, "DELETE", "", {"If-Match": etag} if etag else {})
            if response.status != 404:
                self._check(response.status, "event delete")

        self._call("event delete", work)

"""Which calendar system each site reads, and which calendar each room is: a TOML file.

The file is at ``--calendars FILE`` or ``$TAPIN_CENTRAL_CALENDARS``. It holds secrets (the
calendar account's password or app password), so it is refused when group or others may
read it, like central's key file and its notification settings; keep it out of any
repository. A password can also come from the environment (``password_env``), so a
secret store can inject it alone::

    [sites.alpha]                   # a site id from central's directory
    connector = "caldav"            # caldav, or graph (Microsoft 365: docs/central.md)
    url = "https://caldav.example.org/dav/calendars/tapin/"
    user = "tapin@example.org"
    password = "..."                # or: password_env = "TAPIN_ALPHA_CALDAV_PASSWORD"
    interval_seconds = 60           # how often `serve` syncs this site (default 60)
    sync_collection = true          # false: ctag + ETags only (servers without RFC 6578)
    writeback = true                # device bookings become events in the room's calendar
    # ca_file = "/etc/tapin/caldav-ca.pem"
    # Google Workspace (OAuth 2.0 instead of user/password; docs/central.md):
    # url = "https://apidata.googleusercontent.com/caldav/v2/"
    # auth = "google-service-account"
    # credentials_file = "/etc/tapin/google-sa.json"   # the key JSON, mode 0600
    # subject = "tapin-rooms@example.org"              # the Workspace user it acts as

    [sites.alpha.rooms]             # room id -> its calendar (relative to url, or absolute)
    r1 = "room-1/"
    r2 = "https://caldav.example.org/dav/calendars/tapin/room-2/"

    [schedule]
    retention_hours = 24            # `serve` runs retention this often (default 24)

Nothing here is ever logged: :class:`SiteCalendars` hides the password from ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from central.asgi import CALENDARS_ENV
from central.calendars.base import Connector
from central.errors import SettingsError
from central.secretfiles import read_secret_toml

__all__ = [
    "CALENDARS_ENV",
    "CONNECTORS",
    "CalendarSettings",
    "SiteCalendars",
    "load_calendar_settings",
    "make_connector",
]

CONNECTORS = ("caldav", "graph")
AUTHS = ("basic", "google-service-account")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class SiteCalendars:
    site_id: str
    connector: str
    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    rooms: Mapping[str, str] = field(default_factory=dict)
    """Room id -> absolute calendar URL."""
    interval_seconds: float = 60.0
    sync_collection: bool = True
    writeback: bool = True
    ca_file: str | None = None
    timeout_seconds: float = 30.0
    tenant: str | None = None
    """Microsoft 365 (``connector = "graph"``): the Entra tenant; ``user`` is then the app's
    client id, ``password`` its client secret, ``url`` Graph's base URL (see
    :func:`central.calendars.graph.graph_site`)."""
    authority: str | None = None
    certificate_file: str | None = None
    directory: str | None = None
    """Where the site's people come from: ``"graph"`` or ``"csv"`` (None: not synced; see
    :mod:`central.directory_sync`)."""
    directory_csv: str | None = None
    visible_group: str | None = None
    directory_interval_seconds: float = 3600.0
    auth: str = "basic"
    """CalDAV: ``basic`` (user and password) or ``google-service-account`` (OAuth 2.0:
    :mod:`central.calendars.google`; ``credentials_file``, ``subject``, ``token_uri``)."""
    credentials_file: str | None = None
    subject: str | None = None
    token_uri: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarSettings:
    sites: Mapping[str, SiteCalendars] = field(default_factory=dict)
    retention_hours: float = 24.0


def _read(path: str) -> dict[str, Any]:
    return read_secret_toml(path, "calendar settings file")


def _number(table: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"calendar settings: {key} must be a number from {low:g} to {high:g}")
    return float(value)


def _flag(table: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"calendar settings: {where} {key} must be true or false")
    return value


def _secret(table: Mapping[str, Any], key: str, env: Mapping[str, str], where: str) -> Any:
    """``table[key]``, or the environment variable that ``table[key + "_env"]`` names.

    Raises :class:`SettingsError` when that variable is not set (or empty)."""
    value = table.get(key)
    if table.get(f"{key}_env"):
        name = str(table[f"{key}_env"])
        if not env.get(name):
            raise SettingsError(f"calendar settings: {where} {key}_env: ${name} is not set")
        value = env[name]
    return value


def _check_url(url: Any, where: str) -> str:
    if not isinstance(url, str):
        raise SettingsError(f"calendar settings: {where} must be a URL string")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise SettingsError(f"calendar settings: {where} must be an https:// URL")
    if parts.username or parts.password:
        raise SettingsError(f"calendar settings: {where}: put credentials in user/password")
    return url


def _google(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A Google service account's settings, its key file checked now (never kept)."""
    from central.calendars.google import bearer_for

    path, subject = table.get("credentials_file"), table.get("subject")
    if not isinstance(path, str) or not path:
        raise SettingsError(f"calendar settings: {where} needs credentials_file (the key JSON)")
    if not isinstance(subject, str) or "@" not in subject:
        raise SettingsError(
            f"calendar settings: {where} needs subject, the Workspace user's email address"
        )
    token_uri = table.get("token_uri")
    if token_uri is not None:
        token_uri = _check_url(token_uri, f"{where} token_uri")
    bearer_for(path, subject, token_uri=token_uri)  # the key file and the key, checked now
    return {"credentials_file": path, "subject": subject, "token_uri": token_uri}


def _bearer(site: SiteCalendars) -> Any:
    from central.calendars.google import bearer_for

    return bearer_for(
        str(site.credentials_file),
        str(site.subject),
        token_uri=site.token_uri,
        timeout=site.timeout_seconds,
        ca_file=site.ca_file,
    )


def _site(site_id: str, table: Any, env: Mapping[str, str]) -> SiteCalendars:
    where = f"[sites.{site_id}]"
    if not isinstance(table, dict):
        raise SettingsError(f"calendar settings: {where} must be a table")
    connector = table.get("connector", "caldav")
    if connector not in CONNECTORS:
        raise SettingsError(
            f"calendar settings: {where} connector must be one of {', '.join(CONNECTORS)}"
        )
    if connector == "graph":
        from central.calendars.graph import graph_site

        return graph_site(site_id, table, env)
    base = _check_url(table.get("url"), f"{where} url")
    user = table.get("user")
    password = _secret(table, "password", env, where)
    auth = table.get("auth", "basic")
    if auth not in AUTHS:
        raise SettingsError(f"calendar settings: {where} auth must be one of {', '.join(AUTHS)}")
    google: dict[str, Any] = {}
    if auth != "basic":
        google = _google(table, where)
        if user or password:
            raise SettingsError(
                f"calendar settings: {where} auth = {auth!r} takes no user or password"
            )
    elif bool(user) != bool(password):
        raise SettingsError(f"calendar settings: {where} give both user and password, or neither")
    rooms_table = table.get("rooms", {})
    if not isinstance(rooms_table, dict) or not rooms_table:
        raise SettingsError(f"calendar settings: {where} needs a [sites.{site_id}.rooms] table")
    rooms: dict[str, str] = {}
    for room_id, calendar in rooms_table.items():
        if not isinstance(calendar, str) or not calendar:
            raise SettingsError(f"calendar settings: room {room_id!r} needs its calendar URL")
        url = _check_url(urljoin(base, calendar), f"room {room_id!r}")
        if urlsplit(url)[:2] != urlsplit(base)[:2]:
            raise SettingsError(
                f"calendar settings: room {room_id!r}: its calendar must be on the server of "
                f"{where} url (one account per site)"
            )
        rooms[room_id] = url if url.endswith("/") else url + "/"
    from central.directory_sync import directory_options

    return SiteCalendars(
        site_id=site_id,
        connector=str(connector),
        url=base,
        user=str(user) if user else None,
        password=str(password) if password else None,
        rooms=rooms,
        interval_seconds=_number(table, "interval_seconds", 60, 5, 24 * 3600),
        sync_collection=_flag(table, "sync_collection", True, where),
        writeback=_flag(table, "writeback", True, where),
        ca_file=str(table["ca_file"]) if table.get("ca_file") else None,
        auth=str(auth),
        **google,
        timeout_seconds=_number(table, "timeout_seconds", 30, 1, 300),
        **directory_options(site_id, table, "csv"),
    )


def load_calendar_settings(
    path: str | None = None, env: Mapping[str, str] | None = None
) -> CalendarSettings:
    """The file at ``path`` (else ``$TAPIN_CENTRAL_CALENDARS``; neither: no calendars).

    Raises :class:`SettingsError` saying what to fix (never quoting a secret)."""
    env = os.environ if env is None else env
    where = path or env.get(CALENDARS_ENV) or None
    if not where:
        return CalendarSettings()
    data = _read(where)
    sites_table = data.get("sites", {})
    if not isinstance(sites_table, dict):
        raise SettingsError("calendar settings: [sites] must be a table")
    schedule = data.get("schedule", {})
    if not isinstance(schedule, dict):
        raise SettingsError("calendar settings: [schedule] must be a table")
    return CalendarSettings(
        sites={sid: _site(sid, t, env) for sid, t in sites_table.items()},
        retention_hours=_number(schedule, "retention_hours", 24, 0.01, 24 * 30),
    )


def make_connector(site: SiteCalendars) -> Connector:
    """A connector for ``site``'s calendar system (no network until it is used)."""
    if site.connector == "caldav":
        from central.calendars.caldav import CalDavConnector

        return CalDavConnector(
            site.url,
            site.user,
            site.password,
            sync_collection=site.sync_collection,
            timeout=site.timeout_seconds,
            ca_file=site.ca_file,
            auth=_bearer(site) if site.auth != "basic" else None,
            if_none_match=site.auth == "basic",  # Google takes no If-None-Match
        )
    if site.connector == "graph":
        from central.calendars.graph import connector_for

        return connector_for(site)
    raise SettingsError(f"unknown calendar connector {site.connector!r}")

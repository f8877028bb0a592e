"""Directory sync: a site's people from Microsoft Graph or from a CSV export.

Sources (``[sites.S] directory = …`` in the calendar settings file):

- ``"graph"`` (Microsoft 365 sites): ``GET /users/delta`` with the site's app registration
  (``User.Read.All``), ``@odata.nextLink`` pages followed and the ``@odata.deltaLink``
  kept in ``directory_sources``, so an unchanged directory costs one small request. Read:
  ``displayName``, ``jobTitle``, ``department``, ``businessPhones`` (the first), ``mail``,
  ``accountEnabled``. Delta answers carry only what changed, so an absent field keeps
  what central has. Visibility: when ``visible_group`` names an Entra group, its members
  (``/groups/{id}/transitiveMembers``, read whole each sync) are visible and everyone
  else invisible; without it everyone from the source is visible. Guests and disabled
  accounts (room mailboxes are disabled accounts) are not people.
- ``"csv"`` (CalDAV sites, Google Workspace among them: Google's directory is the Admin
  SDK, not CalDAV, and needs a domain-wide delegated service account; a CSV export from
  the admin console, *Users → Download users*, needs nothing): ``directory_csv = FILE``,
  read whole each time. Columns ``email``, ``name``, ``title``, ``department``, ``phone``,
  ``visibility`` (visible / invisible), or the Google export's own headers.

Photos are not read (skipped on purpose: the device directory shows initials, and photo
bytes are personal data central would then have to keep and purge).

Someone who vanishes from the source (``@removed``, disabled, not in the CSV) becomes
inactive (``people.inactive_since``): never in a snapshot, purged by retention after 365
days; if they come back first they are active again under the same id. People added by
hand or by the demo seed (no ``source``) are left alone, except that a source entry with
the same email adopts that person. Nothing here logs a credential or a person's data.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg_pool import AsyncConnectionPool

from central.errors import SettingsError

__all__ = [
    "DirectoryEntry",
    "DirectoryReport",
    "apply_entries",
    "directory_options",
    "read_csv",
    "sync_directory",
]

log = logging.getLogger(__name__)

_LOCK = "tapin-directory-sync:"
_USERS = (
    "users/delta?$select=id,displayName,jobTitle,department,businessPhones,mail,"
    "accountEnabled,userType"
)
_CSV_COLUMNS = {
    "email": ("email", "email address [required]", "primary email"),
    "name": ("name", "display name"),
    "first": ("first name [required]", "first name"),
    "last": ("last name [required]", "last name"),
    "title": ("title", "employee title", "job title"),
    "department": ("department",),
    "phone": ("phone", "work phone", "work phone number"),
    "visibility": ("visibility",),
    "status": ("status [read only]", "status"),
}


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One person as a source has them; ``None``: the source did not say (keep central's)."""

    source_id: str
    name: str | None = None
    email: str | None = None
    title: str | None = None
    department: str | None = None
    phone: str | None = None
    visible: bool | None = None
    active: bool = True


@dataclass(slots=True)
class DirectoryReport:
    site_id: str
    source: str = ""
    added: int = 0
    updated: int = 0
    inactivated: int = 0
    requests: int = 0
    full: bool = False
    skipped: bool = False
    """Another process was syncing this site's directory: nothing done."""
    failed: str | None = None
    """What went wrong reading the source (no credentials, no personal data)."""


def directory_options(site_id: str, table: Mapping[str, Any], allowed: str) -> dict[str, Any]:
    """The directory keys of a ``[sites.S]`` table as :class:`SiteCalendars` fields.
    ``allowed``: ``"graph"`` (a Graph site: graph or csv) or ``"csv"``. Raises
    :class:`SettingsError` naming what to fix."""
    where = f"[sites.{site_id}]"
    source = table.get("directory")
    if source is None:
        return {}
    choices = ("graph", "csv") if allowed == "graph" else ("csv",)
    if source not in choices:
        raise SettingsError(
            f"calendar settings: {where} directory must be {' or '.join(map(repr, choices))}"
        )
    options: dict[str, Any] = {"directory": source}
    if source == "csv":
        path = table.get("directory_csv")
        if not isinstance(path, str) or not path:
            raise SettingsError(f"calendar settings: {where} directory = 'csv' needs directory_csv")
        options["directory_csv"] = path
    group = table.get("visible_group")
    if group is not None:
        if source != "graph" or not isinstance(group, str) or not group:
            raise SettingsError(
                f"calendar settings: {where} visible_group is an Entra group id (graph only)"
            )
        options["visible_group"] = group
    minutes = table.get("directory_interval_minutes", 60)
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int | float)
        or not 1 <= minutes <= 1440
    ):
        raise SettingsError(
            f"calendar settings: {where} directory_interval_minutes must be from 1 to 1440"
        )
    options["directory_interval_seconds"] = float(minutes) * 60
    return options


# -- sources -------------------------------------------------------------------------------


def _graph_entry(user: Mapping[str, Any]) -> DirectoryEntry:
    def text(key: str) -> str | None:
        return str(user[key] or "").strip() if key in user else None

    phones = user.get("businessPhones")
    phone: str | None = None  # not in this answer: unchanged
    if isinstance(phones, list):
        phone = str(phones[0]).strip() if phones else ""
    active = user.get("accountEnabled") is not False and user.get("userType") != "Guest"
    return DirectoryEntry(
        source_id=str(user["id"]),
        name=text("displayName"),
        email=(text("mail") or "").lower() if "mail" in user else None,
        title=text("jobTitle"),
        department=text("department"),
        phone=phone,
        active=active,
    )


def _graph_read(
    connector: Any, link: str | None, group: str | None
) -> tuple[list[DirectoryEntry], list[str], str, bool, set[str] | None]:
    """Blocking: ``(entries, removed ids, delta link, full, visible member ids)``. Raises
    :class:`~central.calendars.base.ConnectorError`."""
    from central.calendars.base import ConnectorError
    from central.calendars.graph import DeltaExpired

    full = link is None
    try:
        page = connector.get(link or _USERS, "directory sync")
    except DeltaExpired:
        full, page = True, connector.get(_USERS, "directory sync")
    entries: dict[str, DirectoryEntry] = {}
    removed: dict[str, None] = {}
    while True:
        for user in page.get("value") or ():
            if not isinstance(user, dict) or not user.get("id"):
                continue
            if "@removed" in user:
                entries.pop(str(user["id"]), None)
                removed[str(user["id"])] = None
            else:
                removed.pop(str(user["id"]), None)
                entries[str(user["id"])] = _graph_entry(user)
        if page.get("@odata.nextLink"):
            page = connector.get(str(page["@odata.nextLink"]), "directory sync")
            continue
        if not page.get("@odata.deltaLink"):
            raise ConnectorError("directory sync: Microsoft Graph sent no delta link")
        delta = str(page["@odata.deltaLink"])
        break
    members: set[str] | None = None
    if group:
        members = set()
        next_link: str | None = (
            f"groups/{quote(group)}/transitiveMembers/microsoft.graph.user?$select=id"
        )
        while next_link:
            got = connector.get(next_link, "directory group read")
            members.update(str(m["id"]) for m in got.get("value") or () if m.get("id"))
            next_link = got.get("@odata.nextLink")
    return list(entries.values()), list(removed), delta, full, members


def read_csv(path: str) -> list[DirectoryEntry]:
    """The people of a CSV export (UTF-8, a header row). Raises :class:`SettingsError`
    naming the file and the line to fix."""
    try:
        text = Path(path).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"directory CSV {path} cannot be read ({type(exc).__name__})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = {h.strip().lower(): h for h in reader.fieldnames or ()}
    column = {
        key: next((header[n] for n in names if n in header), None)
        for key, names in _CSV_COLUMNS.items()
    }
    if column["email"] is None or not (column["name"] or column["first"]):
        raise SettingsError(f"directory CSV {path}: the header needs email and name columns")
    entries: dict[str, DirectoryEntry] = {}

    def get(row: Mapping[str, Any], key: str) -> str:
        name = column[key]
        return str(row.get(name) or "").strip() if name else ""

    for line, row in enumerate(reader, start=2):
        email = get(row, "email").lower()
        name = get(row, "name") or f"{get(row, 'first')} {get(row, 'last')}".strip()
        if "@" not in email or not name:
            raise SettingsError(f"directory CSV {path} line {line}: needs an email and a name")
        visibility = get(row, "visibility").lower() or "visible"
        if visibility not in ("visible", "invisible"):
            raise SettingsError(
                f"directory CSV {path} line {line}: visibility must be visible or invisible"
            )
        entries[email] = DirectoryEntry(
            source_id=email,
            name=name,
            email=email,
            title=get(row, "title"),
            department=get(row, "department"),
            phone=get(row, "phone"),
            visible=visibility == "visible",
            active=get(row, "status").lower() not in ("suspended", "archived"),
        )
    return list(entries.values())


# -- writing -------------------------------------------------------------------------------

_UPDATE = """
UPDATE people SET name = coalesce(%(name)s, name), email = coalesce(%(email)s, email),
    title = coalesce(%(title)s, title), department = coalesce(%(department)s, department),
    phone = coalesce(%(phone)s, phone), visibility = coalesce(%(visibility)s, visibility),
    source = %(source)s, source_id = %(sid)s,
    inactive_since = CASE WHEN %(active)s THEN NULL ELSE coalesce(inactive_since, %(now)s) END,
    last_active_at = CASE WHEN %(active)s THEN %(now)s ELSE last_active_at END
WHERE id = %(id)s
"""

_INSERT = """
INSERT INTO people (id, site_id, name, email, title, department, phone, visibility, source,
                    source_id, last_active_at)
VALUES (%(id)s, %(site)s, %(name)s, %(email)s, %(title)s, %(department)s, %(phone)s,
        coalesce(%(visibility)s, 'visible'), %(source)s, %(sid)s, %(now)s)
ON CONFLICT (id) DO NOTHING
"""


def person_id(source: str, source_id: str) -> str:
    """The Tapin id of a person first seen in ``source`` (stable, no personal data)."""
    digest = hashlib.sha256(f"{source}\n{source_id}".encode()).hexdigest()[:20]
    return f"{source}-{digest}"


async def _find(
    conn: psycopg.AsyncConnection, site_id: str, source: str, entry: DirectoryEntry
) -> str | None:
    cur = await conn.execute(
        "SELECT id FROM people WHERE site_id = %s AND source = %s AND source_id = %s",
        [site_id, source, entry.source_id],
    )
    row = await cur.fetchone()
    if row is None and entry.email:  # someone added by hand: the source takes them over
        cur = await conn.execute(
            "SELECT id FROM people WHERE site_id = %s AND source IS NULL AND email <> ''"
            " AND lower(email) = %s ORDER BY id LIMIT 1",
            [site_id, entry.email.lower()],
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def apply_entries(
    conn: psycopg.AsyncConnection,
    site_id: str,
    source: str,
    entries: Sequence[DirectoryEntry],
    removed: Sequence[str],
    *,
    full: bool,
    now: datetime,
    report: DirectoryReport,
) -> None:
    """Write a source's people into ``people`` (inside the caller's transaction). ``full``:
    ``entries`` is everyone, so anyone else from ``source`` becomes inactive."""
    for entry in entries:
        existing = await _find(conn, site_id, source, entry)
        args = {
            "id": existing or person_id(source, entry.source_id),
            "site": site_id,
            "name": entry.name,
            "email": entry.email,
            "title": entry.title,
            "department": entry.department,
            "phone": entry.phone,
            "visibility": None
            if entry.visible is None
            else ("visible" if entry.visible else "invisible"),
            "source": source,
            "sid": entry.source_id,
            "active": entry.active,
            "now": now,
        }
        if existing:
            cur = await conn.execute(_UPDATE, args)
            report.updated += cur.rowcount
        elif entry.active:  # a disabled account never seen before is nobody
            fresh: dict[str, Any] = {
                k: ("" if v is None else v) for k, v in args.items() if k != "visibility"
            }
            fresh["name"] = entry.name or entry.email or entry.source_id
            fresh["visibility"] = args["visibility"]
            cur = await conn.execute(_INSERT, fresh)
            report.added += cur.rowcount
    gone_sql = (
        "UPDATE people SET inactive_since = %(now)s WHERE site_id = %(site)s"
        " AND source = %(source)s AND inactive_since IS NULL AND "
    )
    where = "NOT source_id = ANY(%(ids)s)" if full else "source_id = ANY(%(ids)s)"
    ids = [e.source_id for e in entries] if full else list(removed)
    cur = await conn.execute(
        gone_sql + where, {"now": now, "site": site_id, "source": source, "ids": ids}
    )
    report.inactivated += cur.rowcount


async def _source_state(conn: psycopg.AsyncConnection, site_id: str, source: str) -> str | None:
    cur = await conn.execute(
        "INSERT INTO directory_sources (site_id, source) VALUES (%s, %s)"
        " ON CONFLICT (site_id) DO UPDATE SET source = EXCLUDED.source,"
        " delta_link = CASE WHEN directory_sources.source = EXCLUDED.source"
        " THEN directory_sources.delta_link END RETURNING delta_link",
        [site_id, source],
    )
    row = await cur.fetchone()
    return row[0] if row else None


@dataclass(slots=True)
class _Read:
    entries: list[DirectoryEntry]
    removed: list[str] = field(default_factory=list)
    link: str | None = None
    full: bool = True
    members: set[str] | None = None


async def sync_directory(
    pool: AsyncConnectionPool,
    site_id: str,
    source: str,
    now: datetime,
    *,
    connector: Any = None,
    csv_path: str | None = None,
    visible_group: str | None = None,
) -> DirectoryReport:
    """One directory sync of ``site_id`` from ``source`` (``"graph"`` with ``connector``,
    a :class:`~central.calendars.graph.GraphConnector`; ``"csv"`` with ``csv_path``).

    A source that cannot be read is reported in ``failed`` (and kept in
    ``directory_sources.error``). Raises :class:`SettingsError` (unknown site, a bad CSV)
    and what the database raises."""
    from central.calendars.base import ConnectorError

    report = DirectoryReport(site_id, source)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site_id])
            if await cur.fetchone() is None:
                raise SettingsError(f"directory sync: central has no site {site_id!r}")
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_LOCK + site_id])
            row = await cur.fetchone()
            if not (row and row[0]):
                report.skipped = True
                return report
            try:
                link = await _source_state(conn, site_id, source)
                if source == "graph":
                    before = connector.requests
                    try:
                        got = await asyncio.to_thread(_graph_read, connector, link, visible_group)
                    except ConnectorError as exc:
                        report.requests = connector.requests - before
                        report.failed = str(exc)
                        log.warning("directory sync %s: %s", site_id, exc)
                        await conn.execute(
                            "UPDATE directory_sources SET error = %s WHERE site_id = %s",
                            [str(exc)[:200], site_id],
                        )
                        return report
                    report.requests = connector.requests - before
                    read = _Read(got[0], got[1], got[2], got[3], got[4])
                else:
                    if not csv_path:
                        raise SettingsError("directory sync: a CSV source needs its file")
                    read = _Read(await asyncio.to_thread(read_csv, csv_path))
                report.full = read.full
                async with conn.transaction():
                    await apply_entries(
                        conn,
                        site_id,
                        source,
                        read.entries,
                        read.removed,
                        full=read.full,
                        now=now,
                        report=report,
                    )
                    if read.members is not None:
                        await conn.execute(
                            "UPDATE people SET visibility = CASE WHEN source_id = ANY(%s)"
                            " THEN 'visible' ELSE 'invisible' END"
                            " WHERE site_id = %s AND source = 'graph'",
                            [sorted(read.members), site_id],
                        )
                    await conn.execute(
                        "UPDATE directory_sources SET delta_link = %s, synced_at = %s,"
                        " error = NULL WHERE site_id = %s",
                        [read.link, now, site_id],
                    )
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_LOCK + site_id])
        finally:
            await conn.set_autocommit(False)
    log.info(
        "directory sync %s (%s): %d added, %d updated, %d inactive, %d requests",
        site_id,
        source,
        report.added,
        report.updated,
        report.inactivated,
        report.requests,
    )
    return report

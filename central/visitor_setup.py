"""A site's visitor setup: its visitor types, its terms documents, its reception and
end-of-day settings, and each person's notification preference.

Visitor types: every site starts with ``guest``, ``interview``, ``contractor`` and
``delivery`` (migration 0008 gives a new site those), and an operator may change, add or
remove them. Terms: versioned per site, one document per language; the current one is the
version published (first) most recently; a published (version, language) never changes,
so what a visitor accepted stays known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from central.errors import BadRequest, NotFound
from central.notify.addresses import valid_email

__all__ = [
    "CHANNELS",
    "STEPS",
    "Terms",
    "VisitorType",
    "configure_site",
    "current_terms",
    "publish_terms",
    "remove_visitor_type",
    "set_notify_pref",
    "set_visitor_type",
    "terms_versions",
    "visitor_types",
]

STEPS = ("company", "email", "host", "terms", "photo")
"""The kiosk's steps between the name (first) and done (last), per the kiosk contract."""
CHANNELS = ("email", "teams", "slack")
LANGUAGES = ("en", "sv")
_TYPE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LANG = re.compile(r"^[a-z]{2}$")
_WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_TERMS = 50_000


@dataclass(frozen=True, slots=True)
class VisitorType:
    id: str
    names: dict[str, str]
    steps: tuple[str, ...]
    signature: bool = False
    position: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "names": self.names,
            "steps": list(self.steps),
            "signature": self.signature,
        }

    def check(self) -> None:
        """Raises :class:`BadRequest` for a type the kiosk would refuse."""
        if not _TYPE_ID.match(self.id):
            raise BadRequest("a visitor type id is 1-32 of a-z, 0-9, '-', '_'")
        if "en" not in self.names or not all(
            _LANG.match(k) and isinstance(v, str) and 0 < len(v) <= 60
            for k, v in self.names.items()
        ):
            raise BadRequest("a visitor type needs an English name, each name 1-60 characters")
        unknown = [s for s in self.steps if s not in STEPS]
        if unknown or len(set(self.steps)) != len(self.steps):
            raise BadRequest(f"steps are distinct names from: {', '.join(STEPS)}")
        if self.signature and "terms" not in self.steps:
            raise BadRequest("a signature is drawn at the terms step: add 'terms' to the steps")


@dataclass(frozen=True, slots=True)
class Terms:
    version: str
    titles: dict[str, str]
    texts: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "title": self.titles, "text": self.texts}


async def _require_site(conn: psycopg.AsyncConnection, site_id: str) -> None:
    cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site_id])
    if await cur.fetchone() is None:
        raise NotFound(f"there is no site {site_id!r}")


async def visitor_types(conn: psycopg.AsyncConnection, site_id: str) -> list[VisitorType]:
    """The site's visitor types in the kiosk's order."""
    cur = await conn.execute(
        "SELECT id, names, steps, signature, position FROM visitor_types WHERE site_id = %s"
        " ORDER BY position, id",
        [site_id],
    )
    return [VisitorType(r[0], dict(r[1]), tuple(r[2]), r[3], r[4]) for r in await cur.fetchall()]


async def set_visitor_type(pool: AsyncConnectionPool, site_id: str, vtype: VisitorType) -> None:
    """Add or replace one visitor type. Raises :class:`BadRequest` and :class:`NotFound`."""
    vtype.check()
    async with pool.connection() as conn, conn.transaction():
        await _require_site(conn, site_id)
        await conn.execute(
            "INSERT INTO visitor_types (site_id, id, names, steps, signature, position)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (site_id, id) DO UPDATE SET"
            " names = excluded.names, steps = excluded.steps,"
            " signature = excluded.signature, position = excluded.position",
            [
                site_id,
                vtype.id,
                Jsonb(vtype.names),
                list(vtype.steps),
                vtype.signature,
                vtype.position,
            ],
        )


async def remove_visitor_type(pool: AsyncConnectionPool, site_id: str, type_id: str) -> bool:
    """Remove a type (past sign-ins keep its id); ``False`` if the site had no such type."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM visitor_types WHERE site_id = %s AND id = %s", [site_id, type_id]
        )
        return cur.rowcount > 0


_CURRENT = """
WITH newest AS (
    SELECT version FROM visitor_terms WHERE site_id = %(site)s
    GROUP BY version ORDER BY min(published_at) DESC, version DESC LIMIT 1
)
SELECT t.version, t.lang, t.title, t.body FROM visitor_terms t JOIN newest USING (version)
WHERE t.site_id = %(site)s ORDER BY t.lang
"""


async def current_terms(conn: psycopg.AsyncConnection, site_id: str) -> Terms | None:
    """The site's current terms in every language published, or ``None``."""
    cur = await conn.execute(_CURRENT, {"site": site_id})
    rows = await cur.fetchall()
    if not rows:
        return None
    return Terms(rows[0][0], {r[1]: r[2] for r in rows}, {r[1]: r[3] for r in rows})


async def terms_versions(conn: psycopg.AsyncConnection, site_id: str) -> set[str]:
    cur = await conn.execute(
        "SELECT DISTINCT version FROM visitor_terms WHERE site_id = %s", [site_id]
    )
    return {row[0] for row in await cur.fetchall()}


def split_title(text: str) -> tuple[str, str]:
    """A terms file's first non-empty line (a leading ``#`` dropped) and the rest."""
    lines = text.strip().splitlines()
    if not lines:
        return "", ""
    return lines[0].lstrip("#").strip(), "\n".join(lines[1:]).strip()


async def publish_terms(
    pool: AsyncConnectionPool,
    site_id: str,
    version: str,
    lang: str,
    title: str,
    body: str,
    *,
    now: datetime | None = None,
) -> bool:
    """Publish one language of a terms version; ``False`` when exactly that text was
    published already. Raises :class:`BadRequest` (a bad version or language, an empty or
    too long text, or a different text for a version and language already published:
    publish a new version) and :class:`NotFound` (site)."""
    if not _VERSION.match(version):
        raise BadRequest("a terms version is 1-64 of A-Z, a-z, 0-9, '.', '-', '_'")
    if not _LANG.match(lang):
        raise BadRequest("the language is a two-letter code such as en or sv")
    title, body = title.strip(), body.strip()
    if not 0 < len(title) <= 200 or not 0 < len(body) <= MAX_TERMS:
        raise BadRequest(f"terms need a title (<= 200 characters) and a text (<= {MAX_TERMS})")
    async with pool.connection() as conn, conn.transaction():
        await _require_site(conn, site_id)
        cur = await conn.execute(
            "SELECT title, body FROM visitor_terms WHERE site_id = %s AND version = %s"
            " AND lang = %s FOR UPDATE",
            [site_id, version, lang],
        )
        existing = await cur.fetchone()
        if existing is not None:
            if tuple(existing) == (title, body):
                return False
            raise BadRequest(
                f"terms {version} ({lang}) are published already with another text; "
                "publish a new version instead"
            )
        await conn.execute(
            "INSERT INTO visitor_terms (site_id, version, lang, title, body, published_at)"
            " VALUES (%s, %s, %s, %s, %s, coalesce(%s, now()))",
            [site_id, version, lang, title, body, now],
        )
    return True


async def configure_site(
    pool: AsyncConnectionPool,
    site_id: str,
    *,
    language: str | None = None,
    end_of_day: time | None = None,
    idle_seconds: int | None = None,
    reception_email: str | None = None,
    reception_via: str | None = None,
    teams_webhook: str | None = None,
    slack_webhook: str | None = None,
) -> None:
    """Change a site's visitor settings (``None``: unchanged; ``""`` clears a webhook or
    the reception email). Webhooks are names from central's settings file. Raises
    :class:`BadRequest` and :class:`NotFound`."""
    changes: dict[str, Any] = {}
    if language is not None:
        if language not in LANGUAGES:
            raise BadRequest(f"the language must be one of {', '.join(LANGUAGES)}")
        changes["language"] = language
    if end_of_day is not None:
        changes["visitors_end_of_day"] = end_of_day.replace(second=0, microsecond=0)
    if idle_seconds is not None:
        if not 10 <= idle_seconds <= 3600:
            raise BadRequest("idle seconds must be from 10 to 3600")
        changes["kiosk_idle_seconds"] = idle_seconds
    if reception_email is not None:
        if reception_email and not valid_email(reception_email):
            raise BadRequest("the reception email is not an email address")
        changes["reception_email"] = reception_email
    if reception_via is not None:
        if reception_via not in CHANNELS:
            raise BadRequest(f"reception is told by one of {', '.join(CHANNELS)}")
        changes["reception_via"] = reception_via
    for column, name in (("teams_webhook", teams_webhook), ("slack_webhook", slack_webhook)):
        if name is not None:
            changes[column] = _webhook_name(name)
    async with pool.connection() as conn, conn.transaction():
        await _require_site(conn, site_id)
        if changes:
            assignments = ", ".join(f"{column} = %({column})s" for column in changes)
            await conn.execute(
                f"UPDATE sites SET {assignments} WHERE id = %(site)s", {**changes, "site": site_id}
            )


def _webhook_name(name: str) -> str | None:
    if name == "":
        return None
    if not _WEBHOOK_NAME.match(name):
        raise BadRequest("a webhook is named by its key in central's settings file [webhooks]")
    return name


async def set_notify_pref(
    pool: AsyncConnectionPool, person_id: str, via: str, webhook: str | None = None
) -> None:
    """How ``person_id`` hears of their visitors: ``email``, ``teams`` or ``slack``
    (``webhook``: their own webhook name instead of the site's). Raises
    :class:`BadRequest` and :class:`NotFound`."""
    if via not in CHANNELS:
        raise BadRequest(f"a person is told by one of {', '.join(CHANNELS)}")
    name = _webhook_name(webhook or "")
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE people SET notify_via = %s, notify_webhook = %s WHERE id = %s",
            [via, name, person_id],
        )
        if cur.rowcount == 0:
            raise NotFound(f"there is no person {person_id!r}")

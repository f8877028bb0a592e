"""``issue.report``: a broken screen, a cold room, a missing chair, with an optional photo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    b64_field,
    first_of_each,
    id_field,
    require_kind,
    require_own_scope,
    text_field,
)
from sync.events import ISSUE_CATEGORIES, MAX_ISSUE_TEXT, Code, EventType

__all__ = ["CATEGORIES", "IssueReport"]

CATEGORIES = ISSUE_CATEGORIES
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))

_INSERT = """
INSERT INTO issue_reports (id, site_id, resource, category, text, photo, photo_type,
                           reporter_id, device_id, reported_at)
SELECT i.id, %(site)s, i.resource, i.category, i.text, i.photo, i.photo_type,
       (SELECT p.id FROM people p WHERE p.id = i.reporter AND p.site_id = %(site)s),
       %(device)s, i.at
FROM unnest(%(ids)b::text[], %(res)b::text[], %(cats)b::text[], %(texts)b::text[],
            %(photos)b::bytea[], %(types)b::text[], %(reporters)b::text[],
            %(ats)b::timestamptz[]) WITH ORDINALITY
     AS i(id, resource, category, text, photo, photo_type, reporter, at, ord)
ORDER BY i.ord
ON CONFLICT DO NOTHING
RETURNING id
"""


def _photo_type(photo: bytes) -> str:
    for magic, mime in _MAGIC:
        if photo.startswith(magic):
            return mime
    raise Rejection(Code.INVALID, "the photo must be a JPEG or PNG image")


class IssueReport:
    """Payload ``{report_id, category, text?, photo? (base64 JPEG/PNG), reporter_id?}``;
    clear ``resource`` is a room, desk or lobby (a panel: its own room only)."""

    type: ClassVar[str] = EventType.ISSUE_REPORT

    def check(self, item: Item, ctx: Context) -> None:
        require_kind(item, ("room", "desk", "lobby"))
        if ctx.device.role == "panel":
            require_own_scope(item, ctx)
        category = item.payload.get("category")
        if category not in CATEGORIES:
            raise Rejection(Code.INVALID, f"category must be one of {', '.join(CATEGORIES)}")
        photo = b64_field(item.payload, "photo", ctx.max_photo_bytes)
        item.values = {
            "id": id_field(item.payload, "report_id"),
            "category": category,
            "text": text_field(item.payload, "text", MAX_ISSUE_TEXT, required=False),
            "photo": photo,
            "photo_type": _photo_type(photo) if photo else None,
            "reporter": id_field(item.payload, "reporter_id", required=False),
        }
        item.actor = item.values["reporter"]

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        return await self.answer(await self.send(conn, ctx, items), items)

    async def send(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> tuple[psycopg.AsyncCursor[Any], dict[int, Rejection]]:
        """Send the insert (in pipeline mode nothing waits for it); :meth:`answer` reads it."""
        fresh, rejected = first_of_each(items, _id_used)
        vals = [i.values for i in fresh]
        cur = await conn.execute(
            _INSERT,
            {
                "site": ctx.device.site_id,
                "device": ctx.device.id,
                "ids": [v["id"] for v in vals],
                "res": [i.resource for i in fresh],
                "cats": [v["category"] for v in vals],
                "texts": [v["text"] for v in vals],
                "photos": [v["photo"] for v in vals],
                "types": [v["photo_type"] for v in vals],
                "reporters": [v["reporter"] for v in vals],
                "ats": [i.created for i in fresh],
            },
        )
        return cur, rejected

    async def answer(
        self, sent: tuple[psycopg.AsyncCursor[Any], dict[int, Rejection]], items: Sequence[Item]
    ) -> dict[int, Rejection]:
        """The reports not stored: their id was used already (here or before)."""
        cur, rejected = sent
        made = {row[0] for row in await cur.fetchall()}
        for item in items:
            if item.index not in rejected and item.values["id"] not in made:
                rejected[item.index] = _id_used(item)
        return rejected


def _id_used(item: Item) -> Rejection:
    return Rejection(Code.INVALID, f"report id {item.values['id']} is already used")

"""``visitor.signin`` and ``visitor.signout`` at a lobby kiosk.

A sign-in queues one ``host_notifications`` row (the outbox a mailer or chat worker
drains). A host no longer in the site's directory (forgotten, or purged as inactive)
leaves the sign-in recorded without a host and without a notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import psycopg

from central.appliers.base import (
    Context,
    Item,
    Rejection,
    bool_field,
    first_of_each,
    id_field,
    require_kind,
    require_own_scope,
    require_role,
    text_field,
)
from sync.events import MAX_COMPANY, MAX_EMAIL, MAX_NAME, Code, EventType

__all__ = ["VisitorSignin", "VisitorSignout"]


def _check(item: Item, ctx: Context) -> None:
    require_role(item, ctx, "kiosk")
    require_kind(item, ("lobby",))
    require_own_scope(item, ctx)


_INSERT = """
INSERT INTO visitor_signins (id, site_id, lobby_id, name, company, email, host_id,
                             accepted_terms_at, signed_in_at, device_id)
SELECT i.id, %(site)s, %(lobby)s, i.name, i.company, i.email,
       (SELECT p.id FROM people p WHERE p.id = i.host AND p.site_id = %(site)s),
       i.at, i.at, %(device)s
FROM unnest(%(ids)s::text[], %(names)s::text[], %(companies)s::text[], %(emails)s::text[],
            %(hosts)s::text[], %(ats)s::timestamptz[]) WITH ORDINALITY
     AS i(id, name, company, email, host, at, ord)
ORDER BY i.ord
ON CONFLICT DO NOTHING
RETURNING id, host_id
"""


class VisitorSignin:
    """Payload ``{visitor_id, name, company?, email?, host_id, accepted_terms}``; the
    visitor must have accepted the terms. ``created_at`` is the sign-in time."""

    type: ClassVar[str] = EventType.VISITOR_SIGNIN

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        email = text_field(item.payload, "email", MAX_EMAIL, required=False).strip()
        if email and ("@" not in email or " " in email):
            raise Rejection(Code.INVALID, "payload field 'email' is not an email address")
        if not bool_field(item.payload, "accepted_terms"):
            raise Rejection(Code.INVALID, "the visitor did not accept the visitor terms")
        item.values = {
            "id": id_field(item.payload, "visitor_id"),
            "name": text_field(item.payload, "name", MAX_NAME).strip(),
            "company": text_field(item.payload, "company", MAX_COMPANY, required=False).strip(),
            "email": email,
            "host": id_field(item.payload, "host_id"),
        }

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        fresh, rejected = first_of_each(items, _id_used)
        vals = [i.values for i in fresh]
        cur = await conn.execute(
            _INSERT,
            {
                "site": ctx.device.site_id,
                "lobby": ctx.device.scope_id,
                "device": ctx.device.id,
                "ids": [v["id"] for v in vals],
                "names": [v["name"] for v in vals],
                "companies": [v["company"] for v in vals],
                "emails": [v["email"] for v in vals],
                "hosts": [v["host"] for v in vals],
                "ats": [i.created for i in fresh],
            },
        )
        made: dict[str, str | None] = {row[0]: row[1] for row in await cur.fetchall()}
        notify = [(signin, host) for signin, host in made.items() if host is not None]
        if notify:
            await conn.execute(
                "INSERT INTO host_notifications (signin_id, host_id)"
                " SELECT * FROM unnest(%s::text[], %s::text[])",
                [[s for s, _ in notify], [h for _, h in notify]],
            )
        for item in fresh:
            if item.values["id"] not in made:
                rejected[item.index] = _id_used(item)
        return rejected


def _id_used(item: Item) -> Rejection:
    return Rejection(Code.INVALID, f"visitor id {item.values['id']} is already used")


class VisitorSignout:
    """Payload ``{visitor_id}``; ``created_at`` is the sign-out time. Any kiosk of the
    site may sign a visitor out; signing out twice changes nothing."""

    type: ClassVar[str] = EventType.VISITOR_SIGNOUT

    def check(self, item: Item, ctx: Context) -> None:
        _check(item, ctx)
        item.values = {"id": id_field(item.payload, "visitor_id")}

    async def apply(
        self, conn: psycopg.AsyncConnection, ctx: Context, items: Sequence[Item]
    ) -> dict[int, Rejection]:
        rejected: dict[int, Rejection] = {}
        for item in items:
            cur = await conn.execute(
                "UPDATE visitor_signins SET signed_out_at = greatest(signed_in_at, %s)"
                " WHERE id = %s AND site_id = %s AND signed_out_at IS NULL RETURNING 1",
                [item.created, item.values["id"], ctx.device.site_id],
            )
            if await cur.fetchone() is not None:
                continue
            cur = await conn.execute(
                "SELECT 1 FROM visitor_signins WHERE id = %s AND site_id = %s",
                [item.values["id"], ctx.device.site_id],
            )
            if await cur.fetchone() is None:
                rejected[item.index] = Rejection(
                    Code.NOT_FOUND, f"visitor {item.values['id']} never signed in at this site"
                )
        return rejected

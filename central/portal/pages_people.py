"""People of a site and the retention status, for site admins and global admins (the
roles that manage people): search, the visibility toggle, forget-this-person with a
typed confirmation (central's own :func:`central.admin.forget_person`, which also tells
every device of the site to purge its copies), and what retention keeps.

Invisible people appear only here (and so only to those roles); receptionists and
technicians never see them. Audit targets are person ids, never names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from starlette.responses import Response

from central.admin import forget_person
from central.errors import NotFound
from central.portal import store
from central.portal.authz import Ctx, guard
from central.portal.pages_site import _site, _site_page
from central.retention import AUDIT, HISTORY, INACTIVE_PEOPLE, PLAN, retention_preview

__all__ = ["forget", "forget_confirm", "people", "retention", "visibility"]

PEOPLE_ROLES = ("global", "site_admin")
SHOWN = 200
"""At most this many people per page of results."""


async def _person(conn: psycopg.AsyncConnection, ctx: Ctx, person_id: str) -> dict[str, Any]:
    """Raises :class:`NotFound` unless the person is at the URL's site."""
    cur = await conn.execute(
        "SELECT id, name, email, department, visibility FROM people WHERE id = %s AND site_id = %s",
        [person_id, ctx.site_id],
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(ctx._("There is no such person at this site."))
    return dict(zip(("id", "name", "email", "department", "visibility"), row, strict=True))


@guard("site", *PEOPLE_ROLES)
async def people(ctx: Ctx) -> Response:
    """The site's people (``?q=`` searches names, emails and departments)."""
    query = ctx.request.query_params.get("q", "").strip()[:100]
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        cur = await conn.execute(
            "SELECT id, name, email, department, visibility FROM people WHERE site_id = %s"
            " AND (name ILIKE %s OR email ILIKE %s OR department ILIKE %s)"
            " ORDER BY name, id LIMIT %s",
            [site.id, like, like, like, SHOWN + 1],
        )
        rows = await store.dicts(cur, ("id", "name", "email", "department", "visibility"))
    return ctx.page(
        "people.html",
        site=site,
        sites=sites,
        nav="people",
        people=rows[:SHOWN],
        more=len(rows) > SHOWN,
        q=query,
        done=ctx.request.query_params.get("done"),
    )


@guard("site", *PEOPLE_ROLES)
async def visibility(ctx: Ctx) -> Response:
    """Make a person visible or invisible on devices (audited: ``person.visibility``)."""
    wanted = ctx.form.get("visibility", "")
    if wanted not in ("visible", "invisible"):
        raise NotFound(ctx._("Choose visible or invisible."))
    async with ctx.pool.connection() as conn:
        person = await _person(conn, ctx, ctx.form.get("person_id", ""))
        await conn.execute(
            "UPDATE people SET visibility = %s WHERE id = %s", [wanted, person["id"]]
        )
    await ctx.audit("person.visibility", person["id"])
    return ctx.redirect(f"/sites/{ctx.site_id}/people?done=visibility")


async def _forget_page(
    ctx: Ctx, person: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    return await _site_page(
        ctx,
        "forget.html",
        status,
        "people",
        person=person,
        error=extra.pop("error", None),
        **extra,
    )


@guard("site", *PEOPLE_ROLES)
async def forget_confirm(ctx: Ctx) -> Response:
    """The confirmation page for forgetting a person (``?person=ID``)."""
    async with ctx.pool.connection() as conn:
        person = await _person(conn, ctx, ctx.request.query_params.get("person", ""))
    return await _forget_page(ctx, person)


@guard("site", *PEOPLE_ROLES)
async def forget(ctx: Ctx) -> Response:
    """Forget a person once their name is typed exactly (audited: ``person.forget``)."""
    async with ctx.pool.connection() as conn:
        person = await _person(conn, ctx, ctx.form.get("person_id", ""))
    typed = " ".join(ctx.form.get("typed", "").split())
    if typed.casefold() != " ".join(person["name"].split()).casefold():
        return await _forget_page(
            ctx, person, 400, error=ctx._("Type the person's name exactly to confirm.")
        )
    report = await forget_person(ctx.pool, person["id"])
    await ctx.audit("person.forget", person["id"])
    return ctx.redirect(f"/sites/{ctx.site_id}/people?done=forget&devices={report.commands}")


_KEEPS = {
    "people": "inactive",
    "admin_audit": "audit",
}


@guard("site", *PEOPLE_ROLES)
async def retention(ctx: Ctx) -> Response:
    """What each retention rule keeps, when retention last ran, what it would delete now
    (counts over the whole central: retention is one rule for every site)."""
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        cur = await conn.execute(
            "SELECT ran_at, counts FROM retention_runs ORDER BY ran_at DESC LIMIT 1"
        )
        last = await cur.fetchone()
    would = await retention_preview(ctx.pool, ctx.deps.clock())
    days = {
        "history": HISTORY // timedelta(days=1),
        "inactive": INACTIVE_PEOPLE // timedelta(days=1),
        "audit": AUDIT // timedelta(days=1),
    }
    rules = [
        {
            "table": table,
            "rule": _KEEPS.get(table, "history"),
            "days": days[_KEEPS.get(table, "history")],
            "would": would.get(table, 0),
            "last": (last[1] or {}).get(table) if last else None,
        }
        for table in PLAN
    ]
    return ctx.page(
        "retention.html",
        site=site,
        sites=sites,
        nav="retention",
        rules=rules,
        last=last[0].astimezone(site.zone).strftime("%Y-%m-%d %H:%M") if last else None,
    )

"""The first pages: the admin's sites, a site's dashboard, visitors and invites, the
printable evacuation list, and the audit log.

Rules (see :mod:`central.portal.authz`): the dashboard is for every role at the site;
visitors, invites and the evacuation list for receptionists, site admins and global
admins; the audit log for site admins (their site) and global admins (every site).
Meeting subjects and organisers are never shown (a room is free or busy); hosts are
named only when they are visible people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from starlette.responses import Response

from central.errors import BadRequest, NotFound
from central.portal import store
from central.portal.authz import Ctx, guard
from central.visitors import InviteRequest, create_invite, onsite_at

__all__ = ["audit_all", "audit_site", "dashboard", "evacuation", "home", "invite", "visitors"]

VISITOR_ROLES = ("global", "site_admin", "receptionist")
ONLINE = timedelta(minutes=10)
"""A device heard from within this long is online."""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    zone: ZoneInfo


async def _sites(conn: psycopg.AsyncConnection, ctx: Ctx) -> list[Site]:
    """The sites this admin has a role at (every site for a global admin)."""
    assert ctx.admin is not None
    cur = await conn.execute("SELECT id, name, timezone FROM sites ORDER BY name, id")
    return [
        Site(row[0], row[1], ZoneInfo(row[2]))
        for row in await cur.fetchall()
        if ctx.admin.role_at(row[0])
    ]


async def _site(conn: psycopg.AsyncConnection, ctx: Ctx) -> tuple[Site, list[Site]]:
    """The URL's site and the admin's sites (for the site switcher). Raises
    :class:`NotFound` (only a global admin can ask for a site that does not exist)."""
    sites = await _sites(conn, ctx)
    for site in sites:
        if site.id == ctx.site_id:
            return site, sites
    raise NotFound(f"there is no site {ctx.site_id!r}")


async def _site_page(ctx: Ctx, template: str, status: int, nav: str, **values: Any) -> Response:
    """``template`` for the URL's site (with the site switcher), ``nav`` its menu entry.
    Raises :class:`NotFound` as :func:`_site` does."""
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
    return ctx.page(template, status, site=site, sites=sites, nav=nav, **values)


def _day_bounds(site: Site, now: datetime) -> tuple[date, datetime, datetime]:
    today = now.astimezone(site.zone).date()
    start = datetime.combine(today, time(0), tzinfo=site.zone)
    return today, start, start + timedelta(days=1)


@guard("signed_in")
async def home(ctx: Ctx) -> Response:
    """The admin's sites; straight to the dashboard when there is only one."""
    async with ctx.pool.connection() as conn:
        sites = await _sites(conn, ctx)
    if len(sites) == 1:
        return ctx.redirect(f"/sites/{sites[0].id}")
    return ctx.page("home.html", sites=sites, nav="home")


_ROOMS_SQL = """
SELECT r.id, r.name, r.floor, r.capacity,
       (SELECT max(upper(m.during)) FROM meetings m
         WHERE m.room_id = r.id AND m.during @> %(now)s::timestamptz AND m.released_at IS NULL),
       (SELECT max(upper(b.during)) FROM bookings b
         WHERE b.room_id = r.id AND b.during @> %(now)s::timestamptz AND b.status = 'active')
FROM rooms r WHERE r.site_id = %(site)s ORDER BY r.floor, r.name, r.id
"""

_DEVICES_SQL = """
SELECT d.id, d.role, d.scope_kind, d.scope_id, d.last_seen_at, d.revoked_at,
       h.version, h.pending, (h.last_error IS NOT NULL OR h.quarantined > 0)
FROM devices d LEFT JOIN device_health h ON h.device_id = d.id
WHERE d.site_id = %(site)s ORDER BY d.scope_kind, d.scope_id, d.id
"""


def _device(row: tuple[Any, ...], now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    seen: datetime | None = row[4]
    if row[5] is not None:
        state = "revoked"
    elif seen is None:
        state = "never"
    elif now - seen <= ONLINE:
        state = "online"
    else:
        state = "silent"
    return {
        "id": row[0],
        "role": row[1],
        "scope": f"{row[2]} {row[3]}",
        "seen": seen.astimezone(zone).strftime("%Y-%m-%d %H:%M") if seen else "",
        "state": state,
        "version": row[6] or "",
        "pending": row[7],
        "fault": bool(row[8]),
    }


@guard("site", "global", "site_admin", "receptionist", "technician")
async def dashboard(ctx: Ctx) -> Response:
    """Rooms now (free or busy, until when), device health, visitors on site."""
    now = ctx.deps.clock()
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        cur = await conn.execute(_ROOMS_SQL, {"now": now, "site": site.id})
        rooms = []
        for rid, name, floor, capacity, meeting_end, booking_end in await cur.fetchall():
            ends = [t for t in (meeting_end, booking_end) if t is not None]
            rooms.append(
                {
                    "id": rid,
                    "name": name,
                    "floor": floor,
                    "capacity": capacity,
                    "busy_until": max(ends).astimezone(site.zone).strftime("%H:%M")
                    if ends
                    else None,
                }
            )
        cur = await conn.execute(_DEVICES_SQL, {"site": site.id})
        real_now = ctx.now
        devices = [_device(row, real_now, site.zone) for row in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT count(*) FROM visitor_signins WHERE site_id = %s AND signed_out_at IS NULL",
            [site.id],
        )
        row = await cur.fetchone()
    summary = {
        s: sum(1 for d in devices if d["state"] == s)
        for s in ("online", "silent", "never", "revoked")
    }
    summary["fault"] = sum(1 for d in devices if d["fault"] and d["state"] != "revoked")
    return ctx.page(
        "dashboard.html",
        site=site,
        sites=sites,
        nav="dashboard",
        rooms=rooms,
        busy=sum(1 for r in rooms if r["busy_until"]),
        devices=devices,
        summary=summary,
        onsite_count=int(row[0]) if row else 0,
        can_visitors=ctx.admin is not None and ctx.admin.role_at(site.id) in VISITOR_ROLES,
    )


async def _visitors_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    now = ctx.deps.clock()
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        today, start, end = _day_bounds(site, now)
        cur = await conn.execute(
            "SELECT i.id, i.name, i.company, i.visitor_type,"
            " CASE WHEN h.visibility = 'visible' THEN h.name END, i.used_at IS NOT NULL"
            " FROM visitor_invites i LEFT JOIN people h ON h.id = i.host_id"
            " WHERE i.site_id = %s AND i.day = %s ORDER BY i.created_at, i.id",
            [site.id, today],
        )
        invites = await store.dicts(cur, ("id", "name", "company", "type", "host", "used"))
        cur = await conn.execute(
            "SELECT v.name, v.company, v.signed_in_at, v.signed_out_at,"
            " CASE WHEN h.visibility = 'visible' THEN h.name END"
            " FROM visitor_signins v LEFT JOIN people h ON h.id = v.host_id"
            " WHERE v.site_id = %s AND v.signed_in_at >= %s AND v.signed_in_at < %s"
            " ORDER BY v.signed_in_at, v.id",
            [site.id, start, end],
        )
        signins = [
            {
                "name": r[0],
                "company": r[1],
                "in": r[2].astimezone(site.zone).strftime("%H:%M"),
                "out": r[3].astimezone(site.zone).strftime("%H:%M") if r[3] else "",
                "host": r[4],
            }
            for r in await cur.fetchall()
        ]
        cur = await conn.execute(
            "SELECT id, name FROM people WHERE site_id = %s AND visibility = 'visible'"
            " ORDER BY name, id",
            [site.id],
        )
        hosts = await cur.fetchall()
        cur = await conn.execute(
            "SELECT id, names FROM visitor_types WHERE site_id = %s ORDER BY position, id",
            [site.id],
        )
        types = [
            (tid, names.get(ctx.language) or names.get("en") or tid)
            for tid, names in await cur.fetchall()
        ]
    form = {
        "name": "",
        "email": "",
        "company": "",
        "host_id": "",
        "visitor_type": "guest",
        "day": today.isoformat(),
        **extra.pop("form", {}),
    }
    return ctx.page(
        "visitors.html",
        status,
        site=site,
        sites=sites,
        nav="visitors",
        invites=invites,
        signins=signins,
        hosts=hosts,
        types=types,
        today=today.isoformat(),
        form=form,
        error=extra.pop("error", None),
        created=ctx.request.query_params.get("created"),
        **extra,
    )


@guard("site", *VISITOR_ROLES)
async def visitors(ctx: Ctx) -> Response:
    """Today's invites and sign-ins, and the form to invite a visitor."""
    return await _visitors_page(ctx)


@guard("site", *VISITOR_ROLES)
async def invite(ctx: Ctx) -> Response:
    """Create an invite: the visitor gets an email with the QR code (issue 8's flow)."""
    assert ctx.site_id is not None
    fields = {
        k: ctx.form.get(k, "").strip()
        for k in ("name", "email", "company", "host_id", "visitor_type", "day")
    }
    async with ctx.pool.connection() as conn:
        await _site(conn, ctx)  # 404 for a site that does not exist
    try:
        if not fields["name"] or not fields["email"] or not fields["host_id"]:
            raise BadRequest(ctx._("Fill in the visitor's name, email and host."))
        try:
            day = date.fromisoformat(fields["day"]) if fields["day"] else None
        except ValueError:
            raise BadRequest(ctx._("The day must be a date.")) from None
        made = await create_invite(
            ctx.pool,
            InviteRequest(
                ctx.site_id,
                fields["host_id"],
                fields["name"],
                fields["email"],
                fields["company"],
                fields["visitor_type"] or "guest",
                day,
            ),
            now=ctx.deps.clock(),
            key=ctx.deps.invite_key,
        )
    except (BadRequest, NotFound) as exc:  # a field, or a host not at the site
        return await _visitors_page(ctx, 400, form=fields, error=_invite_error(ctx, exc.detail))
    await ctx.audit("invite.create", made.id)
    return ctx.redirect(f"/sites/{ctx.site_id}/visitors?created={made.id}")


_INVITE_ERRORS = (
    (
        re.compile(r"the visitor's name must be 1 to (\d+) printable characters"),
        "The visitor's name must be 1 to {0} printable characters.",
    ),
    (
        re.compile(r"the company must be at most (\d+) printable characters"),
        "The company must be at most {0} printable characters.",
    ),
    (re.compile(r"the visitor's email is not an email address"), "That is not an email address."),
    (
        re.compile(r"the day must be from today \((\S+)\) to a year ahead"),
        "The day must be from today ({0}) to a year ahead.",
    ),
    (re.compile(r"there is no person .* at site .*"), "Choose the host from the list."),
    (re.compile(r"site .* has no visitor type .*"), "Choose a type of visit from the list."),
)


def _invite_error(ctx: Ctx, detail: str) -> str:
    """The invite flow's own messages (central.visitors, written for the API) in the
    page's language; an unknown one as it is."""
    for pattern, text in _INVITE_ERRORS:
        if found := pattern.fullmatch(detail):
            return ctx._(text).format(*found.groups())
    return detail


@guard("site", *VISITOR_ROLES)
async def evacuation(ctx: Ctx) -> Response:
    """Everyone signed in now, to print (each view is an export: it is audited)."""
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        people = await onsite_at(conn, site.id)
        cur = await conn.execute(
            "SELECT id, nullif(name, '') FROM lobbies WHERE site_id = %s", [site.id]
        )
        lobbies = {lid: name for lid, name in await cur.fetchall() if name}
        await store.audit(
            conn,
            ctx.admin.id if ctx.admin else None,
            "evacuation.view",
            site.id,
            str(len(people)),
            ctx.address,
        )
    now = ctx.deps.clock().astimezone(site.zone)
    rows = [
        {
            "name": p.name,
            "company": p.company,
            "host": p.host_name if p.host_visible else None,
            "lobby": lobbies.get(p.lobby_id, p.lobby_id),
            "in": p.signed_in_at.strftime("%H:%M"),
        }
        for p in people
    ]
    return ctx.page(
        "evacuation.html",
        site=site,
        sites=sites,
        nav="evacuation",
        people=rows,
        printed=now.strftime("%Y-%m-%d %H:%M"),
    )


async def _audit_page(ctx: Ctx, site_id: str | None) -> Response:
    async with ctx.pool.connection() as conn:
        site, sites = (await _site(conn, ctx)) if site_id else (None, await _sites(conn, ctx))
        rows = await store.audit_rows(conn, site_id)
    zone = site.zone if site else ZoneInfo("UTC")
    shown = [
        {
            "at": r.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "actor": r.actor,
            "action": r.action,
            "site": r.site_id or "",
            "target": r.target or "",
            "address": r.address,
        }
        for r in rows
    ]
    return ctx.page("audit.html", site=site, sites=sites, nav="audit", rows=shown, zone=str(zone))


@guard("site", "global", "site_admin")
async def audit_site(ctx: Ctx) -> Response:
    """The audit log of one site (newest 200 rows)."""
    return await _audit_page(ctx, ctx.site_id)


@guard("global")
async def audit_all(ctx: Ctx) -> Response:
    """The audit log of every site and of sign-ins (newest 200 rows)."""
    return await _audit_page(ctx, None)

"""Sites and admins, for global admins: the sites (and a new one), every admin with
their roles; create an admin, give or take a role at a site, reset an admin's TOTP
(they enrol again at their next sign-in), deactivate an admin (their sessions end).

Every change is audited (target: the admin's id or the site's id). A global admin cannot
deactivate themself or take their own global role (someone must be left to manage).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.responses import Response

from central.errors import BadRequest, NotFound
from central.portal import store
from central.portal.authz import Ctx, guard

__all__ = ["admin_change", "admin_create", "admins", "site_create"]

_SITE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


async def _admins_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT s.id, s.name, s.timezone,"
            " (SELECT count(*) FROM rooms r WHERE r.site_id = s.id),"
            " (SELECT count(*) FROM devices d WHERE d.site_id = s.id AND d.revoked_at IS NULL)"
            " FROM sites s ORDER BY s.name, s.id"
        )
        sites = await store.dicts(cur, ("id", "name", "zone", "rooms", "devices"))
        cur = await conn.execute(
            "SELECT a.id, a.email, a.totp_secret IS NOT NULL, a.disabled_at IS NOT NULL,"
            " coalesce(array_agg(coalesce(r.site_id, '*') || ':' || r.role ORDER BY r.site_id)"
            " FILTER (WHERE r.role IS NOT NULL), '{}')"
            " FROM admins a LEFT JOIN admin_roles r ON r.admin_id = a.id"
            " GROUP BY a.id ORDER BY a.disabled_at IS NOT NULL, lower(a.email)"
        )
        admins = [
            {
                "id": r[0],
                "email": r[1],
                "totp": r[2],
                "disabled": r[3],
                "roles": [tuple(x.split(":", 1)) for x in r[4]],
            }
            for r in await cur.fetchall()
        ]
    form = {"email": "", "role": "site_admin", "site": "", **extra.pop("form", {})}
    return ctx.page(
        "admins.html",
        status,
        nav="admins",
        all_sites=sites,
        admins=admins,
        roles=store.ROLES,
        form=form,
        error=extra.pop("error", None),
        done=ctx.request.query_params.get("done"),
        **extra,
    )


@guard("global")
async def admins(ctx: Ctx) -> Response:
    """Every site and every admin."""
    return await _admins_page(ctx)


@guard("global")
async def admin_create(ctx: Ctx) -> Response:
    """A new admin with one role (the password policy applies; audited)."""
    assert ctx.admin is not None
    fields = {k: ctx.form.get(k, "").strip() for k in ("email", "role", "site")}
    try:
        if ctx.form.get("password", "") != ctx.form.get("password2", ""):
            raise BadRequest(ctx._("The two passwords differ."))
        if fields["role"] not in store.ROLES:
            raise BadRequest(ctx._("Choose a role."))
        site = None if fields["role"] == "global" else fields["site"]
        if site == "":
            raise BadRequest(ctx._("Choose the site for this role."))
        await store.create_admin(
            ctx.pool,
            fields["email"],
            ctx.form.get("password", ""),
            fields["role"],
            site,
            actor=ctx.admin.id,
            address=ctx.address,
        )
    except (BadRequest, NotFound) as exc:
        return await _admins_page(ctx, 400, form=fields, error=_explain(ctx, exc.detail))
    return ctx.redirect("/admins?done=create")


_STORE_MESSAGES = {
    "--email must be an email address": "The email must be an email address.",
    "an admin with that email exists already": "An admin with that email exists already.",
    "the password must be at least 12 characters": "The password must be at least 12 characters.",
    "the password must be at most 256 characters": "The password must be at most 256 characters.",
    "that password is too common: choose another": "That password is too common: choose another.",
    "the password must not contain your email name": (
        "The password must not contain the name part of the email."
    ),
}


def _explain(ctx: Ctx, detail: str) -> str:
    """The store's messages (written for the command line) in the page's language."""
    detail = detail.removeprefix("password refused: ")
    known = _STORE_MESSAGES.get(detail)
    return (
        ctx._(known)
        if known
        else ctx._("That site does not exist.")
        if "site" in detail
        else detail
    )


async def _target(ctx: Ctx) -> int:
    """The form's admin id. Raises :class:`NotFound` for an unknown admin."""
    text = ctx.form.get("admin_id", "")
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM admins WHERE id = %s", [int(text) if text.isdigit() else -1]
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(ctx._("There is no such admin."))
    return int(row[0])


@guard("global")
async def admin_change(ctx: Ctx) -> Response:
    """``change``: ``role`` (give ``role`` at ``site``; ``none`` takes it), ``totp_reset``
    or ``deactivate`` / ``reactivate`` one admin (audited; their sessions end)."""
    assert ctx.admin is not None
    target = await _target(ctx)
    change = ctx.form.get("change", "")
    site = ctx.form.get("site", "").strip() or None
    role = ctx.form.get("role", "")
    own = target == ctx.admin.id
    try:
        async with ctx.pool.connection() as conn, conn.transaction():
            if change == "role":
                if role not in (*store.ROLES, "none") or (role == "global") != (site is None):
                    raise BadRequest(ctx._("Choose a site and a role (global has no site)."))
                if own and site is None:
                    raise BadRequest(ctx._("You cannot change your own global role."))
                if site is not None:
                    cur = await conn.execute("SELECT 1 FROM sites WHERE id = %s", [site])
                    if await cur.fetchone() is None:
                        raise BadRequest(ctx._("There is no such site."))
                await conn.execute(
                    "DELETE FROM admin_roles WHERE admin_id = %s"
                    " AND coalesce(site_id, '') = coalesce(%s, '')",
                    [target, site],
                )
                if role != "none":
                    await conn.execute(
                        "INSERT INTO admin_roles (admin_id, site_id, role) VALUES (%s, %s, %s)",
                        [target, site, role],
                    )
                action = "admin.role"
            elif change == "totp_reset":
                await conn.execute(
                    "UPDATE admins SET totp_secret = NULL, totp_pending = NULL,"
                    " totp_last_step = NULL WHERE id = %s",
                    [target],
                )
                action = "admin.totp_reset"
            elif change in ("deactivate", "reactivate"):
                if own:
                    raise BadRequest(ctx._("You cannot deactivate yourself."))
                await conn.execute(
                    "UPDATE admins SET disabled_at = CASE WHEN %s THEN now() END WHERE id = %s",
                    [change == "deactivate", target],
                )
                action = f"admin.{change}"
            else:
                raise BadRequest(ctx._("Choose what to change."))
            if change != "role" and not own:
                await conn.execute("DELETE FROM admin_sessions WHERE admin_id = %s", [target])
            await store.audit(conn, ctx.admin.id, action, site, str(target), ctx.address)
    except BadRequest as exc:
        return await _admins_page(ctx, 400, error=exc.detail)
    return ctx.redirect(f"/admins?done={change}")


@guard("global")
async def site_create(ctx: Ctx) -> Response:
    """A new, empty site (id, name, time zone; audited: ``site.create``)."""
    assert ctx.admin is not None
    site_id = ctx.form.get("site_id", "").strip()
    name = ctx.form.get("name", "").strip()
    zone = ctx.form.get("timezone", "").strip()
    try:
        if not 1 <= len(site_id) <= 40 or not set(site_id) <= _SITE_ID_CHARS:
            raise BadRequest(ctx._("A site id is 1-40 of a-z, 0-9, '-' and '_'."))
        if not 1 <= len(name) <= 100 or not name.isprintable():
            raise BadRequest(ctx._("Give the site a name (at most 100 characters)."))
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest(ctx._("The time zone must be one like Europe/Stockholm.")) from None
        async with ctx.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO sites (id, name, timezone) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                [site_id, name, zone],
            )
            if await cur.fetchone() is None:
                raise BadRequest(ctx._("A site with that id exists already."))
            await store.audit(conn, ctx.admin.id, "site.create", site_id, site_id, ctx.address)
    except BadRequest as exc:
        return await _admins_page(ctx, 400, error=exc.detail)
    return ctx.redirect("/admins?done=site")

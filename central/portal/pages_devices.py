"""Devices of a site, for technicians, site admins and global admins: last seen,
version, queue depth, faults and commands waiting; a one-time enrollment code for a room
panel or a lobby kiosk; revoke; restart, reconfigure and decommission (queued with
:func:`central.commands.queue_command`, carried out at the device's next sync).

Every action takes two steps: the first POST shows what will happen and asks to
confirm (nothing changes), the second (``confirmed=yes``) does it and writes the audit
log (target: the device id, or the room/lobby for a code; never the code itself).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.responses import Response

from central.admin import revoke_device
from central.commands import COMMAND_KINDS, queue_command
from central.enroll import create_enrollment_code
from central.errors import BadRequest, NotFound
from central.fleet import list_devices
from central.portal.authz import Ctx, guard
from central.portal.pages_site import _site, _site_page

__all__ = ["device_action", "devices", "enroll_code"]

DEVICE_ROLES = ("global", "site_admin", "technician")
ACTIONS = tuple(a for a in ("restart", "reconfigure", "decommission") if a in COMMAND_KINDS)
"""The commands offered (those central knows), besides revoke."""
CODE_TTL = timedelta(hours=24)


async def _devices_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        cur = await conn.execute(
            "SELECT c.device_id, c.kind FROM device_commands c JOIN devices d"
            " ON d.id = c.device_id WHERE d.site_id = %s AND c.acknowledged_at IS NULL"
            " ORDER BY c.id",
            [site.id],
        )
        waiting: dict[str, list[str]] = {}
        for device_id, kind in await cur.fetchall():
            waiting.setdefault(device_id, []).append(kind)
        cur = await conn.execute(
            "SELECT 'room', id, name FROM rooms WHERE site_id = %(s)s"
            " UNION ALL SELECT 'lobby', id, coalesce(nullif(name, ''), id) FROM lobbies"
            " WHERE site_id = %(s)s ORDER BY 1 DESC, 3, 2",
            {"s": site.id},
        )
        places = [(f"{kind}:{pid}", kind, name) for kind, pid, name in await cur.fetchall()]
    fleet = await list_devices(ctx.pool, now=ctx.now, site=site.id)
    rows = [
        {
            "id": d.id,
            "kind": d.kind,
            "scope": d.scope,
            "seen": d.last_seen.astimezone(site.zone).strftime("%Y-%m-%d %H:%M")
            if d.last_seen
            else "",
            "version": d.version or "",
            "pending": d.pending,
            "fault": d.last_error or ("UNHEALTHY" in d.flags),
            "flags": d.flags,
            "revoked": d.revoked,
            "waiting": waiting.get(d.id, []),
        }
        for d in fleet
    ]
    return ctx.page(
        "devices.html",
        status,
        site=site,
        sites=sites,
        nav="devices",
        devices=rows,
        places=places,
        actions=ACTIONS,
        code=extra.pop("code", None),
        error=extra.pop("error", None),
        done=ctx.request.query_params.get("done"),
        **extra,
    )


@guard("site", *DEVICE_ROLES)
async def devices(ctx: Ctx) -> Response:
    """The site's devices and what can be done to them."""
    return await _devices_page(ctx)


@guard("site", *DEVICE_ROLES)
async def enroll_code(ctx: Ctx) -> Response:
    """A one-time enrollment code for the chosen room or lobby, shown once (never stored
    in the audit log, never in a URL)."""
    assert ctx.site_id is not None
    kind, _, place = ctx.form.get("place", "").partition(":")
    if kind not in ("room", "lobby") or not place:
        return await _devices_page(ctx, 400, error=ctx._("Choose a room or a lobby."))
    try:
        made = await create_enrollment_code(
            ctx.pool,
            room_id=place if kind == "room" else None,
            lobby_id=place if kind == "lobby" else None,
            site_id=ctx.site_id,
            ttl=CODE_TTL,
        )
    except NotFound:
        return await _devices_page(ctx, 404, error=ctx._("That room or lobby is not at this site."))
    await ctx.audit("device.enroll_code", f"{kind}:{place}")
    shown = {"code": made.code, "scope": f"{kind}:{place}", "expires": made.expires_at}
    return await _devices_page(ctx, code=shown)


async def _device_of_site(ctx: Ctx, device_id: str) -> dict[str, Any]:
    """Raises :class:`NotFound` unless ``device_id`` is a device of the URL's site."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, role, scope_kind || ':' || scope_id, revoked_at IS NOT NULL"
            " FROM devices WHERE id = %s AND site_id = %s",
            [device_id, ctx.site_id],
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(ctx._("There is no such device at this site."))
    return {"id": row[0], "kind": row[1], "scope": row[2], "revoked": row[3]}


def _config(text: str, ctx: Ctx) -> dict[str, Any]:
    """The reconfigure settings: a JSON object of sections of settings. Raises
    :class:`BadRequest` naming what to fix."""
    try:
        config = json.loads(text)
    except ValueError:
        raise BadRequest(ctx._("The settings must be JSON.")) from None
    if (
        not isinstance(config, dict)
        or not config
        or not all(isinstance(v, dict) for v in config.values())
    ):
        raise BadRequest(ctx._('The settings must look like {"section": {"key": "value"}}.'))
    return config


@guard("site", *DEVICE_ROLES)
async def device_action(ctx: Ctx) -> Response:
    """Revoke, restart, reconfigure or decommission one device: first a confirmation
    page, then (``confirmed=yes``) the action, audited."""
    assert ctx.site_id is not None
    action = ctx.form.get("action", "")
    if action not in ("revoke", *ACTIONS):
        return await _devices_page(ctx, 400, error=ctx._("Choose what to do."))
    device = await _device_of_site(ctx, ctx.form.get("device_id", ""))
    config_text = ctx.form.get("config", "").strip()
    error = None
    if device["revoked"]:
        error = ctx._("This device is revoked: it can no longer be reached.")
    elif ctx.form.get("confirmed") == "yes":
        try:
            if action == "revoke":
                await revoke_device(ctx.pool, device["id"])
            else:
                args = {"config": _config(config_text, ctx)} if action == "reconfigure" else {}
                async with ctx.pool.connection() as conn:
                    await queue_command(conn, device["id"], action, args)
        except BadRequest as exc:
            error = exc.detail
        else:
            await ctx.audit(f"device.{action}", device["id"])
            return ctx.redirect(f"/sites/{ctx.site_id}/devices?done={action}")
    return await _site_page(
        ctx,
        "device_confirm.html",
        400 if error else 200,
        "devices",
        device=device,
        action=action,
        config=config_text,
        error=error,
    )

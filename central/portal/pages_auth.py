"""Sign-in (password, then a TOTP code; enrolment at the first sign-in), sign-out, and
the monitoring counters.

Throttling: 5 failed sign-ins (password or code) for an account within 10 minutes lock
it for the rest of those 10 minutes; 20 from one address do the same for the address.
The failures live in PostgreSQL (the account's row is locked while one is checked), so
every worker sees the same count. The fifth failure for an account, and the twentieth
from an address, log a WARNING (ids and the address, never the email or password) and
count in ``signin_alerts`` (``GET /admin/metrics``).
"""

from __future__ import annotations

import logging

import psycopg
from starlette.responses import Response

from central.portal import store
from central.portal.authz import Ctx, guard
from central.portal.security import (
    group_secret,
    hash_password,
    new_token,
    new_totp_secret,
    password_needs_rehash,
    totp_qr_svg,
    totp_uri,
    verify_password,
    verify_totp,
)
from central.portal.web import PRE_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie

__all__ = [
    "ACCOUNT_LOCK",
    "ADDRESS_LOCK",
    "metrics",
    "signin",
    "signin_form",
    "signout",
    "totp_form",
    "totp_qr",
    "totp_submit",
]

log = logging.getLogger(__name__)

ACCOUNT_LOCK = 5
ADDRESS_LOCK = 20


@guard("public")
async def signin_form(ctx: Ctx) -> Response:
    """The sign-in form (and its pre-sign-in CSRF cookie)."""
    pre = ctx.request.cookies.get(PRE_COOKIE, "")
    if not (20 <= len(pre) <= 64 and pre.replace("-", "").replace("_", "").isalnum()):
        pre = new_token()  # none yet, or not one of ours
    response = ctx.page("signin.html", csrf=pre, email="", error=None)
    set_cookie(response, ctx.request, PRE_COOKIE, pre)
    return response


async def _refuse(ctx: Ctx, template: str, status: int, error: str, **extra: object) -> Response:
    pre = ctx.request.cookies.get(PRE_COOKIE, "")
    csrf = pre if template == "signin.html" else (ctx.session.csrf_token if ctx.session else "")
    return ctx.page(template, status, csrf=csrf, error=error, **extra)


async def _failed(
    ctx: Ctx, conn: psycopg.AsyncConnection, admin_id: int | None, counts: tuple[int, int]
) -> None:
    """Record a failed sign-in; alert at the lockout threshold."""
    await store.record_failure(conn, admin_id, ctx.address, ctx.now)
    account, address = counts[0] + (admin_id is not None), counts[1] + 1
    if admin_id is not None and account == ACCOUNT_LOCK:
        log.warning(
            "failed sign-ins for an account: %d in 10 min from %s (admin %d); locked",
            account,
            ctx.address,
            admin_id,
        )
        await store.bump(conn, "signin_alerts")
    if address == ADDRESS_LOCK:
        log.warning(
            "failed sign-ins from one address: %d in 10 min from %s; locked", address, ctx.address
        )
        await store.bump(conn, "signin_alerts")
    await store.audit(
        conn, None, "signin.failed", None, str(admin_id) if admin_id else None, ctx.address
    )


def _locked(counts: tuple[int, int], admin_id: int | None) -> bool:
    return (admin_id is not None and counts[0] >= ACCOUNT_LOCK) or counts[1] >= ADDRESS_LOCK


@guard("public")
async def signin(ctx: Ctx) -> Response:
    """Check the email and password; on success a session waiting for its TOTP code."""
    email = ctx.form.get("email", "").strip()[:320]
    password = ctx.form.get("password", "")
    ok, locked, cookie = False, False, ""
    async with ctx.pool.connection() as conn, conn.transaction():
        found = await store.find_admin(conn, email) if email else None
        admin_id = found[0] if found else None
        counts = await store.failures(conn, admin_id, ctx.address, ctx.now)
        if _locked(counts, admin_id):
            await store.bump(conn, "signin_lockouts")
            await store.audit(
                conn, None, "signin.locked", None, str(admin_id) if admin_id else None, ctx.address
            )
            locked = True
        else:
            ok = verify_password(found[1] if found else None, password)
            if not ok:
                await _failed(ctx, conn, admin_id, counts)
            else:
                assert found is not None and admin_id is not None
                if password_needs_rehash(found[1]):
                    await conn.execute(
                        "UPDATE admins SET password_hash = %s WHERE id = %s",
                        [hash_password(password), admin_id],
                    )
                cookie = await store.create_session(conn, admin_id, "totp")
                await store.audit(conn, admin_id, "signin.password", None, None, ctx.address)
    if locked:
        return await _refuse(
            ctx,
            "signin.html",
            429,
            ctx._("Too many failed sign-ins. Wait 10 minutes and try again."),
            email=email,
        )
    if not ok:
        return await _refuse(
            ctx, "signin.html", 401, ctx._("Wrong email or password."), email=email
        )
    response = ctx.redirect("/totp")
    set_cookie(response, ctx.request, SESSION_COOKIE, cookie)
    return response


async def _totp_state(ctx: Ctx) -> tuple[str | None, str | None]:
    """``(enrolled secret, pending secret)``; makes a pending one when neither exists."""
    assert ctx.session is not None
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT totp_secret, totp_pending FROM admins WHERE id = %s FOR UPDATE",
            [ctx.session.admin_id],
        )
        row = await cur.fetchone()
        assert row is not None
        secret, pending = row
        if secret is None and pending is None:
            pending = new_totp_secret()
            await conn.execute(
                "UPDATE admins SET totp_pending = %s WHERE id = %s", [pending, ctx.session.admin_id]
            )
    return secret, pending


@guard("pending")
async def totp_form(ctx: Ctx) -> Response:
    """Enter the code; at the first sign-in, enrol first (QR code and the secret)."""
    secret, pending = await _totp_state(ctx)
    enrol = secret is None
    return ctx.page(
        "totp.html", enrol=enrol, secret=group_secret(pending or "") if enrol else "", error=None
    )


@guard("pending")
async def totp_qr(ctx: Ctx) -> Response:
    """The enrolment QR code (the otpauth URI) as SVG; 404 once enrolled."""
    secret, pending = await _totp_state(ctx)
    if secret is not None or pending is None or ctx.admin is None:
        return Response(status_code=404)
    return Response(
        totp_qr_svg(totp_uri(pending, ctx.admin.email)),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


@guard("pending")
async def totp_submit(ctx: Ctx) -> Response:
    """Check the code; on success, a new signed-in session replaces the waiting one."""
    assert ctx.session is not None
    admin_id = ctx.session.admin_id
    code = ctx.form.get("code", "")
    cookie: str | None = None
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT totp_secret, totp_pending, totp_last_step FROM admins WHERE id = %s FOR UPDATE",
            [admin_id],
        )
        row = await cur.fetchone()
        assert row is not None
        secret, pending, last_step = row
        counts = await store.failures(conn, admin_id, ctx.address, ctx.now)
        enrol = secret is None
        if _locked(counts, admin_id):
            await store.bump(conn, "signin_lockouts")
            await store.audit(conn, None, "signin.locked", None, str(admin_id), ctx.address)
            error, status = ctx._("Too many failed sign-ins. Wait 10 minutes and try again."), 429
        elif (step := verify_totp(secret or pending or "", code, ctx.now, last_step)) is None:
            await _failed(ctx, conn, admin_id, counts)
            error, status = ctx._("That code is not right. Try the newest code."), 401
        else:
            await conn.execute(
                "UPDATE admins SET totp_secret = %s, totp_pending = NULL, totp_last_step = %s"
                " WHERE id = %s",
                [secret or pending, step, admin_id],
            )
            await store.end_session(conn, ctx.session.id_hash)
            cookie = await store.create_session(conn, admin_id, "full")
            if enrol:
                await store.audit(conn, admin_id, "totp.enrol", None, None, ctx.address)
            await store.audit(conn, admin_id, "signin", None, None, ctx.address)
            await store.bump(conn, "signins")
    if cookie is None:
        return await _refuse(
            ctx,
            "totp.html",
            status,
            error,
            enrol=enrol,
            secret=group_secret(pending or "") if enrol else "",
        )
    response = ctx.redirect("/")
    set_cookie(response, ctx.request, SESSION_COOKIE, cookie)
    clear_cookie(response, ctx.request, PRE_COOKIE)
    return response


@guard("signed_in")
async def signout(ctx: Ctx) -> Response:
    """End the session."""
    assert ctx.session is not None
    async with ctx.pool.connection() as conn:
        await store.end_session(conn, ctx.session.id_hash)
    await ctx.audit("signout")
    response = ctx.redirect("/signin")
    clear_cookie(response, ctx.request, SESSION_COOKIE)
    return response


@guard("public")
async def metrics(ctx: Ctx) -> Response:
    """Monitoring counters (Prometheus text format): counts only, nothing personal."""
    async with ctx.pool.connection() as conn:
        values = await store.counters(conn)
    lines: list[str] = []
    for name, value in values.items():
        metric = f"tapin_portal_{name}_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {value}"]
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

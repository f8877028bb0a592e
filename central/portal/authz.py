"""Who may do what: one guard in front of every portal route.

Every endpoint is made with :func:`guard`, which names its :class:`Rule`; the portal
refuses to build with a route that has none (deny by default), and the authorization
matrix test reads the rules from the routes. The guard, before the page's own code runs:

- loads the session from its cookie (idle and absolute timeouts) and the admin;
- sends a visitor without a session to the sign-in page (403 for a POST);
- for a site route, finds the role of the admin at the site in the URL
  (``/sites/{site}/…``) and answers 403 unless it is one the rule names;
- for every POST, reads the form and checks its CSRF token against the session's (the
  sign-in form: against the pre-sign-in cookie); missing or wrong → 403, nothing done.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central.portal import store
from central.portal.store import Admin, Session
from central.portal.web import (
    PRE_COOKIE,
    SESSION_COOKIE,
    choose_language,
    client_address,
    gettext_for,
    read_form,
    read_upload,
    render,
)

__all__ = ["Ctx", "Deps", "Rule", "guard", "rule_of"]

log = logging.getLogger(__name__)

KINDS = ("public", "pending", "signed_in", "site", "global")


@dataclass(frozen=True, slots=True)
class Deps:
    """What the portal needs from central: its pool, its clock (which decides a site's
    "today"), and the invite key (invite QR codes)."""

    pool: Callable[[], AsyncConnectionPool]
    clock: Callable[[], datetime]
    invite_key: bytes


@dataclass(frozen=True, slots=True)
class Rule:
    """``kind``: ``public`` (anyone), ``pending`` (password right, code to come),
    ``signed_in`` (any admin), ``site`` (one of ``roles`` at the URL's site),
    ``global`` (global admins)."""

    kind: str
    roles: frozenset[str] = frozenset()

    def allows(self, admin: Admin | None, stage: str | None, site_id: str | None) -> bool:
        """Would this rule let ``admin`` (session ``stage``) in, at ``site_id``?"""
        if self.kind == "public":
            return True
        if self.kind == "pending":
            return stage == "totp"
        if admin is None or stage != "full":
            return False
        if self.kind == "signed_in":
            return True
        if self.kind == "global":
            return admin.is_global
        assert site_id is not None
        return admin.role_at(site_id) in self.roles


@dataclass(slots=True)
class Ctx:
    """One request as a page sees it."""

    request: Request
    deps: Deps
    language: str
    address: str
    now: datetime
    admin: Admin | None = None
    session: Session | None = None
    site_id: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """An upload route's files: field -> (file name, bytes)."""

    @property
    def pool(self) -> AsyncConnectionPool:
        return self.deps.pool()

    def _(self, text: str) -> str:
        return gettext_for(self.language)(text)

    @property
    def base(self) -> str:
        return str(self.request.scope.get("root_path", ""))

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """``template`` with the signed-in admin, CSRF token and site around ``context``."""
        return render(
            self.request,
            template,
            {
                "admin": self.admin if self.session and self.session.stage == "full" else None,
                "csrf": self.session.csrf_token if self.session else "",
                "site_id": self.site_id,
                "role": self.admin.role_at(self.site_id) if self.admin and self.site_id else None,
                **context,
            },
            language=self.language,
            status=status,
        )

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(self.base + path, status_code=303)

    async def audit(self, action: str, target: str | None = None) -> None:
        """Append ``action`` on ``target`` by this admin, at this site, to the audit log."""
        async with self.pool.connection() as conn:
            await store.audit(
                conn,
                self.admin.id if self.admin else None,
                action,
                self.site_id,
                target,
                self.address,
            )


Page = Callable[[Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def guard(kind: str, *roles: str, upload: bool = False) -> Callable[[Page], Endpoint]:
    """Make ``page`` a route endpoint behind :class:`Rule` ``(kind, roles)``; with
    ``upload``, its POST may be ``multipart/form-data`` (one file, see
    :func:`central.portal.web.read_upload`). Raises :class:`ValueError` for a bad rule."""
    if kind not in KINDS:
        raise ValueError(f"unknown rule kind {kind!r}")
    if (kind == "site") != bool(roles) or not set(roles) <= set(store.ROLES):
        raise ValueError("a site rule names its roles (and only a site rule does)")
    rule = Rule(kind, frozenset(roles))

    def wrap(page: Page) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return await _run(request, rule, page, upload)

        endpoint.__name__ = page.__name__
        endpoint.__doc__ = page.__doc__
        endpoint.portal_rule = rule  # type: ignore[attr-defined]
        return endpoint

    return wrap


def rule_of(endpoint: object) -> Rule | None:
    """The rule of a guarded endpoint, ``None`` for anything else."""
    found = getattr(endpoint, "portal_rule", None)
    return found if isinstance(found, Rule) else None


async def _run(request: Request, rule: Rule, page: Page, upload: bool = False) -> Response:
    deps: Deps = request.app.state.portal
    ctx = Ctx(
        request,
        deps,
        choose_language(request),
        client_address(request),
        datetime.now(UTC),
    )
    post = request.method == "POST"
    if rule.kind == "public":
        if post:
            ctx.form = await read_form(request)
            pre = request.cookies.get(PRE_COOKIE, "")
            if not pre or not hmac.compare_digest(pre, ctx.form.get("csrf", "")):
                return await _csrf_refused(ctx)
        return await page(ctx)
    async with deps.pool().connection() as conn:
        ctx.session = await store.load_session(conn, request.cookies.get(SESSION_COOKIE), ctx.now)
        if ctx.session is not None:
            ctx.admin = await store.load_admin(conn, ctx.session.admin_id)
    if ctx.admin is not None:
        ctx.language = choose_language(request, ctx.admin.language)
    stage = ctx.session.stage if ctx.session and ctx.admin else None
    if rule.kind == "site":
        ctx.site_id = str(request.path_params["site"])
    if not rule.allows(ctx.admin, stage, ctx.site_id):
        if post:
            return ctx.page("error.html", 403, message=ctx._("Sign in again to do this."))
        if stage is None:
            return ctx.redirect("/signin")
        if stage == "totp" and rule.kind != "pending":
            return ctx.redirect("/totp")
        if rule.kind == "pending":
            return ctx.redirect("/")
        log.info(
            "portal: admin %s refused %s %s",
            ctx.admin and ctx.admin.id,
            request.method,
            request.url.path,
        )
        return ctx.page("error.html", 403, message=ctx._("You do not have access to this page."))
    if post:
        if upload:
            ctx.form, ctx.files = await read_upload(request)
        else:
            ctx.form = await read_form(request)
        assert ctx.session is not None
        if not hmac.compare_digest(ctx.session.csrf_token, ctx.form.get("csrf", "")):
            return await _csrf_refused(ctx)
    return await page(ctx)


async def _csrf_refused(ctx: Ctx) -> Response:
    async with ctx.pool.connection() as conn:
        await store.bump(conn, "csrf_refused")
    log.warning("portal: a form without its CSRF token was refused (%s)", ctx.request.url.path)
    return ctx.page(
        "error.html", 403, message=ctx._("This form has expired. Reload the page and try again.")
    )

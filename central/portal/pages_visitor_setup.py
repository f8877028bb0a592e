"""A site's visitor types and terms versions, edited by site admins and global admins:
the same fields and checks as ``tapin central visitor-type`` and ``tapin central terms``
(:mod:`central.visitor_setup` does the storing and the checking).

Lobby kiosks follow at their next ``kiosk`` snapshot, which is built from these rows.
Every change is audited with the type id or the terms version as its target (no text,
no names of people).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from central.errors import BadRequest
from central.portal.authz import Ctx, guard
from central.portal.pages_site import _site
from central.portal.web import FORM_LIMIT
from central.visitor_setup import (
    MAX_TERMS,
    STEPS,
    VisitorType,
    current_terms,
    publish_terms,
    remove_visitor_type,
    set_visitor_type,
    terms_versions,
    visitor_types,
)

__all__ = ["terms", "terms_publish", "type_remove", "type_save", "types"]

SETUP_ROLES = ("global", "site_admin")
_TYPE_FIELDS = ("type_id", "name_en", "name_sv", "steps", "position")
_TERMS_FIELDS = ("version", "title_en", "text_en", "title_sv", "text_sv")


def _said(ctx: Ctx, detail: str) -> str:
    """central.visitor_setup's English refusal in the admin's language."""
    known = {
        "a visitor type id is 1-32 of a-z, 0-9, '-', '_'": ctx._(
            "The id is 1 to 32 of a-z, 0-9, '-' and '_', starting with a letter or digit."
        ),
        "a visitor type needs an English name, each name 1-60 characters": ctx._(
            "A visitor type needs an English name; each name is 1 to 60 characters."
        ),
        f"steps are distinct names from: {', '.join(STEPS)}": ctx._(
            "Steps are names from {steps}, each at most once."
        ).format(steps=", ".join(STEPS)),
        "a signature is drawn at the terms step: add 'terms' to the steps": ctx._(
            "A signature is drawn at the terms step: add terms to the steps."
        ),
        "a terms version is 1-64 of A-Z, a-z, 0-9, '.', '-', '_'": ctx._(
            "A version is 1 to 64 of A-Z, a-z, 0-9, '.', '-' and '_', e.g. 2026-12-01."
        ),
    }
    return known.get(detail, detail)


async def _types_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        found = await visitor_types(conn, site.id)
    return ctx.page(
        "visitor_types.html",
        status,
        site=site,
        sites=sites,
        nav="visitor_setup",
        types=found,
        all_steps=STEPS,
        form=extra.pop("form", None)
        or {**dict.fromkeys(_TYPE_FIELDS, ""), "signature": False, "position": "0"},
        editing=extra.pop("editing", False),
        confirm=extra.pop("confirm", None),
        error=extra.pop("error", None),
        done=ctx.request.query_params.get("done"),
        **extra,
    )


def _form_of(vtype: VisitorType) -> dict[str, Any]:
    return {
        "type_id": vtype.id,
        "name_en": vtype.names.get("en", ""),
        "name_sv": vtype.names.get("sv", ""),
        "steps": ", ".join(vtype.steps),
        "signature": vtype.signature,
        "position": str(vtype.position),
    }


@guard("site", *SETUP_ROLES)
async def types(ctx: Ctx) -> Response:
    """The site's visitor types and the form to add one (``?edit=ID``: change that one)."""
    wanted = ctx.request.query_params.get("edit")
    if wanted is None:
        return await _types_page(ctx)
    async with ctx.pool.connection() as conn:
        found = [t for t in await visitor_types(conn, str(ctx.site_id)) if t.id == wanted]
    if not found:
        return await _types_page(ctx, 404, error=ctx._("There is no such visitor type here."))
    return await _types_page(ctx, form=_form_of(found[0]), editing=True)


def _read_type(ctx: Ctx) -> VisitorType:
    """The form as the CLI reads its options, checked by :meth:`VisitorType.check`.
    Raises :class:`BadRequest` with a message in the admin's language."""
    names = {"en": ctx.form.get("name_en", "").strip()}
    if ctx.form.get("name_sv", "").strip():
        names["sv"] = ctx.form["name_sv"].strip()
    steps = tuple(s.strip() for s in ctx.form.get("steps", "").split(",") if s.strip())
    position = ctx.form.get("position", "").strip() or "0"
    if not position.lstrip("-").isdigit() or not -1000 <= int(position) <= 1000:
        raise BadRequest(ctx._("The position is a whole number from -1000 to 1000."))
    vtype = VisitorType(
        ctx.form.get("type_id", "").strip(),
        names,
        steps,
        ctx.form.get("signature") == "on",
        int(position),
    )
    try:
        vtype.check()
    except BadRequest as exc:
        raise BadRequest(_said(ctx, exc.detail)) from None
    return vtype


@guard("site", *SETUP_ROLES)
async def type_save(ctx: Ctx) -> Response:
    """Add a visitor type or replace the one with that id (audited: ``visitor_type.set``)."""
    try:
        vtype = _read_type(ctx)
    except BadRequest as exc:
        shown: dict[str, Any] = {k: ctx.form.get(k, "") for k in _TYPE_FIELDS}
        shown["signature"] = ctx.form.get("signature") == "on"
        return await _types_page(
            ctx, 400, form=shown, editing=ctx.form.get("editing") == "yes", error=exc.detail
        )
    await set_visitor_type(ctx.pool, str(ctx.site_id), vtype)
    await ctx.audit("visitor_type.set", vtype.id)
    return ctx.redirect(f"/sites/{ctx.site_id}/visitor-types?done=saved")


@guard("site", *SETUP_ROLES)
async def type_remove(ctx: Ctx) -> Response:
    """Ask, then (``confirmed=yes``) remove a visitor type; past sign-ins keep its id
    (audited: ``visitor_type.remove``)."""
    type_id = ctx.form.get("type_id", "")
    async with ctx.pool.connection() as conn:
        found = [t for t in await visitor_types(conn, str(ctx.site_id)) if t.id == type_id]
    if not found:
        return await _types_page(ctx, 404, error=ctx._("There is no such visitor type here."))
    if ctx.form.get("confirmed") != "yes":
        return await _types_page(ctx, confirm=found[0])
    await remove_visitor_type(ctx.pool, str(ctx.site_id), type_id)
    await ctx.audit("visitor_type.remove", type_id)
    return ctx.redirect(f"/sites/{ctx.site_id}/visitor-types?done=removed")


async def _terms_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    async with ctx.pool.connection() as conn:
        site, sites = await _site(conn, ctx)
        current = await current_terms(conn, site.id)
        versions = sorted(await terms_versions(conn, site.id))
    return ctx.page(
        "terms.html",
        status,
        site=site,
        sites=sites,
        nav="visitor_setup",
        terms=current,
        versions=versions,
        form=extra.pop("form", None) or dict.fromkeys(_TERMS_FIELDS, ""),
        error=extra.pop("error", None),
        done=ctx.request.query_params.get("done"),
        **extra,
    )


@guard("site", *SETUP_ROLES)
async def terms(ctx: Ctx) -> Response:
    """The current terms in every language, the versions published, the publish form."""
    return await _terms_page(ctx)


def _read_terms(ctx: Ctx, versions: set[str]) -> tuple[str, list[tuple[str, str, str]]]:
    """The version and its (language, title, text) documents. Raises :class:`BadRequest`
    (the English document missing, a half-filled Swedish one, a text too long for the
    form, a version published already)."""
    version = ctx.form.get("version", "").strip()
    documents: list[tuple[str, str, str]] = []
    for lang in ("en", "sv"):
        title = ctx.form.get(f"title_{lang}", "").strip()
        text = ctx.form.get(f"text_{lang}", "").replace("\r\n", "\n").strip()  # as a file reads
        if lang == "sv" and not title and not text:
            continue
        if len(ctx.form.get(f"text_{lang}", "")) >= FORM_LIMIT:
            raise BadRequest(
                ctx._("A text is longer than {n} characters: publish it with the CLI.").format(
                    n=FORM_LIMIT - 1
                )
            )
        if not 0 < len(title) <= 200 or not 0 < len(text) <= MAX_TERMS:
            raise BadRequest(
                ctx._("Each language needs a title (at most 200 characters) and a text.")
            )
        documents.append((lang, title, text))
    if version in versions:
        raise BadRequest(
            ctx._("Version {version} is published already: choose a new version id.").format(
                version=version
            )
        )
    return version, documents


@guard("site", *SETUP_ROLES, upload=True)
async def terms_publish(ctx: Ctx) -> Response:
    """Publish a new terms version in English (and Swedish), as ``tapin central terms``
    does; it becomes the current one (audited: ``terms.publish``)."""
    site_id = str(ctx.site_id)
    async with ctx.pool.connection() as conn:
        versions = await terms_versions(conn, site_id)
    try:
        version, documents = _read_terms(ctx, versions)
        for lang, title, text in documents:
            await publish_terms(ctx.pool, site_id, version, lang, title, text)
    except BadRequest as exc:
        form = {k: ctx.form.get(k, "") for k in _TERMS_FIELDS}
        return await _terms_page(ctx, 400, form=form, error=_said(ctx, exc.detail))
    await ctx.audit("terms.publish", version)
    return ctx.redirect(f"/sites/{site_id}/terms?done=published")

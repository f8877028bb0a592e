"""The portal's HTTP plumbing: languages, templates, forms, cookies, security headers.

Texts are English in the templates and code (``_("…")``) and Swedish from the project's
catalogue (``assets/locale/sv/LC_MESSAGES/tapin.po``), chosen per request: the admin's
own setting when signed in, else the browser's ``Accept-Language``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send

import assets
from central.web import HttpMiddleware

__all__ = [
    "LANGUAGES",
    "PRE_COOKIE",
    "SESSION_COOKIE",
    "SecurityHeaders",
    "choose_language",
    "clear_cookie",
    "client_address",
    "gettext_for",
    "read_form",
    "read_upload",
    "render",
    "set_cookie",
]

LANGUAGES = ("en", "sv")
SESSION_COOKIE = "tapin_admin"
PRE_COOKIE = "tapin_admin_pre"
"""Before sign-in: a random value the sign-in form must echo (double-submit CSRF)."""
FORM_LIMIT = 16 * 1024
UPLOAD_LIMIT = 8 * 1024 * 1024 + 64 * 1024
"""An upload form: the floor importer's 8 MiB file and its few fields."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "testserver")


@lru_cache(maxsize=len(LANGUAGES))
def _catalogue(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    path = assets.path("locale") / language / "LC_MESSAGES" / "tapin.po"
    if not path.exists():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and m.string and not m.fuzzy and isinstance(m.id, str)
    }


def gettext_for(language: str) -> Callable[[str], str]:
    """``_`` for one language: the Swedish text, or the English one when none exists."""
    messages = _catalogue(language if language in LANGUAGES else "en")
    return lambda text: messages.get(text, text)


def choose_language(request: Request, preferred: str | None = None) -> str:
    """``preferred`` (the admin's setting) if it is one we have, else the best of the
    browser's ``Accept-Language``, else English."""
    if preferred in LANGUAGES:
        return str(preferred)
    offers: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "")[:400].split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES:
            offers.append((quality, language))
    return max(offers, key=lambda o: o[0])[1] if offers else "en"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("central.portal", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    language: str,
    status: int = 200,
) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``_``, ``lang`` and ``base`` (the
    portal's URL prefix, e.g. ``/admin``); never cached by the browser."""
    full = {
        "_": gettext_for(language),
        "lang": language,
        "base": request.scope.get("root_path", ""),
        "admin": None,
        "csrf": "",
        "sites": [],
        "site": None,
        "nav": "",
        "role": None,
        **context,
    }
    html = _ENV.get_template(template).render(full)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (at most 16 KiB; the first value of
    each field). Anything else, or more, is an empty form (the CSRF check then refuses)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return {}
    form: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    return form


async def read_upload(request: Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A ``multipart/form-data`` body with a declared length of at most
    :data:`UPLOAD_LIMIT`: its text fields and its one file (``field -> (name, bytes)``).
    An url-encoded body is read as :func:`read_form` does; anything else, or more, is an
    empty form (the CSRF check then refuses)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        return await read_form(request), {}
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > UPLOAD_LIMIT:
        return {}, {}
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    try:
        async with request.form(max_files=1, max_fields=20) as parsed:
            for key, value in parsed.multi_items():
                if isinstance(value, str):
                    form.setdefault(key, value[:FORM_LIMIT])
                elif key not in files:
                    files[key] = (value.filename or "", await value.read())
    except HTTPException:  # malformed, or too many parts
        return {}, {}
    return form, files


def client_address(request: Request) -> str:
    """The client's address (uvicorn has applied X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    """Secure cookies always, except over plain http to a local address (tests, a
    developer's machine): a browser would not send them back there."""
    return not (request.url.scheme == "http" and request.url.hostname in _LOCAL_HOSTS)


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """An HttpOnly, SameSite=Strict cookie for the portal's path, Secure (see above);
    a browser-session cookie: the server enforces the idle and absolute timeouts."""
    response.set_cookie(
        name,
        value,
        path=request.scope.get("root_path", "") or "/",
        httponly=True,
        secure=_secure(request),
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name,
        path=request.scope.get("root_path", "") or "/",
        httponly=True,
        secure=_secure(request),
        samesite="strict",
    )


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: CSP, framing, referrer and sniffing headers on every answer."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

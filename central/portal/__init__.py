"""The admin portal: server-rendered pages for the people who run offices, mounted by
central's app under ``/admin`` (see ``docs/portal.md``).

:func:`portal_app` builds it. Every route is a :func:`central.portal.authz.guard`-ed
endpoint; building fails for a route without a rule (deny by default).
"""

from __future__ import annotations

import logging
import traceback
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from central.errors import ServerError
from central.portal import (
    pages_admins,
    pages_auth,
    pages_devices,
    pages_people,
    pages_rooms,
    pages_site,
    pages_visitor_setup,
)
from central.portal.authz import Deps, rule_of
from central.portal.web import SecurityHeaders, choose_language, gettext_for, render
from central.web import HttpMiddleware

__all__ = ["Deps", "portal_app", "portal_routes"]

log = logging.getLogger(__name__)


def portal_routes() -> list[BaseRoute]:
    """Every portal route (paths relative to ``/admin``)."""
    static = StaticFiles(directory=str(resources.files("central.portal").joinpath("static")))
    return [
        Route("/", pages_site.home, methods=["GET"]),
        Route("/signin", pages_auth.signin_form, methods=["GET"]),
        Route("/signin", pages_auth.signin, methods=["POST"]),
        Route("/totp", pages_auth.totp_form, methods=["GET"]),
        Route("/totp", pages_auth.totp_submit, methods=["POST"]),
        Route("/totp/qr.svg", pages_auth.totp_qr, methods=["GET"]),
        Route("/signout", pages_auth.signout, methods=["POST"]),
        Route("/metrics", pages_auth.metrics, methods=["GET"]),
        Route("/audit", pages_site.audit_all, methods=["GET"]),
        Route("/sites/{site}", pages_site.dashboard, methods=["GET"]),
        Route("/sites/{site}/visitors", pages_site.visitors, methods=["GET"]),
        Route("/sites/{site}/invites", pages_site.invite, methods=["POST"]),
        Route("/sites/{site}/evacuation", pages_site.evacuation, methods=["GET"]),
        Route("/sites/{site}/audit", pages_site.audit_site, methods=["GET"]),
        Route("/sites/{site}/devices", pages_devices.devices, methods=["GET"]),
        Route("/sites/{site}/devices/enroll", pages_devices.enroll_code, methods=["POST"]),
        Route("/sites/{site}/devices/action", pages_devices.device_action, methods=["POST"]),
        Route("/sites/{site}/rooms", pages_rooms.rooms, methods=["GET"]),
        Route("/sites/{site}/rooms/edit", pages_rooms.room_edit, methods=["GET"]),
        Route("/sites/{site}/rooms/edit", pages_rooms.room_save, methods=["POST"]),
        Route("/sites/{site}/desks/state", pages_rooms.desk_state, methods=["POST"]),
        Route("/sites/{site}/floors", pages_rooms.floor_upload, methods=["POST"]),
        Route("/sites/{site}/people", pages_people.people, methods=["GET"]),
        Route("/sites/{site}/people/visibility", pages_people.visibility, methods=["POST"]),
        Route("/sites/{site}/people/forget", pages_people.forget_confirm, methods=["GET"]),
        Route("/sites/{site}/people/forget", pages_people.forget, methods=["POST"]),
        Route("/sites/{site}/retention", pages_people.retention, methods=["GET"]),
        Route("/sites/{site}/visitor-types", pages_visitor_setup.types, methods=["GET"]),
        Route("/sites/{site}/visitor-types", pages_visitor_setup.type_save, methods=["POST"]),
        Route(
            "/sites/{site}/visitor-types/remove",
            pages_visitor_setup.type_remove,
            methods=["POST"],
        ),
        Route("/sites/{site}/terms", pages_visitor_setup.terms, methods=["GET"]),
        Route("/sites/{site}/terms", pages_visitor_setup.terms_publish, methods=["POST"]),
        Route("/admins", pages_admins.admins, methods=["GET"]),
        Route("/admins/create", pages_admins.admin_create, methods=["POST"]),
        Route("/admins/change", pages_admins.admin_change, methods=["POST"]),
        Route("/admins/sites", pages_admins.site_create, methods=["POST"]),
        Mount("/static", app=static, name="static"),
    ]


async def _error(request: Request, status: int, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"message": message},
        language=choose_language(request),
        status=status,
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServerError)
    return await _error(request, exc.status, exc.detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return await _error(request, exc.status_code, str(exc.detail))


class Unexpected(HttpMiddleware):
    """ASGI middleware: any other error is logged (its type and frames) and answered with
    the HTML error page (status 500) that says nothing of what went wrong; an error after
    the answer began is logged and the connection closed."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            request = Request(scope)
            # the type and the frames, not the message: it could quote a row (an email)
            log.error(
                "portal: %s %s failed (%s)\n%s",
                request.method,
                request.url.path,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if started:
                return
            message = gettext_for(choose_language(request))(
                "Something went wrong on the server. Try again; if it keeps happening, "
                "tell your technician when it happened."
            )
            response = await _error(request, 500, message)
            await response(scope, receive, send)


def portal_app(deps: Deps) -> Starlette:
    """The portal as an ASGI app, to mount at ``/admin``.

    Raises :class:`RuntimeError` when a route has no authorization rule."""
    routes = portal_routes()
    for route in routes:
        if isinstance(route, Route) and rule_of(route.endpoint) is None:
            raise RuntimeError(f"portal route {route.path} has no authorization rule")
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(Unexpected)],
        exception_handlers={
            ServerError: _server_error,
            HTTPException: _http_error,
        },
    )
    app.state.portal = deps
    return app

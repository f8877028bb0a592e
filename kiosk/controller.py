"""What the kiosk's visitors do: sign in and sign out. Every action is a sealed event in
the queue (:class:`tapin.pending.PendingActions`), for the lobby ``lobby:<id>``.

* :meth:`KioskController.sign_in` builds ``visitor.signin`` (:class:`VisitorSignin`) from
  a finished :class:`kiosk.flow.Draft`: a fresh visitor id and badge token, the terms
  version accepted, the photo and the drawn signature (made into a PNG on a worker
  thread) as base64.
* :meth:`KioskController.sign_out` builds ``visitor.signout`` (``via`` list, badge or
  reception).

The kiosk remembers its own sign-ins since it started (memory only: names, companies
and hosts, never photos or signatures) so that the sign-out list and the evacuation
list work offline; :meth:`on_site` merges them with central's ``visitors`` snapshot when
it has one. :meth:`notified` says whether a host was told, honestly: ``offline`` while
the sign-in waits in the queue and central cannot be reached.

It never logs personal data: ids, types and counts only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from kiosk.flow import DEFAULT_TYPE, Draft, SignInFlow
from kiosk.signature import SignatureError, signature_png
from kiosk.validate import MAX_COMPANY_CHARS, check_company, check_email, check_name, clean
from sync.events import (
    BADGE_QR_PREFIX,
    MAX_ID,
    MAX_PHOTO_BYTES,
    SIGNOUT_VIA,
    Code,
    EventType,
    VisitorSignin,
    VisitorSignout,
)
from tapin.calendar import day_bounds, site_day
from tapin.device.runtime import Runtime
from tapin.device.snapshots import Invite, VisitorsToday
from tapin.i18n import _
from tapin.pending import ActionError, PendingActions, Rejected

if TYPE_CHECKING:
    from sync.queue import EventSink

__all__ = ["NOTIFY_STATES", "KioskController", "OnSiteRow", "Visit"]

log = logging.getLogger(__name__)

NOTIFY_STATES = ("pending", "delivered", "failed", "reception", "offline")
"""``pending``: not told yet; ``delivered``: the host was told; ``failed``: telling the
host gave up, reception was told; ``reception``: no host given, reception was told;
``offline``: the sign-in waits in this kiosk's queue and central cannot be reached."""
MAX_BADGE_TEXT = 400
SNAPSHOT_LAG = timedelta(seconds=30)
"""A ``visitors`` snapshot taken this long after central confirmed a sign-in shows it
(one fetched meanwhile may have been made before): missing from it, it left."""
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
"""A JPEG or a PNG: the photos central accepts."""


@dataclass
class Visit:
    """A sign-in made at this kiosk since it started (memory only)."""

    visitor_id: str
    name: str
    company: str
    host_id: str | None
    visitor_type: str
    signed_in_at: datetime
    badge_token: str
    invite_id: str | None = None
    confirmed_at: datetime | None = None
    """When central applied it (``None`` while it waits in the queue)."""

    def __repr__(self) -> str:  # names are personal data: keep them out of reprs
        return f"Visit(visitor_id={self.visitor_id!r})"


@dataclass(frozen=True, slots=True)
class OnSiteRow:
    """A visitor on site now, for the sign-out and evacuation lists."""

    visitor_id: str
    name: str
    company: str
    host_id: str | None
    visitor_type: str
    since: datetime
    local: bool
    """Known from this kiosk's own memory only (central's snapshot does not have it yet)."""

    def __repr__(self) -> str:
        return f"OnSiteRow(visitor_id={self.visitor_id!r})"


class KioskController(PendingActions):
    """The lobby kiosk's actions, for the lobby ``lobby_id``."""

    def __init__(self, runtime: Runtime, lobby_id: str, sink: EventSink) -> None:
        super().__init__(
            sink,
            clock=lambda: runtime.clock(),
            zone=lambda: runtime.site.timezone,
            h24=lambda: runtime.h24,
        )
        self.runtime = runtime
        self.lobby_id = lobby_id
        self.visits: dict[str, Visit] = {}
        self._signed_out: set[str] = set()
        self._events: dict[str, str] = {}
        """Event id -> visitor id, for the sign-ins waiting for central."""

    @property
    def resource(self) -> str:
        return f"lobby:{self.lobby_id}"

    # the state of things ---------------------------------------------------------------

    def offline(self) -> bool:
        """Central cannot be reached (or this kiosk is not connected at all)."""
        status = self.runtime.sync_status
        if status is None:
            return False
        return bool(getattr(status, "problem", None)) or getattr(status, "reachable", None) is False

    def waiting(self) -> int:
        """Events not yet delivered to central (for reception's notice)."""
        status = self.runtime.sync_status
        if status is not None and hasattr(status, "pending"):
            return int(status.pending) + int(getattr(status, "inflight", 0))
        return len(self.pending_ids())

    def today(self) -> VisitorsToday | None:
        """Central's ``visitors`` snapshot, when it is today's."""
        snapshot = self.runtime.visitors
        now = self.clock()
        if snapshot is None or snapshot.day != site_day(now, self.runtime.site.timezone):
            return None
        return snapshot

    def _end_of_day(self, now: datetime) -> datetime | None:
        settings = self.runtime.kiosk
        if settings is None or settings.end_of_day == time(0):
            return None
        zone = self.runtime.site.timezone
        return datetime.combine(site_day(now, zone), settings.end_of_day, tzinfo=zone)

    def on_site(self) -> list[OnSiteRow]:
        """Who is signed in now: central's snapshot, and this kiosk's own sign-ins the
        snapshot does not show yet; less those signed out here. By name."""
        now = self.clock()
        start, _end = day_bounds(
            site_day(now, self.runtime.site.timezone), self.runtime.site.timezone
        )
        self._forget_before(start)
        snapshot = self.today()
        rows: dict[str, OnSiteRow] = {}
        if snapshot is not None:
            for v in snapshot.signed_in:
                rows[v.visitor_id] = OnSiteRow(
                    v.visitor_id,
                    v.name,
                    v.company,
                    v.host_id,
                    v.visitor_type,
                    v.signed_in_at,
                    False,
                )
        received = snapshot.received_at if snapshot is not None else None
        for visit in self.visits.values():
            if visit.visitor_id in rows or visit.signed_in_at < start:
                continue
            if (
                received is not None
                and visit.confirmed_at is not None
                and received > visit.confirmed_at + SNAPSHOT_LAG
            ):
                continue  # central has it and no longer lists it: signed out elsewhere
            rows[visit.visitor_id] = OnSiteRow(
                visit.visitor_id,
                visit.name,
                visit.company,
                visit.host_id,
                visit.visitor_type,
                visit.signed_in_at,
                True,
            )
        closing = self._end_of_day(now)
        shown = [
            row
            for row in rows.values()
            if row.visitor_id not in self._signed_out
            and not (closing is not None and now >= closing > row.since)
        ]
        return sorted(shown, key=lambda r: (r.name.casefold(), r.visitor_id))

    def _forget_before(self, start: datetime) -> None:
        """Yesterday's visitors leave this kiosk's memory (their names with them)."""
        old = [v.visitor_id for v in self.visits.values() if v.signed_in_at < start]
        for visitor_id in old:
            if visitor_id not in self._events.values():  # still waiting for central
                del self.visits[visitor_id]
                self._signed_out.discard(visitor_id)

    def find(self, visitor_id: str) -> OnSiteRow | None:
        return next((r for r in self.on_site() if r.visitor_id == visitor_id), None)

    def notified(self, visitor_id: str) -> str:
        """Whether the host (or reception) was told of this visitor: one of
        :data:`NOTIFY_STATES`."""
        snapshot = self.today()
        entry = snapshot.on_site(visitor_id) if snapshot is not None else None
        if entry is not None and entry.notified != "pending":
            return entry.notified
        visit = self.visits.get(visitor_id)
        if visit is not None and visit.confirmed_at is None and self.offline():
            return "offline"
        return "pending"

    # actions ---------------------------------------------------------------------------

    def new_flow(self, *, camera: Callable[[], bool] = lambda: False) -> SignInFlow:
        """A visitor's sign-in over this kiosk's settings, directory and invites of the
        moment (all in the runtime's memory)."""
        return SignInFlow(
            lambda: self.runtime.kiosk,
            camera=camera,
            directory=lambda: self.runtime.directory,
            invites=self.invites,
        )

    def invites(self) -> tuple[Invite, ...]:
        """Today's invites not yet used (central's snapshot, less this kiosk's own)."""
        today = self.today()
        if today is None:
            return ()
        used = {v.invite_id for v in self.visits.values() if v.invite_id}
        return tuple(i for i in today.invites if i.id not in used)

    def _asked(self, type_id: str | None) -> tuple[str, ...] | None:
        settings = self.runtime.kiosk
        types = settings.visitor_types if settings is not None else (DEFAULT_TYPE,)
        kind = next((t for t in types if t.id == type_id), None)
        if kind is None:
            return None
        return (*kind.steps, *(("signature",) if kind.signature else ()))

    async def sign_in(self, draft: Draft) -> Visit:
        """Queue the visitor's sign-in; returns the visit at once (its badge token is
        for the badge) while central is told in the background. Only what the visitor
        type asks for is sent. Raises :class:`ActionError` (in words for the screen)
        when an answer is missing or wrong, or the event cannot be saved."""
        name = check_name(draft.name)
        if not name.ok:
            raise ActionError(name.problem)
        asked = self._asked(draft.visitor_type)
        if asked is None:
            raise ActionError(_("Please choose what brings you here"))
        invite = draft.invite
        invite_id = invite.id if invite is not None else None
        company = ""
        if invite is not None:
            company = clean(invite.company, MAX_COMPANY_CHARS).strip()
        elif "company" in asked:
            checked = check_company(draft.company)
            if not checked.ok:
                raise ActionError(checked.problem)
            company = checked.value
        email = ""
        if "email" in asked and invite is None:  # an invite's email is central's own
            checked = check_email(draft.email)
            if not checked.ok:
                raise ActionError(checked.problem)
            email = checked.value
        host_id: str | None = None
        if invite is not None:
            host_id = invite.host_id
        elif "host" in asked:
            if not draft.host_chosen:
                raise ActionError(_("Please choose who you are visiting"))
            host_id = draft.host_id
            if host_id is not None and self.runtime.directory.get(host_id) is None:
                raise ActionError(_("Please choose who you are visiting"))
        terms = self.runtime.kiosk.terms if self.runtime.kiosk is not None else None
        terms_version: str | None = None
        if "terms" in asked and terms is not None:
            if not draft.accepted or draft.terms_version != terms.version:
                raise ActionError(_("Please read and accept the visitor terms"))
            terms_version = terms.version
        photo = draft.photo if "photo" in asked else None
        if photo is not None and len(photo) > MAX_PHOTO_BYTES:
            raise ActionError(_("The photo is too large"))
        if photo and not photo.startswith(IMAGE_MAGIC):  # central takes JPEG or PNG only
            raise ActionError(_("The photo could not be used; please take it again"))
        signature = None
        if "signature" in asked and terms_version is not None:
            if not any(len(stroke) > 1 for stroke in draft.signature):
                raise ActionError(_("Please sign with your finger in the box"))
            try:
                png = await asyncio.to_thread(
                    signature_png, draft.signature, draft.signature_aspect
                )
            except SignatureError:
                raise ActionError(_("Please sign again: the signature could not be read")) from None
            signature = base64.b64encode(png).decode("ascii")
        visit = Visit(
            visitor_id=f"v-{uuid.uuid4()}",
            name=name.value,
            company=company,
            host_id=host_id,
            visitor_type=str(draft.visitor_type),
            signed_in_at=self.clock(),
            badge_token=secrets.token_urlsafe(24),
            invite_id=invite_id,
        )
        event = VisitorSignin(
            visitor_id=visit.visitor_id,
            name=visit.name,
            host_id=host_id,
            accepted_terms=terms_version is not None,
            company=company,
            email=email,
            visitor_type=visit.visitor_type,
            terms_version=terms_version,
            invite_id=invite_id,
            photo=base64.b64encode(photo).decode("ascii") if photo else None,
            signature=signature,
            badge_token=visit.badge_token,
        )
        self.visits[visit.visitor_id] = visit

        def confirm() -> None:
            visit.confirmed_at = self.clock()

        def undo() -> None:
            self.visits.pop(visit.visitor_id, None)

        event_id = await self.send(event, self.resource, undo=undo, confirm=confirm)
        self._events[event_id] = visit.visitor_id
        log.info("visitor %s signed in (%s)", visit.visitor_id, visit.visitor_type)
        return visit

    async def sign_out(
        self, visitor_id: str, *, via: str = "list", badge_token: str | None = None
    ) -> None:
        """Queue the visitor's sign-out; they leave the lists at once. A badge's token
        must be the one this kiosk printed (a visitor signed in at another kiosk: central
        checks it). Raises :class:`ValueError` for a ``via`` outside
        :data:`sync.events.SIGNOUT_VIA`, :class:`ActionError` when the badge is not the
        visitor's or the event cannot be saved (they stay in the lists)."""
        if via not in SIGNOUT_VIA:
            raise ValueError(f"via must be one of {SIGNOUT_VIA}, got {via!r}")
        if via == "badge" and (
            badge_token is None or self.badge_matches(visitor_id, badge_token) is False
        ):
            log.info("a badge for visitor %s did not match", visitor_id)
            raise ActionError(_("This badge is not valid; please sign out from the list"))
        self._signed_out.add(visitor_id)
        await self.send(
            VisitorSignout(visitor_id=visitor_id, via=via, badge_token=badge_token),
            self.resource,
            undo=lambda: self._signed_out.discard(visitor_id),
        )
        log.info("visitor %s signed out (%s)", visitor_id, via)

    async def sign_out_badge(self, text: object) -> OnSiteRow | None:
        """A badge's QR code (``TAPIN-OUT:<visitor_id>:<badge_token>``) shown to the
        camera: sign that visitor out. Returns who left (``None``: a visitor this kiosk
        does not list, signed out anyway, central checks the badge). Raises
        :class:`ActionError` for a code that is not a badge, a badge whose token does
        not match, a visitor already signed out, or when it cannot be saved."""
        code = _badge_code(text)
        if code is None:
            raise ActionError(_("This is not a Tapin visitor badge"))
        visitor_id, token = code
        if self.badge_matches(visitor_id, token) is False:
            log.info("a badge for visitor %s did not match", visitor_id)
            raise ActionError(_("This badge is not valid; please sign out from the list"))
        row = self.find(visitor_id)
        if row is None and (visitor_id in self._signed_out or visitor_id in self.visits):
            raise ActionError(_("You are already signed out. Goodbye!"))
        await self.sign_out(visitor_id, via="badge", badge_token=token)
        return row

    def badge_matches(self, visitor_id: str, badge_token: str) -> bool | None:
        """Whether a scanned badge is this kiosk's own visitor's (``None``: signed in
        elsewhere, central checks it)."""
        visit = self.visits.get(visitor_id)
        if visit is None:
            return None
        return secrets.compare_digest(visit.badge_token, badge_token)

    def on_results(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Central's outcomes; a refused visitor event is said in the kiosk's words."""
        super().on_results(results)
        for result in results:
            self._events.pop(str(result.get("id")), None)
        rejected = self.rejected
        if rejected is not None and rejected.kind.startswith("visitor."):
            self.rejected = Rejected(
                rejected.kind,
                _visitor_refusal(rejected.kind, rejected.code),
                rejected.code,
                rejected.at,
            )
            self.changed()


def _badge_code(text: object) -> tuple[str, str] | None:
    """``(visitor_id, badge_token)`` of a badge's code, or ``None``."""
    if not isinstance(text, str) or len(text) > MAX_BADGE_TEXT:
        return None
    if not text.startswith(BADGE_QR_PREFIX):
        return None
    visitor_id, colon, token = text[len(BADGE_QR_PREFIX) :].partition(":")
    if not colon or not visitor_id or len(visitor_id) > MAX_ID or len(token) < 16:
        return None
    allowed = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    if not set(visitor_id) <= allowed or not set(token) <= allowed - {"."}:
        return None
    return visitor_id, token


def _visitor_refusal(kind: str, code: str | None) -> str:
    if kind == EventType.VISITOR_SIGNOUT:
        if code == Code.NOT_FOUND:
            return _("A sign-out was refused: that visitor was already signed out")
        return _("A sign-out was not accepted by the server; reception can see why")
    return _("A sign-in was not accepted by the server; reception can see why")

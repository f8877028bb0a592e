"""The visitor's sign-in, as plain values: which steps, in which order, what was
answered. No Kivy here; the screens read and write one :class:`SignInFlow`.

Steps: the name always comes first and the visitor type second (the type chooses the
rest: ``company``, ``email``, ``host``, ``terms``, ``photo``, from the ``kiosk``
snapshot), and ``done`` last. ``terms`` is skipped when the site has none, ``photo``
when the kiosk has no camera. A recognised invite (by name or by its QR code) fills
company, host and type, and the email stays central's (the event carries the
``invite_id``): the visitor goes straight to what is left, usually the terms.

The host is searched over the kiosk's directory, which holds visible people only
(:class:`tapin.calendar.Directory`): an invisible person is never found, by name or by
id. "I don't know / not listed" is ``choose_host(None)``: reception is told.

Everything here lives in memory and :meth:`SignInFlow.clear` forgets it all; the
screens clear their fields, photo and signature textures at the same moment.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.validate import Checked, check_company, check_email, check_name
from sync.events import INVITE_QR_PREFIX
from tapin.calendar import Directory
from tapin.device.snapshots import Invite, KioskSettings, Terms, VisitorType
from tapin.domain import Person

__all__ = [
    "DEFAULT_TYPE",
    "STEPS",
    "Draft",
    "SignInFlow",
    "Stroke",
    "invite_for_code",
    "matching_invites",
    "same_name",
    "search_people",
]

MAX_QR_TEXT = 400
MAX_SEARCH = 100

STEPS = ("name", "type", "company", "email", "host", "terms", "photo", "done")
"""Every step a sign-in can have, in order."""

DEFAULT_TYPE = VisitorType(
    id="guest",
    names={"en": "Guest", "sv": "Gäst"},
    steps=("company", "email", "host", "photo"),
)
"""A kiosk that has not had central's ``kiosk`` snapshot yet (a new device offline)
still signs visitors in: as guests, without terms it does not know."""

Stroke = list[tuple[float, float]]
"""One finger stroke of a signature: points from 0 to 1 across and up the pad."""


@dataclass
class Draft:
    """What the visitor answered so far."""

    name: str = ""
    visitor_type: str | None = None
    company: str = ""
    email: str = ""
    host_id: str | None = None
    host_chosen: bool = False
    """A host was picked, or "I don't know / not listed" (``host_id`` ``None``)."""
    invite: Invite | None = None
    type_from_invite: bool = False
    """The invite named a visitor type this kiosk knows: the type is not asked."""
    accepted: bool = False
    terms_version: str | None = None
    signature: list[Stroke] = field(default_factory=list)
    signature_aspect: float = 3.0
    """Width over height of the pad the strokes were drawn on."""
    photo: bytes | None = None


def _folded(text: str) -> str:
    """Case, accents and spacing folded away: ``Åsa  Öberg`` ~ ``asa oberg``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def same_name(typed: str, invited: str) -> bool:
    """Whether what was typed is the invite's whole name (case, accents, spacing aside)."""
    folded = _folded(typed)
    return bool(folded) and folded == _folded(invited)


def matching_invites(typed: str, invites: tuple[Invite, ...]) -> list[Invite]:
    """Today's invites for the name typed: only a whole name matches, so typing a letter
    or two never lists who is expected."""
    return [i for i in invites if same_name(typed, i.name)][:3]


def invite_for_code(text: object, invites: tuple[Invite, ...]) -> Invite | None:
    """The invite whose QR code was shown (``TAPIN-INVITE:<invite_id>:<secret>``): the
    id must be one of today's invites and the secret's SHA-256 its ``qr_sha256``
    (compared in constant time). ``None`` for anything else; never raises."""
    if not isinstance(text, str) or len(text) > MAX_QR_TEXT:
        return None
    if not text.startswith(INVITE_QR_PREFIX):
        return None
    invite_id, colon, secret = text[len(INVITE_QR_PREFIX) :].partition(":")
    if not colon or not invite_id or not secret or ":" in secret or not secret.isascii():
        return None
    digest = hashlib.sha256(secret.encode("ascii")).hexdigest()
    for invite in invites:
        if invite.id == invite_id and hmac.compare_digest(digest, invite.qr_sha256):
            return invite
    return None


def search_people(query: str, directory: Directory, limit: int = 6) -> list[Person]:
    """Visible people whose first or last name starts with each typed word (case and
    accents aside: ``bjo`` finds Björn). Nothing for an empty or absurd query."""
    words = _folded(query).split() if isinstance(query, str) else []
    if not words or len(query) > MAX_SEARCH:
        return []
    found = []
    for person in directory:
        if not person.visible:  # the directory holds none; never show one by mistake
            continue
        parts = _folded(person.name).split()
        if all(any(part.startswith(w) for part in parts) for w in words):
            found.append(person)
    return sorted(found, key=lambda p: (_folded(p.name), p.id))[:limit]


class SignInFlow:
    """One visitor's sign-in. ``settings`` gives the kiosk snapshot of the moment (or
    ``None``), ``camera`` whether a photo can be taken, ``directory`` the visible people
    (hosts), ``invites`` today's invites (from the ``visitors`` snapshot)."""

    def __init__(
        self,
        settings: Callable[[], KioskSettings | None],
        *,
        camera: Callable[[], bool] = lambda: False,
        directory: Callable[[], Directory] | None = None,
        invites: Callable[[], tuple[Invite, ...]] = lambda: (),
    ) -> None:
        self._settings = settings
        self._camera = camera
        self._directory = directory or Directory
        self._invites = invites
        self.draft = Draft()
        self.step = "name"

    # what the flow asks ----------------------------------------------------------------

    @property
    def settings(self) -> KioskSettings | None:
        return self._settings()

    def types(self) -> tuple[VisitorType, ...]:
        settings = self.settings
        return settings.visitor_types if settings is not None else (DEFAULT_TYPE,)

    def chosen_type(self) -> VisitorType | None:
        return next((t for t in self.types() if t.id == self.draft.visitor_type), None)

    @property
    def terms(self) -> Terms | None:
        settings = self.settings
        return settings.terms if settings is not None else None

    def steps(self) -> list[str]:
        """The steps of this visitor's sign-in, in order (``type`` until one is chosen
        decides what follows it)."""
        kind = self.chosen_type()
        asked = kind.steps if kind is not None else ()
        invited = self.draft.invite is not None
        steps = ["name"]
        if not (invited and self.draft.type_from_invite):
            steps.append("type")
        for step in asked:
            if invited and step in ("company", "email", "host"):
                continue
            if step == "terms" and self.terms is None:
                continue
            if step == "photo" and not self._camera():
                continue
            steps.append(step)
        steps.append("done")
        return steps

    def signature_asked(self) -> bool:
        kind = self.chosen_type()
        return bool(kind is not None and kind.signature and "terms" in self.steps())

    def progress(self) -> tuple[int, int]:
        """``(n, of)``: the step shown is the n-th of ``of`` questions (done not counted);
        ``of`` is 0 while the visitor type, which decides the rest, is not chosen."""
        steps = self.steps()[:-1]
        index = steps.index(self.step) + 1 if self.step in steps else len(steps)
        return index, len(steps) if self.chosen_type() is not None else 0

    def last_question(self) -> bool:
        """The step shown is the last before done (its button signs the visitor in)."""
        steps = self.steps()
        return self.step in steps and steps.index(self.step) == len(steps) - 2

    # moving ----------------------------------------------------------------------------

    def next(self) -> str:
        """The step after the one shown (now shown)."""
        steps = self.steps()
        index = steps.index(self.step) if self.step in steps else 0
        self.step = steps[min(index + 1, len(steps) - 1)]
        return self.step

    def back(self) -> str | None:
        """The step before the one shown (now shown); ``None`` from the first: leave."""
        steps = self.steps()
        if self.step not in steps or steps.index(self.step) == 0:
            return None
        self.step = steps[steps.index(self.step) - 1]
        if self.step == "type" or (self.step == "name" and self.draft.invite is not None):
            self.forget_invite()  # back over an invite's step: ask the visitor again
        return self.step

    def can_continue(self) -> bool:
        """The step shown is answered well enough to go on (the photo is optional)."""
        draft, step = self.draft, self.step
        if step == "name":
            return check_name(draft.name).ok
        if step == "type":
            return self.chosen_type() is not None
        if step == "company":
            return check_company(draft.company).ok
        if step == "email":
            return check_email(draft.email).ok
        if step == "host":
            return draft.host_chosen
        if step == "terms":
            return self.can_finish_terms()
        return step in ("photo", "done")

    def complete(self) -> bool:
        """Every question of this visitor's sign-in is answered: it can be sent."""
        shown = self.step
        try:
            for step in self.steps()[:-1]:
                self.step = step
                if not self.can_continue():
                    return False
            return True
        finally:
            self.step = shown

    # answers ---------------------------------------------------------------------------

    def set_name(self, text: object) -> Checked:
        """The name typed: kept cleaned; the check says what to change, if anything."""
        checked = check_name(text)
        if self.draft.invite is not None and not same_name(checked.value, self.draft.name):
            self.forget_invite()  # typing another name: not that invite's guest
        self.draft.name = checked.value
        return checked

    def set_company(self, text: object) -> Checked:
        checked = check_company(text)
        self.draft.company = checked.value
        return checked

    def set_email(self, text: object) -> Checked:
        """The address typed; kept normalised when valid (``Ada@Example.ORG`` ->
        ``Ada@example.org``)."""
        checked = check_email(text)
        self.draft.email = checked.value
        return checked

    def invites_offered(self) -> list[Invite]:
        """Today's invites for the name typed (show "Is this you? a•••@example.org")."""
        if self.draft.invite is not None:
            return []
        return matching_invites(self.draft.name, self._invites())

    def scan_invite(self, text: object) -> Invite | None:
        """An invite's QR code shown to the camera: the visitor is that invite's guest
        and goes straight to what is left (usually the terms). ``None``: not one of
        today's invites (nothing changes)."""
        invite = invite_for_code(text, self._invites())
        if invite is not None:
            self.use_invite(invite)
        return invite

    def search_hosts(self, query: str, limit: int = 6) -> list[Person]:
        """Hosts for what was typed, from the visible directory only."""
        return search_people(query, self._directory(), limit)

    def host(self) -> Person | None:
        """The host chosen (``None``: none yet, or "not listed")."""
        return self._directory().get(self.draft.host_id)

    def choose_type(self, type_id: str) -> None:
        if self.draft.visitor_type != type_id:
            self.draft.visitor_type = type_id
            self.draft.signature = []  # a contractor's signature is not a guest's

    def choose_host(self, host_id: str | None) -> bool:
        """The visitor's host (``None``: "I don't know / not listed": reception is
        told). Returns ``False``, changing nothing, for an id the visible directory does
        not have: an invisible person can never be chosen."""
        if host_id is not None and self._directory().get(host_id) is None:
            return False
        self.draft.host_id = host_id
        self.draft.host_chosen = True
        return True

    def use_invite(self, invite: Invite) -> str:
        """The visitor is ``invite``'s guest: fill what it knows, go to what is left."""
        draft = self.draft
        draft.invite = invite
        draft.name = invite.name
        draft.company = invite.company
        draft.email = ""  # central has it; the kiosk never saw it
        draft.host_id = invite.host_id
        draft.host_chosen = True
        known = {t.id for t in self.types()}
        draft.type_from_invite = invite.visitor_type in known
        draft.visitor_type = invite.visitor_type if draft.type_from_invite else None
        self.step = "name"
        return self.next()

    def forget_invite(self) -> None:
        draft = self.draft
        if draft.invite is None:
            return
        draft.invite = None
        draft.type_from_invite = False
        draft.company = draft.email = ""
        draft.host_id, draft.host_chosen = None, False
        draft.visitor_type = None

    def accept(self, accepted: bool) -> None:
        terms = self.terms
        self.draft.accepted = accepted and terms is not None
        self.draft.terms_version = terms.version if self.draft.accepted and terms else None

    def can_finish_terms(self) -> bool:
        if not self.draft.accepted:
            return False
        return not self.signature_asked() or any(len(s) > 1 for s in self.draft.signature)

    def clear(self) -> None:
        """Forget everything typed, chosen, drawn and photographed."""
        self.draft = Draft()
        self.step = "name"

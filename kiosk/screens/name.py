"""The visitor's name (always the first step), on the on-screen keyboard. When the
whole name typed is one of today's invites, an offer appears: "Is this you?" with the
invite's masked email (``a•••@example.org``); Yes fills what the invite knows and goes
on to what is left (usually the terms), No hides it for this name.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import StringProperty

from kiosk.flow import matching_invites
from kiosk.screens.step import StepScreen
from kiosk.validate import MAX_NAME_CHARS, check_name, clean
from tapin.device.snapshots import Invite
from tapin.i18n import _

__all__ = ["NameScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class NameScreen(StepScreen):
    offer = StringProperty("")
    """The masked email of the invite offered ("Is this you?"), empty: no offer."""

    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", "name")
        super().__init__(ctx, **kwargs)
        self.title = _("Your name")
        self._invite: Invite | None = None
        self._declined: set[str] = set()

    def load(self) -> None:
        self.ids.field.text = self.ctx.signin.draft.name
        self.typed(self.ids.field.text)

    def typed(self, text: str) -> None:
        """Every change of the field: cleaned as typed, an invite offered on a match."""
        cleaned = clean(text, MAX_NAME_CHARS)
        if cleaned != text:
            self.ids.field.text = cleaned
            return
        self.problem = ""
        self.can_continue = bool(cleaned.strip())
        invited = self.ctx.signin.draft.invite is not None
        found = [] if invited else matching_invites(cleaned, self.ctx.controller.invites())
        found = [i for i in found if i.id not in self._declined]
        offered = self.offer
        self._invite = found[0] if found else None
        self.offer = self._invite.email_masked if self._invite is not None else ""
        if self.offer and not offered:
            self.ids.field.focus = False  # the keyboard goes: "Is this you?" in full view

    def accept_offer(self) -> None:
        """Yes, that's me: the invite's details, on to what is left."""
        invite = self._invite
        if invite is None:
            return
        self.ids.field.focus = False
        self.ctx.kiosk.use_invite(invite)

    def decline_offer(self) -> None:
        if self._invite is not None:
            self._declined.add(self._invite.id)
        self._invite = None
        self.offer = ""

    def save(self) -> bool:
        checked = check_name(self.ids.field.text)
        if not checked.ok:
            self.problem = checked.problem
            return False
        self.ctx.signin.set_name(checked.value)
        return True

    def reset(self) -> None:
        super().reset()
        self._invite = None
        self._declined.clear()
        self.offer = ""

"""A step with one text field: the visitor's company or email address, checked with
:func:`kiosk.validate.check_company` / :func:`kiosk.validate.check_email` on Continue
(what to change is said under the field, in the screen's language).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import StringProperty

from kiosk.screens.step import StepScreen
from kiosk.validate import MAX_COMPANY_CHARS, MAX_EMAIL_CHARS, clean
from tapin.i18n import _

__all__ = ["FieldScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class FieldScreen(StepScreen):
    """``name`` ``company`` or ``email``."""

    hint = StringProperty("")
    help = StringProperty("")
    layout = StringProperty("text")

    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        super().__init__(ctx, **kwargs)
        if self.name == "email":
            self.title = _("Your email address")
            self.help = _("We send your host's directions and the visit's details here")
            self.hint = "name@example.org"
            self.layout = "email"
        else:
            self.title = _("Your company")
            self.help = _("The company or organisation you are visiting from")
            self.hint = _("Company name")

    @property
    def limit(self) -> int:
        return MAX_EMAIL_CHARS if self.name == "email" else MAX_COMPANY_CHARS

    def load(self) -> None:
        draft = self.ctx.signin.draft
        self.ids.field.text = draft.email if self.name == "email" else draft.company
        self.typed(self.ids.field.text)

    def typed(self, text: str) -> None:
        cleaned = clean(text, self.limit)
        if cleaned != text:
            self.ids.field.text = cleaned
            return
        self.problem = ""
        self.can_continue = bool(cleaned.strip())

    def save(self) -> bool:
        flow = self.ctx.signin
        text = self.ids.field.text
        checked = flow.set_email(text) if self.name == "email" else flow.set_company(text)
        if not checked.ok:
            self.problem = checked.problem
            return False
        return True

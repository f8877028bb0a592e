"""The site's terms, in full (scrollable), with an explicit accept; when the visitor
type asks for it (a contractor), a signature drawn with a finger on a pad beside them.
Continue waits for both.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty

from kiosk.screens.step import StepScreen
from kiosk.screens.visitor_type import language
from tapin.i18n import _

__all__ = ["TermsScreen"]

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class TermsScreen(StepScreen):
    text = StringProperty("")
    accepted = BooleanProperty(False)
    signing = BooleanProperty(False)
    """The visitor type asks for a signature: the pad is shown."""

    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", "terms")
        super().__init__(ctx, **kwargs)
        self.title = _("Terms of your visit")

    def load(self) -> None:
        flow = self.ctx.signin
        terms = flow.terms
        lang = language()
        self.title = terms.title(lang) if terms is not None else _("Terms of your visit")
        self.text = terms.text(lang) if terms is not None else ""
        self.signing = flow.signature_asked()
        self.accepted = flow.draft.accepted
        self.ids.pad.load(flow.draft.signature)
        self.ids.scroll.scroll_y = 1
        self._update()

    def toggle_accept(self) -> None:
        self.touched()
        self.accepted = not self.accepted
        self.ctx.signin.accept(self.accepted)
        self._update()

    def signed(self) -> None:
        """The pad changed: the strokes go into the flow."""
        self.touched()
        pad = self.ids.pad
        self.ctx.signin.draft.signature = [list(s) for s in pad.strokes]
        self.ctx.signin.draft.signature_aspect = pad.aspect
        self._update()

    def clear_signature(self) -> None:
        self.ids.pad.clear()
        self.signed()

    def _update(self) -> None:
        self.can_continue = self.ctx.signin.can_finish_terms()

    def save(self) -> bool:
        if not self.ctx.signin.draft.accepted:
            self.problem = _("Please read and accept the terms to go on")
            return False
        if not self.ctx.signin.can_finish_terms():
            self.problem = _("Please sign with your finger in the box")
            return False
        return True

    def reset(self) -> None:
        super().reset()
        self.accepted = False
        self.text = ""
        self.ids.pad.clear()

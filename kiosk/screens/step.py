"""What every step of the visitor's sign-in has: a header with Back, the step's title
and "2 of 5", a Continue (or "Sign in" on the last question), a line for what to fix,
and the room left above the on-screen keyboard (``covered``).

A step reads the visitor's answers from the :class:`kiosk.flow.SignInFlow` when it is
shown (:meth:`StepScreen.load`) and writes them back on Continue
(:meth:`StepScreen.save`, ``False`` keeps the visitor on the step); :meth:`reset`
forgets what its fields hold (the flow is cleared at the same moment).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import FocusBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

import kiosk.screens.widgets  # noqa: F401  (KioskText, the pad, pictures)
from kiosk.context import KioskContext
from tapin.i18n import _
from tapin.ui.keyboard import dock
from tapin.ui.kit import PrimaryButton, TapinScreen

__all__ = [
    "StepBody",
    "StepContinue",
    "StepHeader",
    "StepProblem",
    "StepScreen",
    "progress_text",
]


class StepBody(BoxLayout):
    """A step's content, above the keyboard while one of its fields types."""

    step = ObjectProperty(None, rebind=True)


class StepHeader(BoxLayout):
    """Back, the step's title and "2 of 5"."""

    step = ObjectProperty(None, rebind=True)


class StepProblem(Label):
    """What to fix, white on red; nothing when there is nothing to say."""

    step = ObjectProperty(None, rebind=True)


class StepContinue(PrimaryButton):
    """Continue, or "Sign in" on the last question."""

    step = ObjectProperty(None, rebind=True)


Builder.load_file(str(Path(__file__).with_suffix(".kv")))


def progress_text(n: int, of: int) -> str:
    """``2 of 5``; empty while the number of steps is not known (type not chosen)."""
    if of <= 0:
        return ""
    return _("{n} of {total}").format(n=n, total=of)


class StepScreen(TapinScreen):
    """One step; ``name`` is the step's name in :data:`kiosk.flow.STEPS`."""

    title = StringProperty("")
    progress = StringProperty("")
    problem = StringProperty("")
    """What to change before going on (in the screen's language); empty: nothing."""
    can_continue = BooleanProperty(True)
    continue_text = StringProperty("")
    covered = NumericProperty(0.0)
    """Window pixels the docked keyboard covers while one of this step's fields types."""
    typing = BooleanProperty(False)

    def __init__(self, ctx: KioskContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        dock.bind(height=self._on_keyboard, target=self._on_keyboard)

    # shown and left --------------------------------------------------------------------

    def on_pre_enter(self, *_args: Any) -> None:
        flow = self.ctx.signin
        self.problem = ""
        n, of = flow.progress()
        self.progress = progress_text(n, of)
        self.continue_text = _("Sign in") if flow.last_question() else _("Continue")
        self.load()

    def on_leave(self, *_args: Any) -> None:
        for field in self.fields():
            field.focus = False

    def _on_keyboard(self, *_args: Any) -> None:
        self.typing = any(f.focus and dock.serves(f) for f in self.fields())
        self.covered = float(dock.height) if self.typing else 0.0

    def fields(self) -> list[Any]:
        """This step's text fields."""
        return [w for w in self.walk(restrict=True) if isinstance(w, FocusBehavior)]

    # what a step does (overridden) -----------------------------------------------------

    def load(self) -> None:
        """Show the flow's answers for this step."""

    def save(self) -> bool:
        """Write the answers into the flow; ``False`` (with :attr:`problem` set) to stay."""
        return True

    def reset(self) -> None:
        """Forget what the fields hold."""
        self.problem = ""
        for field in self.fields():
            field.focus = False
            field.text = ""

    # buttons -----------------------------------------------------------------------------

    def touched(self) -> None:
        self.ctx.kiosk.touched()

    def go_back(self) -> None:
        self.ctx.kiosk.back_step()

    def go_next(self) -> None:
        if not self.can_continue:
            return
        if self.save():
            self.ctx.kiosk.next_step()

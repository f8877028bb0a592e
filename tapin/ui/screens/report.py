"""The "report an issue" screen: what is wrong (one of seven words), optional details and
an optional photo, then Send.

Send hands the report to :meth:`tapin.pending.PendingActions.report_issue` through
``ctx.run`` (the queue writes off the loop); the actions post "Report saved; it will
reach facilities" and the screen goes back to the status. A refusal (:class:`ActionError`)
is shown here, in its words. The photo is taken on a worker thread (a camera blocks) and
lives only in this form until it is sealed into the queue: the form is cleared whenever
the screen is shown or left.

Kiosk text is hostile until cleaned: :func:`clean_text` drops control and bidi-override
characters and caps the length, as the person types and whatever sets the text.

The description is typed on Tapin's on-screen keyboard (text layout, in the device's
language: :mod:`tapin.ui.keyboard`) or a USB keyboard. While the on-screen keyboard is
docked, the form moves into the space above it: the category grid folds away and the
field, the count, Cancel and Send stay in view.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)

from tapin.domain import IssueCategory
from tapin.hardware.camera import CameraError
from tapin.i18n import _
from tapin.pending import MAX_PHOTO, ActionError
from tapin.ui.context import ScreenContext
from tapin.ui.keyboard import TapinTextInput, dock
from tapin.ui.kit import TapinScreen, TapinToggle
from tapin.ui.text import clean_text as _clean

__all__ = [
    "CATEGORY_WORDS",
    "MAX_CHARS",
    "CategoryButton",
    "ReportScreen",
    "ReportTextInput",
    "clean_text",
]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

MAX_CHARS = 200
CATEGORY_WORDS = {  # English sources: the buttons show ``_(word)``, in the language of the day
    IssueCategory.DISPLAY: "Display",
    IssueCategory.VIDEO: "Video",
    IssueCategory.AUDIO: "Audio",
    IssueCategory.CLIMATE: "Climate",
    IssueCategory.FURNITURE: "Furniture",
    IssueCategory.CLEANING: "Cleaning",
    IssueCategory.OTHER: "Other",
}


def clean_text(text: object, limit: int = MAX_CHARS) -> str:
    """Text a person typed, safe to show and send (:func:`tapin.ui.text.clean_text`)."""
    return _clean(text, limit)


class ReportTextInput(TapinTextInput):
    """One line of at most ``max_chars`` clean characters, typed on the on-screen
    keyboard (text layout) or a hardware keyboard."""

    max_chars = NumericProperty(MAX_CHARS)

    def insert_text(self, substring: Any, from_undo: bool = False) -> None:
        room = int(self.max_chars) - len(self.text)
        cleaned = clean_text(substring, max(0, room))
        if cleaned:
            super().insert_text(cleaned, from_undo=from_undo)

    def on_text(self, _instance: Any, text: str) -> None:
        cleaned = clean_text(text, int(self.max_chars))
        if cleaned != text:  # set from code or pasted around insert_text: clean it too
            self.text = cleaned


class CategoryButton(TapinToggle):
    category = StringProperty("")


def _thumbnail(photo: bytes) -> Texture | None:
    """A texture of the photo, or ``None`` when Kivy cannot read it."""
    ext = "png" if photo.startswith(b"\x89PNG") else "jpg"
    try:
        return CoreImage(io.BytesIO(photo), ext=ext).texture
    except Exception:  # a thumbnail is a nicety: never fail the report over it
        log.warning("could not show the photo's thumbnail", exc_info=True)
        return None


class ReportScreen(TapinScreen):
    category = StringProperty("")
    """The chosen :class:`IssueCategory` value; empty until one is tapped."""
    count_text = StringProperty(f"0/{MAX_CHARS}")
    has_camera = BooleanProperty(False)
    photo: bytes | None = ObjectProperty(None, allownone=True)
    thumbnail: Texture | None = ObjectProperty(None, allownone=True)
    taking_photo = BooleanProperty(False)
    sending = BooleanProperty(False)
    message = StringProperty("")
    """Why the report (or the photo) did not work, for the person at the panel."""
    room_name = StringProperty("")
    typing = BooleanProperty(False)
    """The field has the on-screen keyboard docked under it: the form moves above it."""
    covered = NumericProperty(0.0)
    """How much of the screen, from the bottom, the keyboard covers while typing."""
    folded = BooleanProperty(False)
    """Typing in landscape: the categories and their labels fold away (no room)."""

    def __init__(self, ctx: ScreenContext, **kwargs: Any) -> None:
        kwargs.setdefault("name", "report")
        super().__init__(**kwargs)
        self.ctx = ctx
        self._form = 0
        """Bumped whenever the form is cleared: late answers for an old form are dropped."""
        group = f"report-category-{id(self)}"
        self.buttons: list[CategoryButton] = []
        for category, word in CATEGORY_WORDS.items():
            button = CategoryButton(
                text=_(word), category=category.value, group=group, allow_no_selection=False
            )
            button.bind(state=self._on_category_state)
            self.bind(unit=button.setter("unit"))
            button.unit = self.unit
            self.ids.categories.add_widget(button)
            self.buttons.append(button)
        self.ids.description.bind(text=self._on_description, focus=self._on_keyboard)
        dock.bind(height=self._on_keyboard, target=self._on_keyboard)

    # the form --------------------------------------------------------------------------

    def on_pre_enter(self, *_: Any) -> None:
        self.clear_form()

    def on_leave(self, *_: Any) -> None:
        self.clear_form()  # the text and the photo stay in memory no longer than needed

    def clear_form(self) -> None:
        self._form += 1
        for button in self.buttons:
            button.state = "normal"
            button.text = _(CATEGORY_WORDS[IssueCategory(button.category)])
        self.category = ""
        self.ids.description.text = ""
        self.ids.description.focus = False
        self.photo = None
        self.thumbnail = None
        self.taking_photo = False
        self.sending = False
        self.message = ""
        self.has_camera = self.ctx.extras.get("camera") is not None
        self.room_name = self.ctx.place_name()

    def _on_category_state(self, button: CategoryButton, state: str) -> None:
        if state == "down":
            self.category = button.category
            self.message = ""
        elif self.category == button.category:
            self.category = ""

    def _on_description(self, _input: Any, text: str) -> None:
        self.count_text = f"{len(text)}/{MAX_CHARS}"

    def _on_keyboard(self, *_: Any) -> None:
        field = self.ids.description
        self.typing = bool(field.focus and dock.serves(field))
        self.covered = float(dock.height) if self.typing else 0.0
        self.folded = self.typing and not self.portrait

    def on_portrait(self, *_: Any) -> None:
        self._on_keyboard()

    @property
    def description(self) -> str:
        return clean_text(self.ids.description.text).strip()

    # actions ---------------------------------------------------------------------------

    def cancel(self) -> None:
        self.clear_form()
        self.ctx.back()

    def send(self) -> None:
        if not self.category or self.sending:
            return
        self.sending = True
        self.message = ""
        self.ids.description.focus = False
        self.ctx.run(self._send(self._form, self.category, self.description, self.photo))

    async def _send(self, form: int, category: str, text: str, photo: bytes | None) -> None:
        try:
            await self.ctx.actions.report_issue(self.ctx.resource, category, text, photo)
        except ActionError as exc:
            self._failed(form, str(exc))
            return
        except Exception:
            log.exception("could not send an issue report")
            self._failed(form, _("Could not send the report; please try again"))
            return
        if form == self._form:
            self.ctx.back()

    def _failed(self, form: int, message: str) -> None:
        if form == self._form:
            self.sending = False
            self.message = message

    def take_photo(self) -> None:
        camera = self.ctx.extras.get("camera")
        if camera is None or self.taking_photo:
            return
        self.taking_photo = True
        self.message = ""
        self.ctx.run(self._take_photo(self._form, camera))

    async def _take_photo(self, form: int, camera: Any) -> None:
        try:
            photo = await asyncio.to_thread(camera.capture)
            problem = _photo_problem(photo)
        except CameraError as exc:
            log.warning("no photo for an issue report: %s", exc)
            photo, problem = None, _("No photo: {problem}").format(problem=exc.problem)
        except Exception:
            log.exception("the camera failed")
            photo, problem = None, _("No photo: the camera did not work")
        if form != self._form:
            return  # the form was cleared (or left) meanwhile: drop the photo
        self.taking_photo = False
        if problem:
            self.message = problem
            return
        self.photo = photo
        self.thumbnail = _thumbnail(photo)


def _photo_problem(photo: object) -> str:
    """Why a camera's answer cannot go into a report; empty when it can."""
    if not isinstance(photo, bytes) or not photo:
        return _("No photo: the camera gave nothing")
    if len(photo) > MAX_PHOTO:
        return _("No photo: it is too large to send")
    return ""

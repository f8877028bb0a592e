"""The visitor's photo, for reception and the host: Take photo, see it, Retake or go
on. The camera is read on a worker thread; the photo lives in the flow's memory only
(and in the sealed event), and :meth:`PhotoScreen.reset` drops its texture.

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty

from kiosk.screens.step import StepScreen
from sync.events import MAX_PHOTO_BYTES
from tapin.i18n import _

__all__ = ["PhotoScreen"]

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class PhotoScreen(StepScreen):
    taken = BooleanProperty(False)
    busy = BooleanProperty(False)

    def __init__(self, ctx: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", "photo")
        super().__init__(ctx, **kwargs)
        self.title = _("Your photo")

    def load(self) -> None:
        photo = self.ctx.signin.draft.photo
        self.taken = photo is not None
        self.can_continue = True  # the photo is optional
        if photo is None:
            self.ids.picture.clear()
        else:
            self.ctx.run(self.ids.picture.show(photo))

    def take(self) -> None:
        """Take a photo (off the loop); a camera that fails says so."""
        camera = self.ctx.extras.get("camera")
        if camera is None or self.busy:
            return
        self.touched()
        self.busy = True
        self.problem = ""
        self.ctx.run(self._take(camera))

    async def _take(self, camera: Any) -> None:
        try:
            photo = await asyncio.to_thread(camera.capture)
            if len(photo) > MAX_PHOTO_BYTES:
                raise ValueError("the photo is too large")
        except Exception as exc:  # a camera's trouble must not end the sign-in
            log.warning("the visitor photo could not be taken: %s", type(exc).__name__)
            self.problem = _("The camera did not work. Please try again, or ask reception")
            return
        finally:
            self.busy = False
        if not await self.ids.picture.show(photo):
            self.problem = _("The camera did not work. Please try again, or ask reception")
            return
        self.ctx.signin.draft.photo = photo
        self.taken = True
        self.can_continue = True

    def reset(self) -> None:
        super().reset()
        self.taken = False
        self.ids.picture.clear()

"""What every kiosk screen gets: the shared :class:`tapin.ui.context.ScreenContext`
(runtime, the kiosk's controller as its actions, the lobby, navigation) plus the
visitor's :class:`kiosk.flow.SignInFlow` and the kiosk app (the steps, sign-in and
sign-out, language, idle). No Kivy here.

:class:`DemoCamera` is the demo's camera: photos are a test pattern
(:class:`tapin.hardware.camera.SimulatedCamera`) and a code "held up" with
:meth:`DemoCamera.show` is seen by the QR scanner (as a real camera would).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiosk.controller import KioskController
from kiosk.flow import SignInFlow
from tapin.ui.context import ScreenContext

if TYPE_CHECKING:
    from kiosk.app import KioskApp

__all__ = ["DemoCamera", "KioskContext"]


@dataclass
class KioskContext(ScreenContext):
    flow: SignInFlow | None = None
    app: KioskApp | None = field(default=None, repr=False)

    @property
    def controller(self) -> KioskController:
        assert isinstance(self.actions, KioskController)
        return self.actions

    @property
    def kiosk(self) -> KioskApp:
        """The kiosk app (raises ``AssertionError`` before it is set)."""
        assert self.app is not None
        return self.app

    @property
    def signin(self) -> SignInFlow:
        assert self.flow is not None
        return self.flow


class DemoCamera:
    """A camera for the demo and the tour: a test-pattern photo, and the frames
    (QR codes as PNG) queued with :meth:`show`, each seen for ``hold`` captures."""

    def __init__(self, *, hold: int = 3) -> None:
        from tapin.hardware.camera import SimulatedCamera

        self._photo = SimulatedCamera(320, 240)
        self._frames: deque[bytes] = deque()
        self._hold = hold
        self._lock = threading.Lock()
        self.scanning = False
        """Set by the scanner's screens: a capture then reads codes, not a photo."""

    def show(self, *frames: bytes) -> None:
        """A code held up to the camera (each frame seen a few times)."""
        with self._lock:
            for frame in frames:
                self._frames.extend([frame] * self._hold)

    def capture(self) -> bytes:
        """The next held-up frame, or the test pattern. Never raises."""
        with self._lock:
            frame = self._frames.popleft() if self._frames else None
        if frame is not None:
            return frame
        if self.scanning:
            from tapin.hardware.qr import blank_png

            return blank_png(64, 48)
        return self._photo.capture()

    def __repr__(self) -> str:
        return "DemoCamera()"

"""QR codes through the camera: read codes in a photo, parse Tapin's two kinds, scan.

:func:`read_codes` finds the QR codes in one camera frame (JPEG or PNG bytes, decoded
with Pillow, read with zxing-cpp). :func:`parse_badge` and :func:`parse_invite` turn a
code's text into a badge's sign-out code (``TAPIN-OUT:<visitor_id>:<badge_token>``) or
an invite (``TAPIN-INVITE:<invite_id>:<secret>``), or ``None`` for anything else.

:class:`QrScanner` polls a :class:`~tapin.hardware.camera.Camera` on a worker thread and
hands new codes to a callback on the asyncio loop (the kiosk's UI loop), one capture at
a time, quietly backing off while the camera fails. :class:`ScriptedCamera` plays given
frames behind the same Camera interface, for the tests and the demo.

Needs the ``kiosk`` extra (Pillow, zxing-cpp, segno). A code's text is a secret (a badge
token, an invite secret): it is never logged and never written anywhere here.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import io
import logging
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import segno
import zxingcpp
from PIL import Image

from sync.events import BADGE_QR_PREFIX, INVITE_QR_PREFIX, MAX_ID
from tapin.hardware.camera import Camera, CameraError

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_FRAME_PIXELS",
    "BadgeCode",
    "InviteCode",
    "QrError",
    "QrScanner",
    "ScanState",
    "ScriptedCamera",
    "blank_png",
    "parse_badge",
    "parse_invite",
    "qr_png",
    "read_codes",
]

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024 * 1024
"""A camera frame larger than this is refused (a 1080p JPEG is well under 1 MB)."""
MAX_FRAME_PIXELS = 4096 * 4096
"""A frame with more pixels than this is refused before it is decoded (no image bombs)."""
_DECODE_SIDE = 1600
"""Frames are scaled down to at most this many pixels a side before reading codes."""

_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_ID - 1}}}")
_BADGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")
"""``secrets.token_urlsafe(16)`` or longer: 16+ random bytes, URL-safe base64."""
_INVITE_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")
MAX_CODE_TEXT = len(INVITE_QR_PREFIX) + MAX_ID + 1 + 128
"""No valid Tapin code is longer; longer texts are refused before they are looked at."""


class QrError(RuntimeError):
    """A camera frame could not be read: not a JPEG or PNG, truncated, or too large.
    ``str(error)`` says which, in words a technician can act on."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"QR reader: {problem}")
        self.problem = problem


class BadgeCode(NamedTuple):
    """A badge's sign-out code (``TAPIN-OUT:<visitor_id>:<badge_token>``)."""

    visitor_id: str
    badge_token: str


class InviteCode(NamedTuple):
    """An invite's code (``TAPIN-INVITE:<invite_id>:<secret>``)."""

    invite_id: str
    secret: str

    @property
    def secret_sha256(self) -> str:
        """Hex SHA-256 of the secret, as the ``visitors`` snapshot's ``qr_sha256``."""
        return hashlib.sha256(self.secret.encode("ascii")).hexdigest()

    def matches(self, qr_sha256: str) -> bool:
        """Whether this code's secret is the one an invite's ``qr_sha256`` stands for
        (compared in constant time)."""
        return hmac.compare_digest(self.secret_sha256, str(qr_sha256).lower())


def _split(text: object, prefix: str) -> tuple[str, str] | None:
    if not isinstance(text, str) or len(text) > MAX_CODE_TEXT or not text.startswith(prefix):
        return None
    parts = text[len(prefix) :].split(":")
    if len(parts) != 2 or not _ID.fullmatch(parts[0]):
        return None
    return parts[0], parts[1]


def parse_badge(text: object) -> BadgeCode | None:
    """The visitor id and badge token in a badge's code, or ``None`` when ``text`` is
    not exactly ``TAPIN-OUT:<id>:<token>`` (ids: ASCII letters, digits, ``_.-``, at most
    :data:`~sync.events.MAX_ID`; tokens: 22 to 128 URL-safe base64 characters). Never
    raises."""
    found = _split(text, BADGE_QR_PREFIX)
    if found is None or not _BADGE_TOKEN.fullmatch(found[1]):
        return None
    return BadgeCode(*found)


def parse_invite(text: object) -> InviteCode | None:
    """The invite id and secret in an invite's code, or ``None`` when ``text`` is not
    exactly ``TAPIN-INVITE:<id>:<secret>`` (secrets: 16 to 128 URL-safe base64
    characters). Never raises."""
    found = _split(text, INVITE_QR_PREFIX)
    if found is None or not _INVITE_SECRET.fullmatch(found[1]):
        return None
    return InviteCode(*found)


def _open_frame(image_bytes: bytes) -> Image.Image:
    if not isinstance(image_bytes, bytes | bytearray | memoryview):
        raise QrError(f"expected image bytes from the camera, got {type(image_bytes).__name__}")
    if not image_bytes:
        raise QrError("the camera gave an empty frame")
    if len(image_bytes) > MAX_FRAME_BYTES:
        raise QrError(
            f"the camera frame is {len(image_bytes) // (1024 * 1024)} MB; "
            "lower the camera's resolution"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(image_bytes)), formats=["JPEG", "PNG"])
            width, height = image.size
            if width * height > MAX_FRAME_PIXELS:
                raise QrError(f"the camera frame is {width}x{height}; lower its resolution")
            if image.format == "JPEG" and max(width, height) > _DECODE_SIDE:
                image.draft("L", (_DECODE_SIDE, _DECODE_SIDE))  # decode at a smaller scale
            image.load()
    except QrError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning) as exc:
        raise QrError(f"the camera frame is not a readable JPEG or PNG ({exc})") from None
    return image


def read_codes(image_bytes: bytes) -> list[str]:
    """The texts of the QR codes in one camera frame (JPEG or PNG bytes), in the order
    found, without repeats; ``[]`` when the frame has none. Codes may be turned any
    way, light on dark, faded or noisy. A text is zxing-cpp's human-readable form
    (control characters spelled out, ``<NUL>``): still untrusted, parse it with
    :func:`parse_badge` / :func:`parse_invite`.

    Raises :class:`QrError` when the bytes are not a readable JPEG or PNG, or the frame
    is too large (over :data:`MAX_FRAME_BYTES` or :data:`MAX_FRAME_PIXELS`). Takes tens
    of milliseconds: call it off the UI loop (:class:`QrScanner` does)."""
    image = _open_frame(image_bytes)
    try:
        grey = image.convert("L")
        if max(grey.size) > _DECODE_SIDE:
            grey.thumbnail((_DECODE_SIDE, _DECODE_SIDE))
        formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # no global: nanobind
        found = zxingcpp.read_barcodes(grey, formats=formats)  # warns of leaks at exit
    except (OSError, ValueError, RuntimeError) as exc:
        raise QrError(f"the camera frame could not be read ({exc})") from None
    texts: list[str] = []
    for code in found:
        text = code.text
        if text and text not in texts:
            texts.append(text)
    return texts


def qr_png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """``text`` as a QR code PNG (black on white, error correction M), for tests and
    the demo."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def blank_png(width: int = 320, height: int = 240, grey: int = 200) -> bytes:
    """A flat grey frame: what a camera sees when nobody holds up a code."""
    out = io.BytesIO()
    Image.new("L", (width, height), grey).save(out, format="PNG")
    return out.getvalue()


class ScriptedCamera:
    """A camera that plays a script: each :meth:`capture` returns the next frame (bytes)
    or raises the next item when it is an exception (e.g. a :class:`CameraError`); when
    the script is used up it returns ``then`` (by default a blank frame) for ever.

    Implements the :class:`~tapin.hardware.camera.Camera` protocol, like the real
    backend. ``delay`` seconds per capture imitate a slow camera. Thread-safe: ``taken``
    counts captures, ``most_at_once`` the most captures that ever overlapped."""

    def __init__(
        self,
        frames: Iterable[bytes | BaseException] = (),
        *,
        then: bytes | BaseException | None = None,
        delay: float = 0.0,
    ) -> None:
        self._script: deque[bytes | BaseException] = deque(frames)
        self.then: bytes | BaseException = blank_png() if then is None else then
        self.delay = delay
        self.taken = 0
        self.most_at_once = 0
        self._busy = 0
        self._lock = threading.Lock()

    def show(self, *frames: bytes | BaseException) -> None:
        """Queue more frames (the demo: a visitor holds up their badge)."""
        with self._lock:
            self._script.extend(frames)

    def capture(self) -> bytes:
        """The next scripted frame; raises the next scripted exception."""
        with self._lock:
            self._busy += 1
            self.most_at_once = max(self.most_at_once, self._busy)
            self.taken += 1
            item = self._script.popleft() if self._script else self.then
        try:
            if self.delay:
                time.sleep(self.delay)
            if isinstance(item, BaseException):
                raise item
            return item
        finally:
            with self._lock:
                self._busy -= 1


class ScanState(enum.StrEnum):
    STOPPED = "stopped"
    SCANNING = "scanning"
    """Frames arrive and are read; show "hold your badge up to the camera"."""
    CAMERA_FAILED = "camera_failed"
    """The last capture failed; retrying with backoff. ``QrScanner.problem`` says why."""


DEFAULT_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class QrScanner:
    """Polls ``camera`` for QR codes and calls ``on_codes(texts)`` on the asyncio loop.

    One capture at a time (the next starts ``interval_ms`` after the last ended); the
    capture and the reading run on a worker thread (:func:`asyncio.to_thread`). A code
    that stays in view is delivered once: a text is passed again only after it was out
    of sight for ``repeat_seconds`` (or after :meth:`forget`). When the camera fails the
    scanner logs one warning, switches to :attr:`ScanState.CAMERA_FAILED`, and retries
    after ``backoff`` seconds (growing, the last value repeats); the first good frame
    logs once and switches back. ``on_state(state)`` hears every change of state.

    Call :meth:`start`, :meth:`stop` and :meth:`capture` on the loop's thread. Exceptions
    from the callbacks are logged and scanning goes on.
    """

    def __init__(
        self,
        camera: Camera,
        on_codes: Callable[[list[str]], None],
        *,
        on_state: Callable[[ScanState], None] | None = None,
        interval_ms: int = 250,
        repeat_seconds: float = 3.0,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
    ) -> None:
        if interval_ms < 0 or repeat_seconds < 0 or not backoff or min(backoff) < 0:
            raise ValueError("interval, repeat time and backoff must be at least 0")
        self.camera = camera
        self.on_codes = on_codes
        self.on_state = on_state
        self.interval = interval_ms / 1000
        self.repeat_seconds = repeat_seconds
        self.backoff = tuple(backoff)
        self.state = ScanState.STOPPED
        self.problem: str | None = None
        """Why the camera fails (a technician's message), while :attr:`state` says so."""
        self._camera_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, float] = {}

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start scanning (again); does nothing when already scanning. Needs a running
        loop (raises :class:`RuntimeError` otherwise)."""
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._set_state(ScanState.SCANNING)

    def stop(self) -> None:
        """Stop scanning: ``on_codes`` is not called again until :meth:`start`. A
        capture already under way finishes on its thread and is dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self.problem = None
        self._set_state(ScanState.STOPPED)

    def forget(self) -> None:
        """Deliver codes still in view again (after the kiosk dealt with one)."""
        self._seen.clear()

    async def capture(self) -> bytes:
        """One photo through the scanner's camera (the visitor's photo), never at the
        same time as a scan. Raises :class:`CameraError`."""
        return await asyncio.to_thread(self._locked, self.camera.capture)

    def _locked(self, work: Callable[[], bytes]) -> bytes:
        with self._camera_lock:
            return work()

    def _scan_once(self) -> list[str]:
        with self._camera_lock:
            frame = self.camera.capture()
        return read_codes(frame)

    def _set_state(self, state: ScanState) -> None:
        if state == self.state:
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("the QR scanner's state handler failed")

    def _fresh(self, texts: list[str]) -> list[str]:
        now = time.monotonic()
        fresh = [t for t in texts if now - self._seen.get(t, -1e18) > self.repeat_seconds]
        for text in texts:
            self._seen[text] = now
        if len(self._seen) > 64:  # codes long out of sight
            self._seen = {t: s for t, s in self._seen.items() if now - s <= self.repeat_seconds}
        return fresh

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                texts = await asyncio.to_thread(self._scan_once)
            except Exception as exc:  # CancelledError (stop) is not an Exception
                failures += 1
                self.problem = str(exc)
                if failures == 1:
                    if isinstance(exc, CameraError | QrError):
                        log.warning("QR scanning paused, retrying quietly: %s", exc)
                    else:
                        log.exception("QR scanning paused, retrying quietly: the camera failed")
                self._set_state(ScanState.CAMERA_FAILED)
                await asyncio.sleep(self.backoff[min(failures, len(self.backoff)) - 1])
                continue
            if failures:
                log.info("QR scanning works again after %d failed captures", failures)
                failures = 0
            self.problem = None
            self._set_state(ScanState.SCANNING)
            fresh = self._fresh(texts)
            if fresh:
                try:
                    self.on_codes(fresh)
                except Exception:
                    log.exception("the QR code handler failed")
            await asyncio.sleep(self.interval)

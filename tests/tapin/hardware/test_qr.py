"""QR codes through the camera: real QR images (segno) read back from camera frames,
a photographed-looking one, frames with no code or no image; the two code formats
against hostile text; the scanner on a real asyncio loop with a scripted camera."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import random
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from tapin.hardware.camera import Camera, CameraError, SimulatedCamera
from tapin.hardware.qr import (
    BadgeCode,
    InviteCode,
    QrError,
    QrScanner,
    ScanState,
    ScriptedCamera,
    blank_png,
    parse_badge,
    parse_invite,
    qr_png,
    read_codes,
)

TOKEN = "q3J9xZ0m_Lk2-pW8vB7nT4eR"
BADGE = f"TAPIN-OUT:v-3f2a9c1e:{TOKEN}"
INVITE = "TAPIN-INVITE:inv-42:Zx81_kPq-20aMvLr9sT3"


def photograph(png: bytes, *, angle: float = 6.0, scale: float = 0.55, seed: int = 7) -> bytes:
    """``png`` as a webcam would see it held up: on a grey, cluttered background,
    turned a few degrees, smaller, blurred, noisy, unevenly lit, a JPEG."""
    rng = random.Random(seed)
    code = Image.open(io.BytesIO(png)).convert("L")
    scene = Image.new("L", (int(code.width * 1.8), int(code.height * 1.5)), 120)
    for _ in range(40):  # clutter
        x, y = rng.randrange(scene.width), rng.randrange(scene.height)
        scene.paste(rng.randrange(40, 200), (x, y, x + rng.randrange(5, 40), y + 6))
    scene.paste(code, (scene.width // 5, scene.height // 6))
    scene = scene.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=120)
    scene = scene.resize(
        (int(scene.width * scale), int(scene.height * scale)), Image.Resampling.LANCZOS
    )
    scene = scene.filter(ImageFilter.GaussianBlur(1.1))
    light = Image.linear_gradient("L").resize(scene.size).point(lambda v: 40 + v // 3)
    scene = Image.blend(scene, light, 0.25)
    noise = Image.effect_noise(scene.size, 28).point(lambda v: v - 128 + 128)
    scene = Image.blend(scene, noise, 0.12)
    out = io.BytesIO()
    scene.convert("RGB").save(out, format="JPEG", quality=70)
    return out.getvalue()


# reading frames ---------------------------------------------------------------------


def test_a_generated_code_is_read_back_through_the_camera_interface() -> None:
    camera: Camera = ScriptedCamera([qr_png(BADGE)])
    frame = camera.capture()
    assert frame.startswith(b"\x89PNG")
    assert read_codes(frame) == [BADGE]
    assert read_codes(camera.capture()) == []  # then blank frames


def test_a_photographed_code_is_read() -> None:
    frame = photograph(qr_png(BADGE, scale=6))
    assert frame.startswith(b"\xff\xd8\xff")
    image = Image.open(io.BytesIO(frame))
    assert image.size[0] < 500  # really smaller than the generated code
    assert read_codes(frame) == [BADGE]
    assert read_codes(photograph(qr_png(INVITE, scale=6), angle=-8, seed=3)) == [INVITE]


def test_two_codes_in_one_frame_are_both_read_in_order_without_repeats() -> None:
    left, right = (Image.open(io.BytesIO(qr_png(t))) for t in (BADGE, INVITE))
    frame = Image.new("L", (left.width + right.width + left.width, left.height + 40), 255)
    frame.paste(left, (0, 20))
    frame.paste(right, (left.width, 20))
    frame.paste(left, (left.width + right.width, 20))
    out = io.BytesIO()
    frame.save(out, format="PNG")
    assert sorted(read_codes(out.getvalue())) == sorted([BADGE, INVITE])


def test_a_picture_without_a_code_gives_nothing() -> None:
    assert read_codes(SimulatedCamera(640, 480).capture()) == []
    assert read_codes(blank_png()) == []


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"", "empty frame"),
        (b"not an image at all", "not a readable JPEG or PNG"),
        (qr_png(BADGE)[:200], "not a readable JPEG or PNG"),  # truncated
        (b"GIF89a" + b"\x00" * 64, "not a readable JPEG or PNG"),  # not a camera format
    ],
)
def test_bad_frames_are_a_clear_qr_error(frame: bytes, problem: str) -> None:
    with pytest.raises(QrError, match=problem) as caught:
        read_codes(frame)
    assert str(caught.value).startswith("QR reader: ")
    assert "Traceback" not in str(caught.value)


def test_an_image_bomb_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (5000, 5000), 1).save(out, format="PNG")  # 25 Mpx in a few kB
    assert len(out.getvalue()) < 100_000
    with pytest.raises(QrError, match="5000x5000; lower its resolution"):
        read_codes(out.getvalue())


# the two code formats ---------------------------------------------------------------


def test_badge_and_invite_codes_parse_into_their_parts() -> None:
    assert parse_badge(BADGE) == BadgeCode("v-3f2a9c1e", TOKEN)
    assert parse_invite(INVITE) == InviteCode("inv-42", "Zx81_kPq-20aMvLr9sT3")
    assert parse_badge(INVITE) is None and parse_invite(BADGE) is None


def test_an_invite_matches_its_snapshot_hash_only() -> None:
    invite = parse_invite(INVITE)
    assert invite is not None
    digest = hashlib.sha256(b"Zx81_kPq-20aMvLr9sT3").hexdigest()
    assert invite.secret_sha256 == digest
    assert invite.matches(digest) and invite.matches(digest.upper())
    assert not invite.matches(hashlib.sha256(b"Zx81_kPq-20aMvLr9sT4").hexdigest())
    assert not invite.matches("")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "TAPIN-OUT:",
        "TAPIN-OUT::" + TOKEN,  # no visitor id
        "TAPIN-OUT:v-1:",  # no token
        "TAPIN-OUT:v-1:short",  # too short to be 16 random bytes
        f"TAPIN-OUT:v-1:{TOKEN}:extra",  # an extra separator
        f"TAPIN-OUT:v-1::{TOKEN}",
        f"TAPIN-OUT:v:1:{TOKEN}",
        f"tapin-out:v-1:{TOKEN}",  # wrong case
        f" TAPIN-OUT:v-1:{TOKEN}",  # leading space
        f"TAPIN-OUT:v-1:{TOKEN}\n",  # a control character
        f"TAPIN-OUT:v-1\x00:{TOKEN}",
        f"TAPIN-OUT:v 1:{TOKEN}",
        f"TAPIN-OUT:-v1:{TOKEN}",  # an id starts with a letter or digit
        f"TAPIN-OUT:v-\u0661:{TOKEN}",  # an Arabic-Indic digit is not an ASCII digit
        f"TAPIN-OUT:\u202ev-1:{TOKEN}",  # a bidi override
        f"TAPIN-OUT:v-1:{TOKEN[:-1]}=",  # padding is not URL-safe base64 without it
        f"TAPIN-OUT:{'v' * 101}:{TOKEN}",  # id longer than MAX_ID
        f"TAPIN-OUT:v-1:{'A' * 129}",
        "TAPIN-OUT:v-1:" + "A" * 1_000_000,  # huge
        f"TAPIN-INVITE:v-1:{TOKEN}",  # the other prefix
        f"https://example.org/?{BADGE}",
    ],
)
def test_hostile_text_is_not_a_badge(text: str) -> None:
    assert parse_badge(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "TAPIN-INVITE:inv-1:tooshort",
        "TAPIN-INVITE:inv-1:Zx81_kPq-20aMvLr9sT3:x",
        "TAPIN-INVITE:inv-1:Zx81_kPq-20aMvLr9sT3\r",
        "TAPIN-INVITE::Zx81_kPq-20aMvLr9sT3",
        "TAPIN-INVITE:inv-1:" + "é" * 20,
        "TAPIN-INVITE:" + "x:" * 500_000,
    ],
)
def test_hostile_text_is_not_an_invite(text: str) -> None:
    assert parse_invite(text) is None


@pytest.mark.parametrize("value", [None, 42, b"TAPIN-OUT:v-1:" + TOKEN.encode(), ["x"]])
def test_things_that_are_not_text_are_no_code(value: object) -> None:
    assert parse_badge(value) is None and parse_invite(value) is None


@given(st.text(max_size=300))
def test_parsing_never_raises_and_a_parsed_code_is_exactly_the_text(text: str) -> None:
    for prefix in ("", "TAPIN-OUT:", "TAPIN-INVITE:"):
        badge, invite = parse_badge(prefix + text), parse_invite(prefix + text)
        if badge is not None:
            assert f"TAPIN-OUT:{badge.visitor_id}:{badge.badge_token}" == prefix + text
        if invite is not None:
            assert f"TAPIN-INVITE:{invite.invite_id}:{invite.secret}" == prefix + text


# the scanner ------------------------------------------------------------------------


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


class Heard:
    """What the scanner told the kiosk, and on which thread."""

    def __init__(self) -> None:
        self.codes: list[list[str]] = []
        self.states: list[ScanState] = []
        self.threads: set[int] = set()

    def on_codes(self, texts: list[str]) -> None:
        self.threads.add(threading.get_ident())
        self.codes.append(texts)

    def on_state(self, state: ScanState) -> None:
        self.threads.add(threading.get_ident())
        self.states.append(state)


async def test_a_code_held_up_is_delivered_once_on_the_loop() -> None:
    camera = ScriptedCamera([blank_png(), *[photograph(qr_png(BADGE, scale=6))] * 6])
    heard = Heard()
    scanner = QrScanner(camera, heard.on_codes, on_state=heard.on_state, interval_ms=1)
    scanner.start()
    assert scanner.state is ScanState.SCANNING
    await until(lambda: camera.taken >= 10)
    scanner.stop()
    assert heard.codes == [[BADGE]]  # six frames with the code, one delivery
    assert heard.threads == {threading.get_ident()}  # the loop's thread, not the worker's
    assert heard.states == [ScanState.SCANNING, ScanState.STOPPED]


async def test_forget_delivers_a_code_still_in_view_again() -> None:
    camera = ScriptedCamera(then=qr_png(INVITE))
    heard = Heard()
    scanner = QrScanner(camera, heard.on_codes, interval_ms=1)
    scanner.start()
    await until(lambda: len(heard.codes) == 1)
    taken = camera.taken
    await until(lambda: camera.taken >= taken + 3)
    assert len(heard.codes) == 1
    scanner.forget()
    await until(lambda: len(heard.codes) == 2)
    scanner.stop()
    assert heard.codes == [[INVITE], [INVITE]]


async def test_a_code_out_of_sight_long_enough_counts_again() -> None:
    code, blank = qr_png(BADGE), blank_png()
    camera = ScriptedCamera([code, blank, code], delay=0.03)
    heard = Heard()
    scanner = QrScanner(camera, heard.on_codes, interval_ms=1, repeat_seconds=0.02)
    scanner.start()
    await until(lambda: camera.taken >= 4)
    scanner.stop()
    assert heard.codes == [[BADGE], [BADGE]]


async def test_a_failing_camera_is_logged_once_backs_off_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failure = CameraError("/dev/video0", "no camera found (is one connected and enabled?)")
    camera = ScriptedCamera([failure] * 4 + [qr_png(BADGE)])
    heard = Heard()
    scanner = QrScanner(
        camera, heard.on_codes, on_state=heard.on_state, interval_ms=1, backoff=(0.01, 0.05)
    )
    with caplog.at_level(logging.INFO, logger="tapin.hardware.qr"):
        started = asyncio.get_running_loop().time()
        scanner.start()
        await until(lambda: scanner.state is ScanState.CAMERA_FAILED)
        assert scanner.problem is not None and "/dev/video0" in scanner.problem
        await until(lambda: heard.codes == [[BADGE]])
        elapsed = asyncio.get_running_loop().time() - started
        scanner.stop()
    assert elapsed >= 0.01 + 0.05 * 3  # backed off: 0.01, then 0.05 for each retry
    assert heard.states == [
        ScanState.SCANNING,
        ScanState.CAMERA_FAILED,
        ScanState.SCANNING,
        ScanState.STOPPED,
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no camera found" in warnings[0].getMessage()
    assert any("works again after 4 failed" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)  # never the code
    assert scanner.problem is None


async def test_unreadable_frames_are_a_camera_problem_too(caplog: pytest.LogCaptureFixture) -> None:
    camera = ScriptedCamera(then=b"garbage")
    scanner = QrScanner(camera, lambda texts: None, interval_ms=1, backoff=(0.001,))
    with caplog.at_level(logging.WARNING, logger="tapin.hardware.qr"):
        scanner.start()
        await until(lambda: camera.taken >= 5)
        scanner.stop()
    assert len(caplog.records) == 1
    assert "not a readable JPEG or PNG" in caplog.records[0].getMessage()


async def test_never_two_captures_at_once() -> None:
    camera = ScriptedCamera(then=qr_png(BADGE), delay=0.02)
    scanner = QrScanner(camera, lambda texts: None, interval_ms=0)
    for _ in range(3):  # restarting while a capture is still under way
        scanner.start()
        await asyncio.sleep(0.005)
        scanner.stop()
        scanner.start()
    photos = await asyncio.gather(scanner.capture(), scanner.capture())  # a visitor's photo
    await until(lambda: camera.taken >= 10)
    scanner.stop()
    await asyncio.sleep(0.05)
    assert photos == [qr_png(BADGE)] * 2
    assert camera.most_at_once == 1


async def test_after_stop_nothing_is_delivered_and_the_camera_rests() -> None:
    camera = ScriptedCamera(then=qr_png(BADGE), delay=0.05)
    heard = Heard()
    scanner = QrScanner(camera, heard.on_codes, interval_ms=1)
    scanner.start()
    await until(lambda: camera.taken == 1)  # a capture is under way
    scanner.stop()
    assert not scanner.running and scanner.state is ScanState.STOPPED
    await asyncio.sleep(0.2)
    assert heard.codes == []
    assert camera.taken == 1


async def test_a_failing_handler_does_not_stop_scanning(caplog: pytest.LogCaptureFixture) -> None:
    camera = ScriptedCamera([qr_png(BADGE), blank_png(), qr_png(INVITE)])
    seen: list[list[str]] = []

    def handler(texts: list[str]) -> None:
        seen.append(texts)
        raise ValueError("a kiosk bug")

    scanner = QrScanner(camera, handler, interval_ms=1)
    with caplog.at_level(logging.ERROR, logger="tapin.hardware.qr"):
        scanner.start()
        await until(lambda: len(seen) == 2)
        scanner.stop()
    assert seen == [[BADGE], [INVITE]]
    assert len(caplog.records) == 2 and "handler failed" in caplog.records[0].getMessage()


def test_start_needs_a_running_loop() -> None:
    scanner = QrScanner(ScriptedCamera(), lambda texts: None)
    with pytest.raises(RuntimeError):
        scanner.start()
    assert scanner.state is ScanState.STOPPED
    with pytest.raises(ValueError):
        QrScanner(ScriptedCamera(), lambda texts: None, backoff=())


# harder frames ------------------------------------------------------------------------


def frame_of(image: Image.Image, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **({"quality": 75} if kind == "JPEG" else {}))
    return out.getvalue()


def on_desk(png: bytes, size: tuple[int, int] = (900, 700), grey: int = 170) -> Image.Image:
    """The code on a larger grey background, as a camera frame would hold it."""
    code = Image.open(io.BytesIO(png)).convert("L")
    scene = Image.new("L", size, grey)
    scene.paste(code, ((size[0] - code.width) // 3, (size[1] - code.height) // 2))
    return scene


@pytest.mark.parametrize("angle", [90, 180, 270, 33, -45])
def test_a_rotated_code_is_read(angle: int) -> None:
    scene = on_desk(qr_png(BADGE, scale=5))
    turned = scene.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=170)
    assert read_codes(frame_of(turned, "JPEG")) == [BADGE]


@pytest.mark.parametrize("scale", [2, 3, 20])
def test_small_and_large_codes_are_read(scale: int) -> None:
    png = qr_png(INVITE, scale=scale)
    size = (4000, 3000) if scale == 20 else (640, 480)  # large: scaled down before reading
    assert read_codes(frame_of(on_desk(png, size), "JPEG")) == [INVITE]


def test_a_code_scaled_by_an_odd_factor_is_read() -> None:
    code = Image.open(io.BytesIO(qr_png(BADGE, scale=4)))
    odd = code.resize((int(code.width * 1.37), int(code.height * 1.37)), Image.Resampling.BICUBIC)
    assert read_codes(frame_of(on_desk(frame_of(odd)), "JPEG")) == [BADGE]


def test_a_low_contrast_code_is_read() -> None:
    # a faded print under dim light: dark modules 110, light ones 150
    faded = on_desk(qr_png(BADGE, scale=5), grey=150).point(lambda v: 110 + v * 40 // 255)
    assert faded.getextrema() == (110, 150)
    assert read_codes(frame_of(faded, "JPEG")) == [BADGE]


def test_a_noisy_code_is_read() -> None:
    scene = on_desk(qr_png(BADGE, scale=6))
    noise = Image.effect_noise(scene.size, 80)
    noisy = Image.blend(scene, noise, 0.35)
    assert read_codes(frame_of(noisy, "JPEG")) == [BADGE]


def test_a_code_lighter_than_its_background_is_read() -> None:
    # a badge shown on a phone in dark mode
    inverted = on_desk(qr_png(INVITE, scale=5), grey=170).point(lambda v: 255 - v)
    assert read_codes(frame_of(inverted)) == [INVITE]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "1", "I;16"])
def test_any_png_colour_mode_is_read(mode: str) -> None:
    image = on_desk(qr_png(BADGE, scale=4), (400, 400)).convert(mode)
    assert read_codes(frame_of(image)) == [BADGE]


def test_a_hostile_code_is_read_but_refused() -> None:
    hostile = [
        "TAPIN-OUT:v-1:" + "A" * 1500,  # too long
        "TAPIN-OUT:v-1\u202e:" + TOKEN,  # a bidi override
        "TAPIN-OUT:../../etc:" + TOKEN,
        "TAPIN-OUT:v-1:" + TOKEN + "\x00",
        "TAPIN-INVITE:inv-1:'; DROP TABLE invites; --",
    ]
    for text in hostile:
        texts = read_codes(frame_of(on_desk(qr_png(text, scale=3), (700, 700)), "PNG"))
        # the reader gives what it saw (control characters spelled out: <NUL>)...
        assert texts == [text.replace("\x00", "<NUL>")]
        assert parse_badge(texts[0]) is None and parse_invite(texts[0]) is None  # ...refused


@given(st.binary(max_size=2000))
def test_garbage_bytes_are_a_qr_error_never_a_crash(data: bytes) -> None:
    try:
        assert read_codes(data) == []
    except QrError as error:
        assert str(error).startswith("QR reader: ")


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # a JPEG header and nothing
        frame_of(on_desk(qr_png(BADGE)), "JPEG")[:3000],  # a JPEG cut short
        b"\x89PNG\r\n\x1a\n" + b"\xff" * 100,  # a PNG signature and garbage
    ],
)
def test_broken_frames_give_an_error_or_nothing(frame: bytes) -> None:
    try:
        texts = read_codes(frame)
    except QrError as error:
        assert "not a readable JPEG or PNG" in str(error)
    else:
        assert texts in ([], [BADGE])  # Pillow may show what arrived of a cut JPEG


async def test_the_simulated_camera_through_the_scanner_reports_no_code() -> None:
    camera = SimulatedCamera(640, 480)
    heard = Heard()
    scanner = QrScanner(camera, heard.on_codes, on_state=heard.on_state, interval_ms=1)
    scanner.start()
    await until(lambda: camera.taken >= 3)
    scanner.stop()
    assert heard.codes == []
    assert heard.states == [ScanState.SCANNING, ScanState.STOPPED]

"""The "report an issue" screen: real taps, real typing, and the sealed event central reads."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tapin.hardware import SimulatedCamera, V4L2Camera
from tests.tapin.ui.test_find_room import Panel

pytestmark = pytest.mark.ui


@pytest.fixture
def panel(screen: Any, tmp_path: Path) -> Iterator[Panel]:
    harness = Panel(screen, tmp_path)
    yield harness
    screen.window.release_all_keyboards()
    harness.close()


@pytest.fixture
def swedish() -> Iterator[None]:
    from tapin import i18n

    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def show_report(panel: Panel) -> Any:
    from tapin.ui.screens.report import ReportScreen

    return panel.show(ReportScreen)


def button(report: Any, word: str) -> Any:
    (found,) = [b for b in report.buttons if b.text == word]
    return found


def type_text(panel: Panel, report: Any, text: str) -> None:
    """Focus the field with a tap, then type as a keyboard does (one character at a time)."""
    field = report.ids.description
    panel.screen.tap_widget(field)
    assert field.focus
    for char in text:
        panel.screen.window.dispatch("on_textinput", char)
    field.dispatch("on_text_validate")  # the keyboard's Enter: done typing
    field.focus = False
    panel.screen.frames(2)


def test_category_and_text_reach_central_sealed(panel: Panel, tmp_path: Path) -> None:
    report = show_report(panel)
    send = report.ids.send
    assert send.disabled
    panel.screen.tap_widget(button(report, "Audio"))
    assert report.category == "audio" and not send.disabled
    type_text(panel, report, "Speaker crackles")
    assert report.ids.description.text == "Speaker crackles"
    assert report.ids.count.text == "16/200"
    panel.screen.save(tmp_path / "report_filled.png")
    panel.screen.tap_widget(send)
    assert report.sending and send.disabled  # no second report from a double tap
    panel.settle()
    ((kind, payload),) = panel.events()
    assert kind == "issue.report"
    assert payload["category"] == "audio"
    assert payload["text"] == "Speaker crackles"
    assert "photo" not in payload
    assert panel.went == ["status"] and panel.manager.current == "status"
    assert panel.controller.notices[-1].text == "Report saved; it will reach facilities"


def test_send_is_disabled_without_a_category(panel: Panel, tmp_path: Path) -> None:
    report = show_report(panel)
    type_text(panel, report, "Chairs missing")
    send = report.ids.send
    assert send.disabled and report.ids.hint.text == "Choose what is wrong to send"
    assert send.height >= 56
    panel.screen.tap_widget(send)
    assert panel.pending == [] and panel.went == []
    panel.screen.save(tmp_path / "report_empty.png")


def test_only_one_category_at_a_time(panel: Panel) -> None:
    report = show_report(panel)
    panel.screen.tap_widget(button(report, "Display"))
    panel.screen.tap_widget(button(report, "Climate"))
    assert report.category == "climate"
    assert [b.text for b in report.buttons if b.state == "down"] == ["Climate"]
    panel.screen.tap_widget(button(report, "Climate"))  # tapping it again keeps it
    assert report.category == "climate"
    assert len(report.buttons) == 7
    for b in report.buttons:
        assert b.height >= 56 and b.width >= 56


def test_photo_from_the_camera_lands_in_the_payload(panel: Panel, tmp_path: Path) -> None:
    camera = SimulatedCamera()
    panel.ctx.extras["camera"] = camera
    report = show_report(panel)
    photo_button = report.ids.photo_button
    assert report.has_camera and photo_button.parent.opacity == 1
    panel.screen.tap_widget(photo_button)
    assert report.taking_photo
    panel.settle()
    assert report.photo is not None and report.photo.startswith(b"\x89PNG")
    assert report.ids.message.text == "Photo added"
    assert report.thumbnail is not None and report.ids.thumbnail.width > 0
    assert report.ids.thumbnail.right == pytest.approx(report.ids.categories.right)
    photo = report.photo
    panel.screen.tap_widget(button(report, "Display"))
    panel.screen.save(tmp_path / "report_photo.png")
    panel.screen.tap_widget(report.ids.send)
    panel.settle()
    ((_, payload),) = panel.events()
    assert payload["category"] == "display" and payload["text"] == ""
    assert base64.b64decode(payload["photo"]) == photo and camera.taken == 1
    assert report.photo is None  # left the screen: the photo left memory with the form


def test_no_camera_no_photo_button(panel: Panel) -> None:
    report = show_report(panel)
    photo_button = report.ids.photo_button
    assert not report.has_camera
    assert photo_button.width == 0 and photo_button.disabled
    assert photo_button.parent.opacity == 0 and photo_button.parent.width == 0
    # The field spans the row, aligned with the category grid above it.
    field, grid = report.ids.description, report.ids.categories
    assert field.right == pytest.approx(grid.right)


def test_a_missing_camera_says_so_without_a_traceback(panel: Panel, tmp_path: Path) -> None:
    panel.ctx.extras["camera"] = V4L2Camera(tmp_path / "no-such-video0")
    report = show_report(panel)
    panel.screen.tap_widget(report.ids.photo_button)
    panel.settle()
    assert report.photo is None
    message = report.ids.message.text
    assert message.startswith("No photo: no camera found") and "Traceback" not in message
    assert not report.ids.photo_button.disabled  # it may be tried again
    panel.screen.save(tmp_path / "report_no_camera.png")


def test_a_refused_report_shows_why_and_stays(panel: Panel, tmp_path: Path) -> None:
    import asyncio

    report = show_report(panel)
    panel.screen.tap_widget(button(report, "Video"))
    asyncio.run(panel.queue.close())  # the queue can no longer take anything
    panel.screen.tap_widget(report.ids.send)
    panel.settle()
    assert panel.went == [] and panel.manager.current == "report"
    assert report.ids.message.text == "Could not save this action here; please try again"
    assert not report.ids.send.disabled  # the person may try again
    panel.screen.save(tmp_path / "report_error.png")


def test_hostile_text_is_cleaned_and_capped(panel: Panel) -> None:
    report = show_report(panel)
    field = report.ids.description
    field.text = "Lamp\x00 is\u202e broken\r\n" + "x" * 500
    assert field.text.startswith("Lamp is broken x")  # the line break became a space
    assert field.text.isprintable() and len(field.text) == 200
    type_text(panel, report, "more")  # full: typing adds nothing
    assert len(field.text) == 200
    field.text = "\ud800\x1b[31m"  # a lone surrogate and an escape sequence
    assert field.text == "[31m"
    panel.screen.window.dispatch("on_textinput", "\x07")
    assert field.text == "[31m"
    field.focus = False  # done typing: the on-screen keyboard folds away
    panel.screen.frames(2)
    panel.screen.tap_widget(button(report, "Other"))
    panel.screen.tap_widget(report.ids.send)
    panel.settle()
    ((_, payload),) = panel.events()
    assert payload["text"] == "[31m"


def test_the_form_is_cleared_on_each_visit(panel: Panel) -> None:
    panel.ctx.extras["camera"] = SimulatedCamera()
    report = show_report(panel)
    panel.screen.tap_widget(button(report, "Cleaning"))
    type_text(panel, report, "Coffee spilled")
    panel.screen.tap_widget(report.ids.photo_button)
    panel.settle()
    assert report.photo is not None
    panel.screen.tap_widget(report.ids.cancel)
    assert panel.went == ["status"]
    panel.manager.current = "report"
    panel.screen.frames(2)
    assert report.category == "" and report.ids.send.disabled
    assert report.ids.description.text == "" and report.photo is None
    assert all(b.state == "normal" for b in report.buttons)
    assert panel.events() == []  # cancelled: nothing was queued


def test_on_screen_keyboard_types_and_the_form_stays_above_it(panel: Panel, tmp_path: Path) -> None:
    from tapin.ui.keyboard import dock
    from tests.tapin.ui.test_keyboard import keyboards, tap_key

    # Kivy's keyboard_mode is "systemanddock" (tapin.ui.kivyenv): a tap on the field
    # docks Tapin's keyboard, and a hardware keyboard works as well
    report = show_report(panel)
    field = report.ids.description
    panel.screen.tap_widget(field)
    panel.screen.frames(3)
    (keyboard,) = keyboards(panel.screen)
    assert field.focus and keyboard.layout == "text_en"
    for char in "fan":
        tap_key(panel.screen, char)
    assert field.text == "fan"
    # The form moves above the keyboard: categories fold away, Cancel and Send stay.
    assert report.typing and report.covered == dock.height == keyboard.top
    for name in ("description", "cancel", "send"):
        widget = report.ids[name]
        assert widget.to_window(widget.x, widget.y)[1] >= keyboard.top, name
    panel.screen.save(tmp_path / "report_keyboard.png")
    tap_key(panel.screen, "enter")  # the keyboard's Enter: done typing
    assert not field.focus and not report.typing and report.covered == 0
    assert keyboards(panel.screen) == [] and dock.height == 0
    assert report.ids.categories.height > 100


def test_large_screen_keeps_the_layout(panel: Panel, tmp_path: Path) -> None:
    panel.ctx.extras["camera"] = SimulatedCamera()
    panel.screen.window.size = (1280, 800)
    report = show_report(panel)
    panel.screen.tap_widget(button(report, "Furniture"))
    panel.screen.tap_widget(report.ids.photo_button)
    panel.settle()
    assert report.unit == pytest.approx(1.6)
    send, title = report.ids.send, report.ids.title
    assert send.y >= 0 and title.top <= 800
    frame = panel.render(tmp_path / "report_1280.png")
    assert (frame.width, frame.height) == (1280, 800)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Projector\tflickers\n", "Projector flickers "),
        ("a\x00b\x1bc\x7fd", "abcd"),
        ("\u202eevil\u2066", "evil"),
        ("\ud83d", ""),  # a lone surrogate
        (b"caf\xc3\xa9 \xff", "café \ufffd"),
        (None, ""),
        (42, "42"),
        ("👍🏽 ok", "👍🏽 ok"),
        ("x" * 300, "x" * 200),
    ],
)
def test_clean_text(raw: object, clean: str) -> None:
    from tapin.ui.screens.report import clean_text

    assert clean_text(raw) == clean


class BrokenCamera:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def capture(self) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "No photo: the camera gave nothing"),
        ("not bytes", "No photo: the camera gave nothing"),
        (b"\xff" * (1024 * 1024 + 1), "No photo: it is too large to send"),
        (OSError("boom"), "No photo: the camera did not work"),
    ],
)
def test_a_bad_camera_never_crashes_the_screen(panel: Panel, answer: object, message: str) -> None:
    panel.ctx.extras["camera"] = BrokenCamera(answer)
    report = show_report(panel)
    panel.screen.tap_widget(report.ids.photo_button)
    panel.settle()
    assert report.photo is None and report.ids.message.text == message


def test_portrait_layout_fits(panel: Panel, tmp_path: Path) -> None:
    panel.ctx.extras["camera"] = SimulatedCamera()
    panel.screen.window.size = (480, 800)
    report = show_report(panel)
    panel.screen.frames(3)
    assert report.portrait and report.ids.categories.cols == 2
    assert report.ids.send.y >= 0 and report.ids.title.top <= 800
    assert report.ids.send.right <= 480
    panel.render(tmp_path / "report_portrait.png")


def test_swedish(swedish: None, panel: Panel, tmp_path: Path) -> None:
    from tests.tapin.ui.test_find_room import keep_shot, texts

    panel.ctx.extras["camera"] = SimulatedCamera()
    report = show_report(panel)
    assert [b.text for b in report.buttons] == [
        "Skärm",
        "Video",
        "Ljud",
        "Klimat",
        "Möbler",
        "Städning",
        "Övrigt",
    ]
    shown = texts(report)
    assert "Anmäl ett fel i Aurora" in shown and "Vad är fel?" in shown
    assert "Avbryt" in shown and "Skicka" in shown and "Lägg till bild" in shown
    assert "Välj vad som är fel för att skicka" in shown
    assert report.ids.description.hint_text == "Till exempel: skärmen är svart"
    keep_shot(panel.screen.save(tmp_path / "report_sv_empty.png"))
    panel.screen.tap_widget(button(report, "Städning"))
    assert report.category == "cleaning"
    panel.screen.tap_widget(report.ids.photo_button)
    panel.settle()
    assert report.ids.message.text == "Bild tillagd"
    assert report.ids.photo_button.text == "Ta om bilden"
    keep_shot(panel.screen.save(tmp_path / "report_sv_photo.png"))

"""Tapin's on-screen keyboard: our layouts in a real VKeyboard, real touches on its keys,
the report screen and the "who is booking" dialog reflowing above it, hardware typing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tapin.ui.test_find_room import Panel

pytestmark = pytest.mark.ui

LAYOUTS = ("text_en", "text_sv", "text_sv_narrow", "email", "numeric")
PX_PER_MM = 800 / 154.0  # the official Pi 7" screen: 800 px over 154 mm
FINGER = 9 * PX_PER_MM  # 46.8 px
ALLOWED_CODES = {"shift", "special", "backspace", "enter", "spacebar"}
DEVELOPER = set("\t`~^\\|{}[]<>\x1b")


def layout_file(name: str) -> dict[str, Any]:
    from tapin.ui.keyboard import LAYOUT_DIR

    data: dict[str, Any] = json.loads((LAYOUT_DIR / f"{name}.json").read_text("utf-8"))
    return data


def pages(layout: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """``{"normal": [row, ...], "shift": [...], ...}`` of the pages a layout has."""
    found: dict[str, list[list[Any]]] = {}
    for mode in ("normal", "shift", "special"):
        rows = [layout.get(f"{mode}_{n}") for n in range(1, layout["rows"] + 1)]
        if any(rows):
            assert all(rows), f"page {mode} lacks rows"
            found[mode] = [list(row) for row in rows if row]
    return found


def typed(layout: dict[str, Any], mode: str = "normal") -> set[str]:
    return {key[1] for row in pages(layout)[mode] for key in row if key[1]}


def keyboards(screen: Any) -> list[Any]:
    from tapin.ui.keyboard import TapinKeyboard

    return [w for w in screen.window.children if isinstance(w, TapinKeyboard)]


def the_keyboard(screen: Any) -> Any:
    (keyboard,) = keyboards(screen)
    return keyboard


def key_rects(keyboard: Any) -> list[tuple[list[Any], tuple[float, float, float, float]]]:
    """Every key of the page shown, with its touch target in window pixels (x, y, w, h)."""
    layout = keyboard.available_layouts[keyboard.layout]
    found = []
    for line in range(1, layout["rows"] + 1):
        keys = layout[f"{keyboard.layout_mode}_{line}"]
        hints = keyboard.layout_geometry[f"LINE_HINT_{line}"]
        for key, ((hx, hy), (hw, hh)) in zip(keys, hints, strict=True):
            # the keyboard is a Scatter docked on the window: local -> window
            x, y = keyboard.to_parent(hx * keyboard.width, hy * keyboard.height)
            found.append((key, (x, y, hw * keyboard.width, hh * keyboard.height)))
    return found


def tap_key(screen: Any, wanted: str) -> None:
    """A real tap on the shown page's key that types ``wanted`` (or has that code:
    "shift", "special", "backspace", "enter")."""
    keyboard = the_keyboard(screen)
    for key, (x, y, w, h) in key_rects(keyboard):
        if wanted in (key[1], key[2]):
            screen.tap(x + w / 2, screen.window.height - (y + h / 2))
            return
    raise AssertionError(f"no key {wanted!r} on the {keyboard.layout_mode} page")


def type_on_keys(screen: Any, text: str) -> None:
    """Type ``text`` with real taps: shift for capitals, the ?123 page where needed."""
    for char in text:
        keyboard = the_keyboard(screen)
        layout = keyboard.available_layouts[keyboard.layout]
        wanted = " " if char == " " else char
        for mode in ("normal", "shift", "special"):
            if mode in pages(layout) and wanted in typed(layout, mode):
                break
        else:
            raise AssertionError(f"{char!r} is on no page of {keyboard.layout}")
        if (mode == "special") != (keyboard.layout_mode == "special"):
            tap_key(screen, "special")  # ?123 there, ABC back
        if mode == "shift":
            tap_key(screen, "shift")
        screen.frames(1)
        tap_key(screen, wanted)
        screen.frames(1)


def window_rect(widget: Any) -> tuple[float, float, float, float]:
    x, y = widget.to_window(widget.x, widget.y)
    return x, y, widget.width, widget.height


def fully_visible(widget: Any, screen: Any) -> bool:
    """Inside the window and entirely above the docked keyboard."""
    from tapin.ui.keyboard import dock

    x, y, w, h = window_rect(widget)
    win_w, win_h = screen.window.size
    return (
        w > 0
        and h > 0
        and x >= -0.5
        and x + w <= win_w + 0.5
        and y >= dock.height - 0.5
        and (y + h <= win_h + 0.5)
    )


def render_window(screen: Any, path: Path) -> Path:
    """Everything in the window (the screen, a dialog, the keyboard) drawn into a
    framebuffer of the window's current size, as PNG; also into $TAPIN_UI_SHOTS. (The
    offscreen window's own framebuffer keeps its first size.)"""
    from kivy.graphics import ClearBuffers, ClearColor, Fbo, Scale, Translate

    from tapin.ui.screenshot import Frame, write_png

    window = screen.window
    width, height = (int(v) for v in window.size)
    fbo = Fbo(size=(width, height), with_stencilbuffer=True)
    with fbo:
        ClearColor(0, 0, 0, 1)
        ClearBuffers()
        Scale(1, -1, 1)
        Translate(0, -height, 0)
    layers = sorted((window.canvas.indexof(c.canvas), c) for c in window.children)
    for _, child in layers:
        window.canvas.remove(child.canvas)
        fbo.add(child.canvas)
    try:
        fbo.draw()
        pixels = bytes(fbo.texture.pixels)
    finally:
        for index, child in layers:
            fbo.remove(child.canvas)
            window.canvas.insert(index, child.canvas)
    write_png(path, Frame(width, height, pixels))
    shots = os.environ.get("TAPIN_UI_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(shots) / path.name)
    return path


@pytest.fixture
def panel(screen: Any, tmp_path: Path) -> Iterator[Panel]:
    harness = Panel(screen, tmp_path)
    yield harness
    from kivy.uix.modalview import ModalView

    for widget in list(screen.window.children):
        if isinstance(widget, ModalView):
            widget.dismiss(animation=False)
    screen.window.release_all_keyboards()
    harness.close()


@pytest.fixture(params=["en_GB", "sv_SE"])
def language(request: Any) -> Iterator[str]:
    from tapin import i18n

    i18n.use(request.param)
    yield request.param
    i18n.use("en_GB")


@pytest.fixture
def swedish() -> Iterator[None]:
    from tapin import i18n

    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def show_report(panel: Panel) -> Any:
    from tapin.ui.screens.report import ReportScreen

    return panel.show(ReportScreen)


def open_who(panel: Panel, chosen: list[Any], unit: float = 1.0) -> Any:
    from tapin.ui.screens.who import WhoDialog

    who = WhoDialog(panel.runtime.directory, chosen.append, unit=unit)
    who.open(animation=False)
    panel.screen.frames(4)
    return who


# the layouts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_layout_loads_in_a_real_vkeyboard(screen: Any, name: str) -> None:
    from kivy.uix.vkeyboard import VKeyboard

    from tapin.ui.keyboard import LAYOUT_DIR

    keyboard = VKeyboard(layout_path=str(LAYOUT_DIR), layout=name)
    screen.frames(2)
    assert keyboard.layout == name  # Kivy falls back on qwerty when it cannot load one
    layout = keyboard.available_layouts[name]
    for mode, rows in pages(layout).items():
        keyboard.layout_mode = mode
        keyboard.refresh(True)
        for line, row in enumerate(rows, start=1):
            assert len(keyboard.layout_geometry[f"LINE_{line}"]) == len(row)
            assert sum(key[3] for key in row) == pytest.approx(layout["cols"]), (mode, line)
            for key in row:
                assert len(key) == 4 and key[0], key


@pytest.mark.parametrize("name", LAYOUTS)
def test_no_developer_keys(name: str) -> None:
    layout = layout_file(name)
    for mode, rows in pages(layout).items():
        for row in rows:
            for label, text, code, _width in row:
                # a key that types is named by what it types (shifted: its lower case)
                assert code in ALLOWED_CODES or (text and code == text.lower()), (mode, label)
                assert not DEVELOPER & set(text or ""), (mode, label)
                assert not DEVELOPER & set(label), (mode, label)
        codes = {key[2] for row in rows for key in row}
        assert {"tab", "escape", "ctrl", "alt", "capslock", "layout"}.isdisjoint(codes)
    reachable = {key[2] for rows in pages(layout).values() for row in rows for key in row}
    if "shift" in reachable:
        assert "shift" in pages(layout)
    if "special" in reachable:
        assert "special" in pages(layout)


def test_text_layouts_have_the_letters_names_need() -> None:
    swedish, english = layout_file("text_sv"), layout_file("text_en")
    letter_rows = pages(swedish)["normal"][:2]
    assert {"å", "ä", "ö"} <= {key[1] for row in letter_rows for key in row}
    assert {"Å", "Ä", "Ö"} <= typed(swedish, "shift")
    narrow = layout_file("text_sv_narrow")  # portrait: the same letters in ten columns
    for mode in ("normal", "shift", "special"):
        assert typed(swedish, mode) - typed(narrow, mode) <= typed(narrow), mode
    for layout in (swedish, english, narrow):
        assert {"é", "ü"} <= typed(layout) and {"É", "Ü"} <= typed(layout, "shift")
        assert set("abcdefghijklmnopqrstuvwxyz") <= typed(layout)
        assert set("0123456789") <= typed(layout, "special")
        assert {" ", "-", "."} <= typed(layout) | typed(layout, "special")
    assert {"å", "ä", "ö"} <= typed(english, "special")  # Swedish names on an English panel


def test_email_and_numeric_layouts() -> None:
    email, numeric = layout_file("email"), layout_file("numeric")
    assert {"@", ".", ".com", "-", "_"} <= typed(email)
    assert set("0123456789") | set("abcdefghijklmnopqrstuvwxyz") <= typed(email)
    assert " " not in typed(email)  # no address has a space
    assert typed(numeric) == set("0123456789")
    codes = {key[2] for row in pages(numeric)["normal"] for key in row}
    assert {"backspace", "enter"} <= codes and list(pages(numeric)) == ["normal"]


def test_the_layout_follows_the_field_and_the_language() -> None:
    from tapin.ui.keyboard import layout_name

    assert layout_name("text", "sv_SE") == "text_sv"
    assert layout_name("text", "sv_SE", width=480) == "text_sv_narrow"
    assert layout_name("text", "sv_SE", width=800) == "text_sv"
    assert layout_name("text", "en_GB", width=480) == "text_en"
    assert layout_name("text", "en_GB") == layout_name("text", "en_US") == "text_en"
    assert layout_name("email", "sv_SE") == "email"
    assert layout_name("numeric") == "numeric"
    with pytest.raises(ValueError, match="unknown keyboard kind"):
        layout_name("qwerty")


# the docked keyboard -------------------------------------------------------------------


@pytest.mark.parametrize("size", [(800, 480), (480, 800)])
@pytest.mark.parametrize("kind", ["text", "email", "numeric"])
def test_keys_are_big_enough_for_a_finger(
    language: str, panel: Panel, size: tuple[int, int], kind: str
) -> None:
    from tapin.ui.keyboard import dock, show_keyboard

    panel.screen.window.size = size
    report = show_report(panel)
    show_keyboard(report.ids.description, kind)
    panel.screen.frames(3)
    keyboard = the_keyboard(panel.screen)
    swedish = "text_sv" if size[0] >= 11 * FINGER else "text_sv_narrow"
    assert keyboard.layout == {"email": "email", "numeric": "numeric"}.get(
        kind, swedish if language == "sv_SE" else "text_en"
    )
    assert keyboard.width == size[0] and keyboard.y == 0 and dock.height == keyboard.height
    layout = keyboard.available_layouts[keyboard.layout]
    for mode in pages(layout):
        keyboard.layout_mode = mode
        panel.screen.frames(1)
        for key, (_x, _y, w, h) in key_rects(keyboard):
            if size == (800, 480):  # landscape: 9 mm both ways
                assert w >= FINGER and h >= FINGER, (mode, key[0], w, h)
            else:  # portrait: taller rows; Swedish in ten columns (å ä ö on a row of theirs)
                assert h >= 56, (mode, key[0], h)
                assert w >= FINGER, (mode, key[0], w)
    # the keyboard leaves at least half of the window to the form it serves
    assert dock.height <= size[1] * 0.52


def test_swedish_letters_typed_with_real_touches(swedish: None, panel: Panel) -> None:
    report = show_report(panel)
    field = report.ids.description
    panel.screen.tap_widget(field)
    assert field.focus and the_keyboard(panel.screen).layout == "text_sv"
    for letter in "åäö":
        tap_key(panel.screen, letter)
    assert field.text == "åäö"
    tap_key(panel.screen, "backspace")
    assert field.text == "åä"
    type_on_keys(panel.screen, " Åsa Müller-Renée 12")
    assert field.text == "åä Åsa Müller-Renée 12"
    keyboard = the_keyboard(panel.screen)
    assert keyboard.layout_mode == "special"  # where the digits were
    tap_key(panel.screen, "special")  # ABC: back to the letters
    tap_key(panel.screen, "shift")
    panel.screen.frames(1)
    assert keyboard.layout_mode == "shift"
    tap_key(panel.screen, "Ö")
    panel.screen.frames(1)
    assert field.text.endswith("Ö") and keyboard.layout_mode == "normal"  # one letter only
    assert report.ids.count.text == f"{len(field.text)}/200"


def test_a_hardware_keyboard_still_types(panel: Panel) -> None:
    report = show_report(panel)
    field = report.ids.description
    window = panel.screen.window
    panel.screen.tap_widget(field)
    assert keyboards(panel.screen)  # the on-screen keyboard is up, and yet:
    for char in "Fläkt":
        window.dispatch("on_textinput", char)
    window.dispatch("on_key_down", 8, 42, None, [])  # Backspace
    window.dispatch("on_key_up", 8, 42)
    assert field.text == "Fläk"
    window.dispatch("on_key_down", 13, 40, None, [])  # Enter: done typing
    panel.screen.frames(2)
    assert not field.focus and keyboards(panel.screen) == []


def test_the_keyboard_goes_when_the_field_loses_focus(panel: Panel) -> None:
    from tapin.ui.keyboard import dock

    report = show_report(panel)
    field = report.ids.description
    panel.screen.tap_widget(field)
    assert report.typing and report.covered == dock.height > 0
    panel.screen.tap_widget(report.ids.title)  # a tap anywhere else
    assert not field.focus and keyboards(panel.screen) == []
    assert dock.height == 0 and not report.typing and report.covered == 0
    assert report.ids.categories.height > 100  # the form is whole again


@pytest.mark.parametrize("size", [(800, 480), (480, 800), (1024, 600), (1280, 800)])
def test_report_field_and_cancel_stay_in_view(
    language: str, panel: Panel, size: tuple[int, int], tmp_path: Path
) -> None:
    panel.screen.window.size = size
    report = show_report(panel)
    panel.screen.tap_widget(report.ids.description)
    panel.screen.frames(3)
    assert report.typing and keyboards(panel.screen)
    for name in ("description", "cancel", "send", "count", "title"):
        assert fully_visible(report.ids[name], panel.screen), name
    type_on_keys(panel.screen, "Lampan" if language == "sv_SE" else "Lamp")
    w, h = size
    render_window(panel.screen, tmp_path / f"report-keyboard-{language}-{w}x{h}.png")
    if h > w:  # portrait has room for the categories too: one can be chosen while typing
        assert all(fully_visible(b, panel.screen) for b in report.buttons)
        panel.screen.tap_widget(report.buttons[0])
        assert report.category and not report.ids.description.focus
        return
    assert report.ids.categories.opacity == 0 and report.ids.categories.disabled
    panel.screen.tap_widget(report.ids.cancel)  # Cancel works while typing
    assert panel.went == ["status"] and keyboards(panel.screen) == []


@pytest.mark.parametrize("size", [(800, 480), (480, 800)])
def test_who_field_and_cancel_stay_in_view(
    language: str, panel: Panel, size: tuple[int, int], tmp_path: Path
) -> None:
    from tapin.calendar import Directory
    from tapin.domain import Person

    panel.screen.window.size = size
    show_report(panel)  # something behind the dialog
    names = ["Sam Öberg", "Sanna Ek", "Sara Åberg", "Sebastian Müller", "Selma Renée", "Sigrid"]
    panel.runtime.directory = Directory(
        Person(id=f"p-{i}", name=name, email="x@example.invalid") for i, name in enumerate(names)
    )
    chosen: list[Any] = []
    who = open_who(panel, chosen)
    assert who.ids.query.focus and keyboards(panel.screen)
    type_on_keys(panel.screen, "s")
    panel.screen.frames(2)
    assert list(who.buttons) == sorted(names)
    assert who.compact == (size[0] > size[1])
    for widget in (who, who.ids.query, who.ids.cancel, *who.buttons.values()):
        assert fully_visible(widget, panel.screen), getattr(widget, "text", widget)
    for button in who.buttons.values():
        assert button.height >= FINGER and button.width >= FINGER
    w, h = size
    render_window(panel.screen, tmp_path / f"who-keyboard-{language}-{w}x{h}.png")
    panel.screen.tap_widget(who.ids.cancel)
    assert chosen == [] and keyboards(panel.screen) == []


def test_a_badge_reader_types_into_who_and_enter_books(panel: Panel, tmp_path: Path) -> None:
    from tapin.ui.keyboard import dock

    chosen: list[Any] = []
    who = open_who(panel, chosen)
    window = panel.screen.window
    for char in "04a0":  # a wrong badge first: the message says so, the field stays
        window.dispatch("on_textinput", char)
    window.dispatch("on_key_down", 13, 40, None, [])
    panel.screen.frames(3)
    assert "not recognised" in who.message and who.ids.query.focus and keyboards(panel.screen)
    assert who.ids.title.text == who.message  # compact: the problem is said in the title
    render_window(panel.screen, tmp_path / "who-keyboard-not-recognised.png")
    for char in "04a00 7f3c":  # Anna's badge as a reader types it, then Enter
        window.dispatch("on_textinput", char)
    window.dispatch("on_key_down", 13, 40, None, [])
    panel.screen.frames(3)
    assert [p.id for p in chosen] == ["p-anna"]
    assert keyboards(panel.screen) == [] and dock.height == 0  # the dialog took it along


def test_choosing_a_match_with_a_tap_while_typing(panel: Panel) -> None:
    chosen: list[Any] = []
    who = open_who(panel, chosen)
    type_on_keys(panel.screen, "bj")
    assert list(who.buttons) == ["Björn Ek"]
    panel.screen.tap_widget(who.buttons["Björn Ek"])
    assert [p.id for p in chosen] == ["p-bjorn"] and keyboards(panel.screen) == []


def test_show_keyboard_switches_the_layout_of_a_focused_field(panel: Panel) -> None:
    from tapin.ui.keyboard import dock, show_keyboard

    report = show_report(panel)
    field = report.ids.description
    show_keyboard(field)
    panel.screen.frames(2)
    assert the_keyboard(panel.screen).layout == "text_en" and dock.kind == "text"
    text_height = dock.height
    show_keyboard(field, "numeric")
    panel.screen.frames(2)
    assert the_keyboard(panel.screen).layout == "numeric" and dock.kind == "numeric"
    assert dock.height < text_height and report.covered == dock.height
    assert field.input_type == "number"
    type_on_keys(panel.screen, "42")
    assert field.text == "42"
    with pytest.raises(ValueError, match="unknown keyboard kind"):
        show_keyboard(field, "dvorak")


def test_key_labels_are_readable(screen: Any) -> None:
    from tapin.ui.keyboard import TapinKeyboard
    from tapin.ui.theme import PALETTE, contrast

    keyboard = TapinKeyboard()
    for name in LAYOUTS:
        for rows in pages(layout_file(name)).values():
            for key in (key for row in rows for key in row):
                for shifted in (False, True):
                    keyboard.have_shift = shifted
                    background, ink = keyboard._colours(key)
                    assert contrast(PALETTE[ink], PALETTE[background]) >= 4.5, (name, key)
                    assert background not in ("card_bg", "panel_bg"), key  # a key shows


def test_a_tap_on_the_keyboard_edge_keeps_it_open(panel: Panel) -> None:
    report = show_report(panel)
    field = report.ids.description
    panel.screen.tap_widget(field)
    keyboard = the_keyboard(panel.screen)
    height = panel.screen.window.height
    for x, y in ((1, height - 1), (keyboard.width - 1, height - keyboard.top + 1)):
        panel.screen.tap(x, y)  # the corners, between the keys and the edge
        assert field.focus and keyboards(panel.screen), (x, y)
    assert field.text == ""

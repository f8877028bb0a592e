"""Tapin's on-screen keyboard: our own layouts, chosen per field, docked so that it never
hides the field being typed or the way out.

The small API (panel and kiosk):

``TapinTextInput(keyboard_layout="text" | "email" | "numeric")``
    A one-line text field. When it gets the focus (a tap, or :func:`show_keyboard`),
    Kivy docks the on-screen keyboard with the layout of its kind: ``"text"`` is the
    device language's letters (``sv_SE``: Swedish with å ä ö, else English; both have é
    and ü on the letter page and more accents on the ``?123`` page), ``"email"`` has
    digits, ``@ . - _`` and ``.com``, ``"numeric"`` digits, backspace and Enter. The
    keyboard goes away when the field loses the focus (Enter, a tap elsewhere, the
    screen left).
:func:`show_keyboard` ``(field, kind=None)``
    Focus ``field``, optionally switching its layout first (the tour uses it to show the
    keyboard state).
:data:`dock`
    ``dock.height`` is how much of the window, from the bottom, the keyboard covers
    (0 when none is shown); ``dock.kind`` and ``dock.target`` say for which field. A
    screen lays its content out in the rest: ``y: dock.height`` and ``height:
    root.height - dock.height`` on its content (see ``tapin/ui/screens/report.kv``).
:class:`KeyboardModal`
    A ``ModalView`` that stays in the part of the window the keyboard leaves free
    (Kivy centres a modal in the whole window, under the keyboard); ``covered`` and
    ``portrait`` let its KV fold things away while typing (see ``screens/who.kv``).

How Kivy behaves, and why this module does its own docking (Kivy 2.3): with
``keyboard_mode = "systemanddock"`` (set in :mod:`tapin.ui.kivyenv`) a focused field asks
``Window.request_keyboard``, which adds one shared ``VKeyboard`` to the window and
docks it at the bottom, and still binds the window's hardware key events to the field:
a USB keyboard or a badge reader (which types like one, then Enter) keeps working.
The stock dock scales a 700x200 keyboard to the window's width (small keys, no say in
the height) and ``Window.softinput_mode`` does not help on a Pi: ``"pan"`` lifts the
whole window by the keyboard's height (the title goes off the top), ``"below_target"``
lifts it just enough to show the field but leaves what is under the field (Cancel,
Send) under the keyboard, and ``"resize"``/``"scale"`` use ``Window.keyboard_height``,
which is 0 for Kivy's own keyboard. So ``softinput_mode`` stays ``""``, the window
makes our :class:`TapinKeyboard` (``Window.set_vkeyboard_class``, done by
:func:`install`), which sizes its own keys (at least 47 px, 9 mm on the 7" Pi screen,
in landscape; taller in portrait) and reports its height in :data:`dock`, and screens
reflow above it.

Shift and the ``?123`` page are taps, not held keys (one finger): shift is for the
next letter only. There are no developer keys (tab, escape, ctrl, alt, `~` ...).

Imports Kivy: import only after :func:`tapin.ui.kivyenv.prepare_kivy`.
"""

from __future__ import annotations

from typing import Any

from kivy.event import EventDispatcher
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.behaviors import FocusBehavior
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.textinput import TextInput
from kivy.uix.vkeyboard import VKeyboard

import assets
from tapin import i18n
from tapin.ui.kit import screen_unit
from tapin.ui.kivyenv import FONT
from tapin.ui.theme import PALETTE, rgba

__all__ = [
    "KINDS",
    "LAYOUT_DIR",
    "KeyboardDock",
    "KeyboardModal",
    "TapinKeyboard",
    "TapinTextInput",
    "dock",
    "install",
    "key_pitch",
    "layout_name",
    "show_keyboard",
]

KINDS = ("text", "email", "numeric")
LAYOUT_DIR = assets.path("keyboards")
"""``<name>.json`` Kivy VKeyboard layouts: ``text_en``, ``text_sv``, ``email``, ``numeric``."""
INPUT_TYPES = {"text": "text", "email": "mail", "numeric": "number"}
"""The kind as Kivy's ``input_type`` (what a system keyboard, if any, is asked for)."""

LANDSCAPE_PITCH = (48.0, 54.0, 0.5)
"""Row pitch in landscape, in units: at least, wanted, and the share of the window
height the whole keyboard may take before rows shrink towards the minimum."""
PORTRAIT_PITCH = (56.0, 64.0, 0.42)
MARGIN = 4.0
"""Free edge around the keys, in units."""
GAP = 4.0
"""Space between two keys, in units (the touch target is the whole pitch)."""
PAGE_KEYS = ("shift", "special")


NARROW_BELOW = 11 * 47
"""Windows narrower than this (px) get the ten-column Swedish layout: eleven keys a row
(å after p, ö ä after l) would be under 47 px (9 mm on a 7" screen) each."""


def layout_name(kind: str, locale: str | None = None, *, width: float | None = None) -> str:
    """The layout file (without ``.json``) for a field kind in ``locale`` (default: the
    device's) on a window ``width`` px wide (when known). Raises ``ValueError`` for a kind
    not in :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"unknown keyboard kind {kind!r}; expected one of {KINDS}")
    if kind != "text":
        return kind
    language = (locale or i18n.current()).split("_")[0].lower()
    if language != "sv":
        return "text_en"
    return "text_sv_narrow" if width is not None and width < NARROW_BELOW else "text_sv"


def key_pitch(width: float, height: float, rows: int) -> float:
    """The height of one key row, in pixels, for a window of ``width`` x ``height``."""
    unit, portrait = screen_unit(width, height)
    least, wanted, share = PORTRAIT_PITCH if portrait else LANDSCAPE_PITCH
    # a fifth row (the narrow Swedish layout) takes its height from the others first
    budget = min(height * share, 4 * wanted * unit + 2 * MARGIN * unit)
    room = (budget - 2 * MARGIN * unit) / max(1, rows)
    return max(least * unit, min(wanted * unit, room))


class KeyboardDock(EventDispatcher):
    """Where the docked keyboard is: one per process, :data:`dock`."""

    height = NumericProperty(0.0)
    """Window pixels covered from the bottom; 0 when no keyboard is shown."""
    kind = StringProperty("")
    target = ObjectProperty(None, allownone=True)

    def serves(self, field: Any) -> bool:
        """The keyboard is shown, for ``field`` (a widget or its KV ``ids`` proxy)."""
        return bool(self.height > 0 and self.target is not None and self.target == field)


dock = KeyboardDock()


class TapinKeyboard(VKeyboard):
    """Kivy's VKeyboard with Tapin's layouts, docking, colours and one-finger pages."""

    kind = StringProperty("text")
    _start_repeat_key_ev: Any = None  # VKeyboard's own (a key held down repeats)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout_path", str(LAYOUT_DIR))
        kwargs.setdefault("layout", layout_name("text"))
        kwargs.setdefault("font_name", FONT)
        super().__init__(**kwargs)
        self._window: Any = None
        self.fbind("layout_mode", self._relayout)

    # which layout ------------------------------------------------------------------

    def on_target(self, _keyboard: Any, target: Any) -> None:
        if target is not None:
            self.use(target)

    def use(self, target: Any) -> None:
        """Show the layout ``target`` asks for (its ``keyboard_layout``, else text),
        from its first page."""
        kind = getattr(target, "keyboard_layout", "text")
        self.kind = kind if kind in KINDS else "text"
        self.have_shift = self.have_special = self.have_capslock = False
        self.layout_mode = "normal"
        window = self.get_parent_window()
        self.layout = layout_name(self.kind, width=window.width if window else None)
        if self.parent is not None and self.docked:
            self.setup_mode()

    # docking -----------------------------------------------------------------------

    def setup_mode_dock(self, *_: Any) -> None:
        """Full width at the bottom of the window, rows of :func:`key_pitch`."""
        self.do_translation = self.do_rotation = self.do_scale = False
        self.rotation = 0
        self.scale = 1
        window = self.get_parent_window()
        if window is None:
            return
        if self._window is not window:
            window.bind(on_resize=self._update_dock_mode)
            self._window = window
        self._dock(window)

    def _update_dock_mode(self, window: Any, *_: Any) -> None:
        if self.parent is not None and self.docked:
            self._dock(window)

    def _dock(self, window: Any) -> None:
        wanted = layout_name(self.kind, width=float(window.width))
        if wanted != self.layout:  # turned, or first docked: the layout for this width
            self.layout = wanted
        layout = self.available_layouts.get(self.layout)
        if layout is None:
            return
        width, height = float(window.width), float(window.height)
        unit, _portrait = screen_unit(width, height)
        pitch = key_pitch(width, height, int(layout["rows"]))
        margin = MARGIN * unit
        total = int(layout["rows"]) * pitch + 2 * margin
        self.size = (width, total)
        self.pos = (0, 0)
        self.margin_hint = [margin / total, margin / width, margin / total, margin / width]
        self.key_margin = [GAP * unit / 2] * 4
        self.font_size = pitch * 0.44
        self.refresh(True)
        dock.kind, dock.target, dock.height = self.kind, self.target, total

    def on_parent(self, _keyboard: Any, parent: Any) -> None:
        if parent is None:  # released: the field lost the focus
            self.have_shift = self.have_special = False
            dock.height, dock.kind, dock.target = 0.0, "", None

    def _relayout(self, *_: Any) -> None:
        layout = self.available_layouts.get(self.layout)
        if layout is not None and f"{self.layout_mode}_1" in layout:
            self.refresh(True)  # the pages may have keys of other widths

    def collide_margin(self, x: float, y: float) -> bool:
        """Never "in the margin": Kivy hands such a touch on, and the field would lose
        the focus (and the keyboard close) for a finger a little off the keys."""
        return False

    # one-finger pages --------------------------------------------------------------

    def process_key_on(self, touch: Any) -> None:
        """A key pressed. Shift and ``?123``/``ABC`` flip a page (they are never typed);
        shift lasts for one letter."""
        if not touch:
            return
        found = self.get_key_at_pos(*self.to_local(*touch.pos))
        if not found:
            return
        code = found[0][2]
        if code in PAGE_KEYS:
            if self._start_repeat_key_ev is not None:
                self._start_repeat_key_ev.cancel()
                self._start_repeat_key_ev = None
            self.repeat_touch = None
            if code == "shift":
                self.have_shift = not self.have_shift
            else:
                self.have_special, self.have_shift = not self.have_special, False
            return
        shifted = self.have_shift
        super().process_key_on(touch)
        if shifted:
            self.have_shift = False

    # drawing -----------------------------------------------------------------------

    def _colours(self, key: list[Any]) -> tuple[str, str]:
        """``(background, ink)`` palette names for a key: Enter is the primary button,
        keys that type are lighter than the keys around them (shift, ?123, backspace)."""
        code = key[2]
        if code == "enter":
            return "primary_bg", "primary_ink"
        if code == "shift" and self.have_shift:
            return "timeline_meeting", "panel_bg"
        if code in ("shift", "special", "backspace"):
            return "secondary_bg", "ink"
        return "secondary_down", "ink"

    def draw_keys(self) -> None:
        layout = self.available_layouts[self.layout]
        geometry = self.layout_geometry
        unit = screen_unit(*(self._window.size if self._window else self.size))[0]
        self.background_key_layer.clear()
        labels: list[tuple[list[Any], Any, Any, str]] = []
        with self.background_key_layer:
            Color(*rgba(PALETTE["card_bg"]))
            Rectangle(pos=(0, 0), size=self.size)
            Color(*rgba(PALETTE["timeline_track"]))
            Rectangle(pos=(0, self.height - max(1.0, unit)), size=(self.width, max(1.0, unit)))
            for line in range(1, int(layout["rows"]) + 1):
                keys = layout[f"{self.layout_mode}_{line}"]
                for (pos, size), key in zip(geometry[f"LINE_{line}"], keys, strict=True):
                    background, ink = self._colours(key)
                    Color(*rgba(PALETTE[background]))
                    RoundedRectangle(pos=pos, size=size, radius=[6 * unit])
                    labels.append((key, pos, size, ink))
        for key, pos, size, ink in labels:  # made outside the ``with``: a widget's canvas
            self.add_widget(self._label(key, pos, size, ink))  # would land in the layer

    def _label(self, key: list[Any], pos: Any, size: Any, ink: str) -> Label:
        text = str(key[0])
        word = len(text) > 1
        font = min(size[1] * (0.36 if word else 0.52), size[0] * (0.3 if word else 0.62))
        return Label(
            text=text,
            pos=pos,
            size=size,
            font_size=font,
            font_name=self.font_name,
            color=rgba(PALETTE[ink]),
            bold=key[2] in PAGE_KEYS,
        )

    def refresh_active_keys_layer(self) -> None:
        self.active_keys_layer.clear()
        with self.active_keys_layer:
            Color(*rgba(PALETTE["timeline_meeting"], 0.45))  # a pressed key lights up
            for line, index in self.active_keys.values():
                pos, size = self.layout_geometry[f"LINE_{line}"][index]
                RoundedRectangle(pos=pos, size=size, radius=[6])


def install() -> None:
    """Make :class:`TapinKeyboard` the keyboard the window docks. Safe to call often;
    a stock keyboard Kivy made earlier is dropped when it is not shown."""
    from kivy.core.window import Window

    if Window is None or getattr(Window, "_vkeyboard_cls", None) is TapinKeyboard:
        return
    Window.set_vkeyboard_class(TapinKeyboard)
    keyboards = getattr(Window, "_keyboards", {})  # Kivy caches the one shared keyboard
    single = keyboards.get("single")
    if single is not None and single.widget is not None and single.widget.parent is None:
        del keyboards["single"]


class TapinTextInput(TextInput):
    """A one-line field that docks the keyboard of its ``keyboard_layout`` when focused."""

    keyboard_layout = OptionProperty("text", options=KINDS)

    def __init__(self, **kwargs: Any) -> None:
        install()
        super().__init__(**kwargs)
        self.fbind("keyboard_layout", self._on_layout)
        self._on_layout()

    def _on_layout(self, *_: Any) -> None:
        self.input_type = INPUT_TYPES[self.keyboard_layout]
        keyboard = getattr(self._keyboard, "widget", None)
        if self.focus and isinstance(keyboard, TapinKeyboard) and keyboard.target is self:
            keyboard.use(self)


def show_keyboard(field: Any, kind: str | None = None) -> None:
    """Focus ``field`` (its keyboard docks), first switching it to ``kind`` if given.
    Raises ``ValueError`` for a kind not in :data:`KINDS`."""
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"unknown keyboard kind {kind!r}; expected one of {KINDS}")
        field.keyboard_layout = kind
    field.focus = True


def _focused_fields(widget: Any) -> list[Any]:
    found = [widget] if isinstance(widget, FocusBehavior) and widget.focus else []
    for child in widget.children:
        found += _focused_fields(child)
    return found


class KeyboardModal(ModalView):
    """A modal in the part of the window above the docked keyboard. With ``size_hint_y``
    ``None`` its height is ``fill`` of that part. Its fields lose the focus (and the
    keyboard goes) when it is dismissed."""

    fill = NumericProperty(0.92)
    covered = NumericProperty(0.0)
    """Window pixels the keyboard covers now (0: none)."""
    portrait = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dock.bind(height=self._align_center)  # bind, not fbind: a weak reference
        self.fbind("fill", self._align_center)
        self.bind(on_pre_dismiss=self._release_fields)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self._align_center()

    def _align_center(self, *_: Any) -> None:
        # Kivy's ModalView keeps itself at the window's centre through this method
        window = self._window
        if not self._is_open or window is None:
            return
        self.covered = float(dock.height)
        self.portrait = window.height > window.width
        free = max(1.0, float(window.height) - self.covered)
        if self.size_hint_y is None:
            self.height = free * self.fill
        self.center = (window.width / 2.0, self.covered + free / 2.0)

    def _release_fields(self, *_: Any) -> None:
        for field in _focused_fields(self):
            field.focus = False


Builder.load_string(
    """
#:import rgba tapin.ui.theme.rgba
#:import PALETTE tapin.ui.theme.PALETTE

<TapinTextInput>:
    multiline: False
    write_tab: False
    keyboard_suggestions: False
    background_normal: ""
    background_active: ""
    background_color: rgba(PALETTE["card_bg"])
    foreground_color: rgba(PALETTE["ink"])
    hint_text_color: rgba(PALETTE["muted"])
    cursor_color: rgba(PALETTE["ink"])
    selection_color: rgba(PALETTE["timeline_meeting"], 0.35)
    canvas.after:
        Color:
            rgba: rgba(PALETTE["ink"] if self.focus else PALETTE["muted"])
        Line:
            rectangle: self.x + 1, self.y + 1, self.width - 2, self.height - 2
            width: 1.5 if self.focus else 1
"""
)

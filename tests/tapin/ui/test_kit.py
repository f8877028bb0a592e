"""The kit's buttons: a label is shown whole or the tour says which one is not."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ui


def _settle(screen, widget) -> None:
    screen.window.add_widget(widget)
    screen.frames(4)


def test_a_shortened_or_overflowing_label_is_reported(screen) -> None:
    from kivy.uix.button import Button

    from tapin.ui.kit import cut_labels

    cut = Button(text="Boka det här rummet nu", size_hint=(None, None), size=(90, 50))
    cut.text_size = cut.size
    cut.shorten = True
    too_tall = Button(text="one two three four five six", size_hint=(None, None), size=(60, 30))
    too_tall.text_size = (60, None)
    fine = Button(text="OK", size_hint=(None, None), size=(120, 50), pos=(300, 300))
    for widget in (cut, too_tall, fine):
        _settle(screen, widget)
    try:
        found = cut_labels([cut, too_tall, fine])
        assert len(found) == 2
        assert "Boka det" in found[0] and "one two" in found[1]
        assert cut_labels([fine]) == []
    finally:
        for widget in (cut, too_tall, fine):
            screen.window.remove_widget(widget)


def test_role_buttons_shrink_then_wrap_but_never_cut(screen) -> None:
    from tapin.ui.kit import MIN_SCALE, PrimaryButton, cut_labels

    short = PrimaryButton(text="Book", size_hint=(None, None), size=(200, 56), font_units=20)
    longer = PrimaryButton(
        text="Hitta ett annat rum", size_hint=(None, None), size=(140, 56), font_units=20
    )
    longest = PrimaryButton(
        text="Avsluta mötet och släpp rummet", size_hint=(None, None), size=(150, 70), font_units=20
    )
    for widget in (short, longer, longest):
        _settle(screen, widget)
    try:
        assert short.font_size == pytest.approx(20)  # fits: left alone
        assert MIN_SCALE * 20 <= longer.font_size < 20  # shrunk to fit on one line
        assert longest.text_size[0] is not None  # shrinking was not enough: it wraps
        assert cut_labels([short, longer, longest]) == []
        assert not any(b.shorten for b in (short, longer, longest))
    finally:
        for widget in (short, longer, longest):
            screen.window.remove_widget(widget)

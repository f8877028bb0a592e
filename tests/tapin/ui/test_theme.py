"""Status colours are readable and tell the states apart without hue: the ink each state
uses has a contrast of at least 4.5:1 on its colour, its card and its stripes, and the
status colours differ from each other in luminance."""

from __future__ import annotations

from itertools import combinations

import pytest

from tapin.ui.theme import (
    NOTICE_COLOURS,
    PALETTE,
    STATE_CARDS,
    STATE_COLOURS,
    STATE_HATCH,
    STATE_INK,
    contrast,
)

MIN_STATE_SEPARATION = 1.4
"""Between any two status colours: apart in greyscale and for colour-blind people."""


@pytest.mark.parametrize("state", sorted(STATE_COLOURS))
def test_each_status_ink_meets_wcag_aa_on_its_colour_card_and_stripes(state: str) -> None:
    ink = STATE_INK[state]
    for background in (STATE_COLOURS[state], STATE_CARDS[state], STATE_HATCH[state]):
        assert contrast(ink, background) >= 4.5, (state, background)


def test_dark_ink_on_light_status_colours_white_on_dark_ones() -> None:
    light = {s for s in STATE_COLOURS if contrast(PALETTE["ink"], STATE_COLOURS[s]) < 4.5}
    assert light == {"starting_soon", "awaiting_checkin"}
    assert {STATE_INK[s] for s in light} == {PALETTE["ink_dark"]}


@pytest.mark.parametrize(("a", "b"), list(combinations(sorted(STATE_COLOURS), 2)))
def test_status_colours_differ_in_luminance(a: str, b: str) -> None:
    assert contrast(STATE_COLOURS[a], STATE_COLOURS[b]) >= MIN_STATE_SEPARATION


@pytest.mark.parametrize("state", sorted(STATE_COLOURS))
def test_stripes_and_card_are_visible_on_their_status_colour(state: str) -> None:
    assert contrast(STATE_COLOURS[state], STATE_HATCH[state]) >= 1.3
    assert contrast(STATE_COLOURS[state], STATE_CARDS[state]) >= 1.2


@pytest.mark.parametrize("kind", sorted(NOTICE_COLOURS))
def test_every_notice_is_readable(kind: str) -> None:
    background, ink = NOTICE_COLOURS[kind]
    assert contrast(ink, background) >= 4.5


def test_timeline_busy_free_and_past_differ_in_luminance() -> None:
    busy, free, past = (PALETTE[f"timeline_{k}"] for k in ("busy", "free", "past"))
    assert contrast(busy, free) >= 2.0 and contrast(busy, past) >= 2.0
    assert contrast(PALETTE["timeline_busy_past"], PALETTE["timeline_busy"]) >= 1.4
    assert contrast(PALETTE["now_marker"], free) >= 4.5


def test_white_on_the_offline_banner() -> None:
    assert contrast(PALETTE["ink"], PALETTE["offline"]) >= 4.5


@pytest.mark.parametrize("fg", ["ink", "muted"])
@pytest.mark.parametrize("bg", ["panel_bg", "card_bg"])
def test_text_on_dark_backgrounds(fg: str, bg: str) -> None:
    assert contrast(PALETTE[fg], PALETTE[bg]) >= 4.5


def test_contrast_is_computed_not_assumed() -> None:
    assert contrast("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)

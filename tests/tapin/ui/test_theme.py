"""Status colours are readable: white text on each has a contrast of at least 4.5:1."""

from __future__ import annotations

import pytest

from tapin.ui.theme import PALETTE, STATE_COLOURS, contrast


@pytest.mark.parametrize("state", sorted(STATE_COLOURS))
def test_white_on_every_status_colour_meets_wcag_aa(state: str) -> None:
    assert contrast(PALETTE["ink"], STATE_COLOURS[state]) >= 4.5


def test_white_on_the_offline_banner() -> None:
    assert contrast(PALETTE["ink"], PALETTE["offline"]) >= 4.5


@pytest.mark.parametrize("fg", ["ink", "muted"])
@pytest.mark.parametrize("bg", ["panel_bg", "card_bg"])
def test_text_on_dark_backgrounds(fg: str, bg: str) -> None:
    assert contrast(PALETTE[fg], PALETTE[bg]) >= 4.5


def test_contrast_is_computed_not_assumed() -> None:
    assert contrast("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)

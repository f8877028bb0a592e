"""The visitor badge as printed: its sign-out QR code read back with zxing-cpp (also as
a webcam sees it held up), every text whole and inside the label, long names shrunk then
wrapped, hostile text cleaned (no boxes for characters Inter lacks), Swedish texts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from kiosk.badge import (
    BOLD,
    LABEL,
    Badge,
    BadgeDrawing,
    LabelSize,
    badge_qr_text,
    clean_text,
    draw_badge,
    new_badge_token,
    render_badge,
)
from sync.events import BADGE_QR_PREFIX, MAX_COMPANY, MAX_NAME
from tapin import i18n
from tapin.hardware.qr import parse_badge, read_codes
from tests.tapin.hardware.test_qr import photograph

TOKEN = "q3J9xZ0m_Lk2-pW8vB7nT4eR"
DAY = date(2026, 12, 1)
MARGIN = 40  # the layout's side margin at 62 mm / 300 dpi
SLACK = 3  # pixels a glyph's overhang may reach past its box


def badge(name: str = "Åsa Öberg", **changes: object) -> Badge:
    fields: dict[str, object] = {
        "visitor_id": "v-3f2a9c1e",
        "badge_token": TOKEN,
        "name": name,
        "day": DAY,
        "company": "Nordlys AB",
        "host_name": "Björn Ängström",
        "visitor_type": "Guest",
        "site_name": "Nordlys Stockholm",
    }
    fields.update(changes)
    return Badge(**fields)  # type: ignore[arg-type]


@pytest.fixture
def swedish() -> Iterator[None]:
    before = i18n.current()
    i18n.use("sv_SE")
    try:
        yield
    finally:
        i18n.use(before)


def assert_inside_the_label(drawing: BadgeDrawing) -> None:
    """No ink outside the margins: text between the band and the code, the caption
    beside the code, the band's white letters inside the band's margins."""
    image = drawing.image
    width, height = image.size
    _, top, right, bottom = drawing.qr_box
    band = drawing.texts["type"].box[3]
    ink = ImageChops.invert(image)
    body = ink.crop((0, 150 + 1, width, top)).getbbox()
    if body is not None:
        assert body[0] >= MARGIN - SLACK and body[2] <= width - MARGIN + SLACK, body
        assert body[3] <= top - 150 - 1 - 16, "text runs into the QR code's quiet zone"
    beside = ink.crop((right, top, width, height)).getbbox()
    assert beside is not None  # the caption
    assert beside[0] >= 16 and right + beside[2] <= width - MARGIN + SLACK
    assert top + beside[3] <= height - MARGIN // 2
    assert ink.crop((0, bottom, width, height)).getbbox() is None  # below the code: blank
    letters = image.crop((0, 0, width, 150)).getbbox()  # white letters on black
    assert letters is not None
    assert letters[0] >= MARGIN - SLACK and letters[2] <= width - MARGIN + SLACK
    assert band <= 150


def code_of(png: bytes) -> list[str]:
    return read_codes(png)


# the QR code ---------------------------------------------------------------------------


def test_the_printed_code_reads_back_as_the_visitor_sign_out() -> None:
    png = render_badge(badge())
    assert code_of(png) == [f"{BADGE_QR_PREFIX}v-3f2a9c1e:{TOKEN}"]
    found = parse_badge(code_of(png)[0])
    assert found is not None and found == ("v-3f2a9c1e", TOKEN)


def test_the_code_reads_when_a_webcam_sees_the_badge_held_up() -> None:
    # the badge at a quarter of its print resolution, turned, blurred, noisy, a JPEG
    png = render_badge(badge(name="Maximiliane Wilhelmina Charlotte von Hohenzollern"))
    seen = photograph(png, angle=-7, scale=0.3, seed=11)
    assert Image.open(io.BytesIO(seen)).width < 400
    assert read_codes(seen) == [badge_qr_text("v-3f2a9c1e", TOKEN)]


def test_a_new_token_is_random_and_goes_into_a_code() -> None:
    tokens = {new_badge_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) == 24 for t in tokens)
    assert all(parse_badge(badge_qr_text("v-1", t)) == ("v-1", t) for t in tokens)


@pytest.mark.parametrize(
    ("visitor_id", "token"),
    [("v 1", TOKEN), ("v-1", "short"), ("v-1", TOKEN + ":x"), ("", TOKEN), ("v-1", "")],
)
def test_an_id_or_token_that_cannot_be_scanned_back_is_refused(visitor_id: str, token: str) -> None:
    with pytest.raises(ValueError, match="cannot go into a sign-out code"):
        render_badge(badge(visitor_id=visitor_id, badge_token=token))


# the label -----------------------------------------------------------------------------


def test_the_badge_fits_the_dk_11202_label_in_black_and_white() -> None:
    png = render_badge(badge())
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == LABEL.pixels == (732, 1181)
        assert image.mode == "L"
        assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)
        levels = [level for level, count in enumerate(image.histogram()) if count]
        assert levels == [0, 255]  # thermal printers have no grey
    drawing = draw_badge(badge())
    assert {role: block.text for role, block in drawing.texts.items()} == {
        "type": "GUEST",
        "name": "Åsa Öberg",
        "company": "Nordlys AB",
        "visiting": "Visiting Björn Ängström",
        "day": "Tuesday 1 December",
        "caption": "Scan when you leave",
        "site": "Nordlys Stockholm",
    }
    assert_inside_the_label(drawing)


def test_the_name_is_the_largest_text_and_a_short_one_is_not_wrapped() -> None:
    texts = draw_badge(badge()).texts
    assert texts["name"].lines == ("Åsa Öberg",)
    assert texts["name"].size > max(b.size for r, b in texts.items() if r != "name")
    assert texts["name"].size >= 100  # about 8 mm letters, readable across a lobby


@pytest.mark.parametrize(
    "name",
    [
        "Maximiliane Wilhelmina Charlotte Augusta von Hohenzollern-Sigmaringen",
        "Jörgen Ærø Østergård-Thorvaldsen Bjørnstjerne Kristiansdóttir Åkesson",
        "Anna " * 39 + "Anna",  # MAX_NAME characters of words
        "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschafers",
    ],
)
def test_a_long_name_shrinks_then_wraps_and_is_never_cut(name: str) -> None:
    assert len(name) <= MAX_NAME
    short = draw_badge(badge()).texts["name"]
    drawing = draw_badge(badge(name, company="Internationale Gesellschaft für Zusammenarbeit GmbH"))
    long = drawing.texts["name"]
    assert long.size < short.size
    assert "".join(long.lines).replace(" ", "") == name.replace(" ", "")  # every letter
    assert "…" not in long.text
    assert_inside_the_label(drawing)


@pytest.mark.parametrize("name", ["Î", "Îvar Ïda", "ÅÄÖ ÆØ", "ƒjørd", "Ṩ̌ J̈"])
def test_accents_and_tails_that_overhang_stay_inside(name: str) -> None:
    for host in (name, None):
        assert_inside_the_label(draw_badge(badge(name, company=name, host_name=host)))


def test_everything_at_the_contract_limits_keeps_the_name_whole() -> None:
    name = ("Kristina " * 30)[:MAX_NAME].strip()
    company = ("Aktiebolag " * 30)[:MAX_COMPANY].strip()
    drawing = draw_badge(badge(name, company=company, host_name=name, visitor_type="X" * 80))
    assert "…" not in drawing.texts["name"].text
    assert drawing.texts["name"].text.replace(" ", "") == name.replace(" ", "")
    assert drawing.texts["company"].text == company  # it all fits, small
    assert drawing.texts["day"].text == "Tuesday 1 December"  # always there
    assert_inside_the_label(drawing)
    assert code_of(render_badge(badge(name, company=company))) != []


def test_no_host_no_company_no_type() -> None:
    drawing = draw_badge(badge(company="", host_name=None, visitor_type="", site_name=""))
    assert set(drawing.texts) == {"type", "name", "day", "caption"}
    assert drawing.texts["type"].text == "VISITOR"  # said once, not again for no host
    assert_inside_the_label(drawing)


def test_swedish_texts_and_date(swedish: None) -> None:
    drawing = draw_badge(badge(visitor_type="Entreprenör", host_name="Åke"))
    texts = {role: block.text for role, block in drawing.texts.items()}
    assert texts["type"] == "ENTREPRENÖR"
    assert texts["visiting"] == "Besöker Åke"
    assert texts["day"] == "tisdag 1 december"
    assert texts["caption"] == "Skanna när du går"
    assert_inside_the_label(drawing)


def test_other_label_stock_scales_and_a_landscape_label_is_refused() -> None:
    fine = LabelSize("62x100mm", 62, 100, dpi=600)
    drawing = draw_badge(badge(), label=fine)
    assert drawing.image.size == (1465, 2362)
    assert drawing.texts["name"].size >= 200
    out = io.BytesIO()
    drawing.image.save(out, format="PNG")
    assert read_codes(out.getvalue()) == [badge_qr_text("v-3f2a9c1e", TOKEN)]
    with pytest.raises(ValueError, match="portrait label"):
        render_badge(badge(), label=LabelSize("62x29mm", 62, 29))


# hostile text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Åsa Öberg", "Åsa Öberg"),
        ("Jörgen Ærø Østergård", "Jörgen Ærø Østergård"),
        ("Åsa\u202e Öberg", "Åsa Öberg"),  # a bidi override
        ("\u2066Bob\u2069 \u200dAlice\u200b", "Bob Alice"),  # isolates, zero widths
        ("Bob\x00\x07\x1b[31m", "Bob[31m"),  # control characters (ESC) dropped
        ("Bob\n\tAlice\r\n", "Bob Alice"),  # one line
        ("Ada 😀🚀 Lovelace", "Ada Lovelace"),  # no emoji in Inter: left out, no boxes
        ("عربي Ada 中文 עברית", "Ada"),  # scripts Inter lacks
        ("Zoë Zoe\u0308", "Zoë Zoë"),  # composed the same way
        ("Z\u0301\u0301\u0301\u0301\u0301o", "Ź\u0301\u0301o"),  # "Zalgo" limited
        ("\ue000Private\U000f0000", "Private"),  # private use
        ("Ἀθηνᾶ Кирилл", "Ἀθηνᾶ Кирилл"),  # Greek and Cyrillic Inter has
        ("   ", ""),
    ],
)
def test_hostile_text_is_cleaned(text: str, shown: str) -> None:
    assert clean_text(text, MAX_NAME, font=str(BOLD)) == shown


def test_text_longer_than_the_contract_ends_in_an_ellipsis() -> None:
    assert clean_text("A" * 500, 10) == "AAAAAAAAA…"
    assert clean_text(None, 10) == "None"  # never raises


def test_a_name_of_nothing_drawable_still_makes_a_badge() -> None:
    drawing = draw_badge(badge("😀 中文 \u202e", company="🚀"))
    assert drawing.texts["name"].text == "–"
    assert "company" not in drawing.texts
    assert_inside_the_label(drawing)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=MAX_NAME),
    company=st.text(max_size=60),
    host=st.one_of(st.none(), st.text(max_size=60)),
)
def test_any_text_renders_inside_the_label_with_a_code_that_reads(
    name: str, company: str, host: str | None
) -> None:
    drawing = draw_badge(badge(name, company=company, host_name=host))
    assert_inside_the_label(drawing)
    out = io.BytesIO()
    drawing.image.save(out, format="PNG")
    assert read_codes(out.getvalue()) == [badge_qr_text("v-3f2a9c1e", TOKEN)]

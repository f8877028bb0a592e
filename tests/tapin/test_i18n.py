"""Swedish is complete: every text marked for translation in the panel has a Swedish
entry, and the language, clock and dates follow the locale."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from tapin import i18n

ROOT = Path(__file__).resolve().parents[2]
MARKED = re.compile(r'\b_\(\s*"((?:[^"\\]|\\.)+)"\s*\)')


def marked_texts() -> set[str]:
    found: set[str] = set()
    for folder in ("panel", "kiosk", "tapin"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".kv"):
                found |= set(MARKED.findall(path.read_text(encoding="utf-8")))
    return {text for text in found if re.search("[A-Za-z]", text)}


@pytest.fixture
def swedish():
    i18n.use("sv_SE")
    yield
    i18n.use("en_GB")


def test_every_marked_text_has_a_swedish_translation(swedish) -> None:
    texts = marked_texts()
    assert len(texts) > 40  # the scan really finds the panel's texts
    missing = sorted(
        t for t in texts if i18n._(t) == t and t not in {"{m} min", "video", "whiteboard"}
    )
    assert missing == []


def test_placeholders_survive_translation(swedish) -> None:
    for text in marked_texts():
        names = set(re.findall(r"\{(\w+)\}", text))
        assert set(re.findall(r"\{(\w+)\}", i18n._(text))) == names, text


def test_swedish_words_dates_and_plurals(swedish) -> None:
    assert i18n._("Busy until {time}").format(time="11:30") == "Upptaget till 11:30"
    assert i18n.format_day(date(2026, 11, 30)) == "måndag 30 november"
    assert i18n.ngettext("{n} change waiting", "{n} changes waiting", 1) == "{n} ändring väntar"
    assert i18n.ngettext("{n} change waiting", "{n} changes waiting", 3) == ("{n} ändringar väntar")


def test_english_is_the_source() -> None:
    i18n.use("en_US")
    assert i18n._("Busy until {time}") == "Busy until {time}"
    assert i18n.format_day(date(2026, 11, 30)) == "Monday 30 November"
    i18n.use("en_GB")

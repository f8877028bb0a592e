"""Dates and plurals without Babel say what Babel says: every day of a year and counts
up to 1,000 in every supported locale; another language still goes through Babel."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from babel import Locale
from babel.dates import format_date

from tapin import i18n
from tapin.config import LOCALES


@pytest.fixture(params=sorted(LOCALES))
def locale(request):
    i18n.use(request.param)
    yield request.param
    i18n.use("en_GB")


def test_every_day_of_a_year_reads_as_babel_writes_it(locale: str) -> None:
    day = date(2028, 1, 1)  # a leap year
    for _ in range(366):
        assert i18n.format_day(day) == format_date(day, "EEEE d MMMM", locale=locale)
        day += timedelta(days=1)


def test_plural_forms_are_babels(locale: str) -> None:
    rule = Locale.parse(locale)
    for count in range(1001):
        assert i18n._is_one(count) == (rule.plural_form(count) == "one"), count


def test_a_language_without_words_here_goes_through_babel() -> None:
    i18n.use("fr_FR")  # French counts 0 as "one": only Babel knows that here
    try:
        assert i18n.format_day(date(2026, 11, 30)) == "lundi 30 novembre"
        assert i18n._is_one(0) and i18n._is_one(1) and not i18n._is_one(2)
    finally:
        i18n.use("en_GB")

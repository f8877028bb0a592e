"""Languages: gettext catalogs (``assets/locale/<lang>/LC_MESSAGES/tapin.po``) and
locale-aware dates.

The device's language comes from its configuration (``[site] locale``: ``en_GB``,
``en_US`` or ``sv_SE``) and is chosen once at start-up with :func:`use`. Code marks
text with ``_("…")`` (and KV files with ``#:import _ tapin.i18n._``); English is the
source language, so a missing translation shows the English text, never nothing.

Catalogs are read with Babel, so the ``.po`` files are the only artefact (no compiled
``.mo`` files to keep in step); Babel also formats dates and picks plural forms in
languages this module has no words for. Babel is imported only when it is needed (a
Swedish catalog, another language), not to draw an English panel's first frame: the
days, months and plural rule of English and Swedish are here (a test compares them with
Babel's for every day of a year).
"""

from __future__ import annotations

import logging
from datetime import date

import assets

__all__ = ["LANGUAGES", "_", "current", "format_day", "ngettext", "use"]

log = logging.getLogger(__name__)

LANGUAGES = ("en", "sv")
_CATALOG_DIR = assets.path("locale")


_WORDS = {
    # CLDR's wide format names, Monday first (date.weekday()), then January first
    "en": (
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        (
            "January", "February", "March", "April", "May", "June", "July", "August",
            "September", "October", "November", "December",
        ),
    ),
    "sv": (
        ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"),
        (
            "januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
            "september", "oktober", "november", "december",
        ),
    ),
}  # fmt: skip
"""Day and month names of the languages whose dates need no Babel."""


class _State:
    locale = "en_GB"
    messages: dict[str, str | tuple[str, ...]] = {}  # noqa: RUF012 (one per process)


def _load(language: str) -> dict[str, str | tuple[str, ...]]:
    path = _CATALOG_DIR / language / "LC_MESSAGES" / "tapin.po"
    if not path.exists():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            messages[str(message.id[0])] = tuple(message.string)
        else:
            messages[str(message.id)] = str(message.string)
    return messages


def use(locale: str) -> None:
    """Switch the process to ``locale`` (``sv_SE`` → Swedish texts and dates)."""
    language = locale.split("_")[0]
    _State.locale = locale
    _State.messages = _load(language) if language != "en" else {}
    log.info("language %s: %d translated messages", locale, len(_State.messages))


def current() -> str:
    return _State.locale


def _(text: str) -> str:
    """The translation of ``text`` in the current language (``text`` if none)."""
    found = _State.messages.get(text)
    return found if isinstance(found, str) else text


def ngettext(singular: str, plural: str, count: int) -> str:
    found = _State.messages.get(singular)
    if isinstance(found, tuple) and found:
        # Swedish and English have "one" and "other": catalog order is one, other
        return found[0] if _is_one(count) and len(found) > 1 else found[-1]
    return singular if count == 1 else plural


def _is_one(count: int) -> bool:
    """Whether ``count`` takes the "one" form in the current language."""
    if _State.locale.split("_")[0] in _WORDS:
        return count == 1  # English and Swedish: one is 1, everything else is other
    from babel import Locale

    return Locale.parse(_State.locale).plural_form(count) == "one"


def format_day(day: date) -> str:
    """``Monday 30 November`` / ``måndag 30 november``."""
    words = _WORDS.get(_State.locale.split("_")[0])
    if words is None:
        from babel.dates import format_date

        return format_date(day, "EEEE d MMMM", locale=_State.locale)
    days, months = words
    return f"{days[day.weekday()]} {day.day} {months[day.month - 1]}"

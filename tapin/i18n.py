"""Languages: gettext catalogs (``assets/locale/<lang>/LC_MESSAGES/tapin.po``) and
locale-aware dates.

The device's language comes from its configuration (``[site] locale``: ``en_GB``,
``en_US`` or ``sv_SE``) and is chosen once at start-up with :func:`use`. Code marks
text with ``_("…")`` (and KV files with ``#:import _ tapin.i18n._``); English is the
source language, so a missing translation shows the English text, never nothing.

Catalogs are read with Babel, so the ``.po`` files are the only artefact (no compiled
``.mo`` files to keep in step); Babel also formats dates in the locale's words.
"""

from __future__ import annotations

import logging
from datetime import date

from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po

import assets

__all__ = ["LANGUAGES", "_", "current", "format_day", "ngettext", "use"]

log = logging.getLogger(__name__)

LANGUAGES = ("en", "sv")
_CATALOG_DIR = assets.path("locale")


class _State:
    locale = "en_GB"
    messages: dict[str, str | tuple[str, ...]] = {}  # noqa: RUF012 (one per process)


def _load(language: str) -> dict[str, str | tuple[str, ...]]:
    path = _CATALOG_DIR / language / "LC_MESSAGES" / "tapin.po"
    if not path.exists():
        return {}
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
        index = Locale.parse(_State.locale).plural_form(count)
        forms = ["zero", "one", "two", "few", "many", "other"]
        # Swedish and English have "one" and "other": catalog order is one, other
        return found[0] if forms.index(index) == 1 and len(found) > 1 else found[-1]
    return singular if count == 1 else plural


def format_day(day: date) -> str:
    """``Monday 30 November`` / ``måndag 30 november``."""
    return format_date(day, "EEEE d MMMM", locale=_State.locale)

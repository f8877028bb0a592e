"""What a visitor types, cleaned and checked: names, companies, emails. No Kivy here.

Kiosk text is hostile until cleaned. :func:`clean` (used by the fields as the visitor
types, and again before anything is sent) turns line breaks and tabs into spaces, drops
control characters, lone surrogates and the invisible bidi controls (so a name cannot
reverse itself on the reception screen), composes accents (NFC), folds runs of spaces
and keeps at most a field's length. The checks then say, in the screen's language, what
to change; they never raise. Text shaped like SQL or HTML is just text: it is sealed
as typed and shown as typed (Kivy labels have no markup here), so it needs no escaping
on the kiosk.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sync.events import MAX_COMPANY, MAX_EMAIL, MAX_NAME
from tapin.i18n import _
from tapin.ui.text import clean_text

__all__ = [
    "MAX_COMPANY_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_NAME_CHARS",
    "Checked",
    "check_company",
    "check_email",
    "check_name",
    "clean",
    "first_name",
    "short_name",
]

MAX_NAME_CHARS = MAX_NAME
"""The contract's limit (``sync.events.MAX_NAME``): central refuses longer."""
MAX_COMPANY_CHARS = MAX_COMPANY
MAX_EMAIL_CHARS = MAX_EMAIL
"""The longest address SMTP carries (RFC 5321), ``sync.events.MAX_EMAIL``."""

_NAME_PUNCTUATION = frozenset("-\u2010\u2011'\u2019.,()\u200c\u200d")
"""With the zero-width (non-)joiners some scripts need inside a word (Persian, Hindi)."""
_COMPANY_EXTRA = frozenset("+\u200c\u200d")


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked answer: ``value`` to use, or ``problem`` to show (then ``value`` is the
    cleaned text, for the field)."""

    value: str
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def clean(text: object, limit: int) -> str:
    """``text`` safe to show and send, at most ``limit`` characters
    (:func:`tapin.ui.text.clean_text`). Never raises."""
    return clean_text(text, limit)


def _too_long(limit: int) -> str:
    return _("At most {n} characters, please").format(n=limit)


def check_name(text: object) -> Checked:
    """A visitor's full name: letters (any script), spaces, hyphens, apostrophes and
    full stops; no digits, symbols or emoji."""
    raw = text if isinstance(text, str) else ""
    value = clean(text, MAX_NAME_CHARS).strip()
    if len(raw.strip()) > MAX_NAME_CHARS and len(value) >= MAX_NAME_CHARS:
        return Checked(value, _too_long(MAX_NAME_CHARS))
    if not value:
        return Checked(value, _("Please type your full name"))
    for char in value:
        kind = unicodedata.category(char)
        if kind[0] in "LM" or char == " " or char in _NAME_PUNCTUATION:
            continue
        return Checked(value, _("Please use letters only: no digits, symbols or emoji"))
    if not any(unicodedata.category(c)[0] == "L" for c in value):
        return Checked(value, _("Please type your full name"))
    return Checked(value)


def check_company(text: object) -> Checked:
    """A company: letters, digits, spaces and punctuation (``&``, ``.``, ``-``, ``+``…);
    no emoji or other symbols."""
    raw = text if isinstance(text, str) else ""
    value = clean(text, MAX_COMPANY_CHARS).strip()
    if len(raw.strip()) > MAX_COMPANY_CHARS and len(value) >= MAX_COMPANY_CHARS:
        return Checked(value, _too_long(MAX_COMPANY_CHARS))
    if not value:
        return Checked(value, _("Please type your company's name"))
    for char in value:
        kind = unicodedata.category(char)
        if kind[0] in "LMNP" or char == " " or char in _COMPANY_EXTRA:
            continue
        return Checked(value, _("Please use letters, digits and punctuation only: no emoji"))
    if not any(unicodedata.category(c)[0] in "LN" for c in value):
        return Checked(value, _("Please type your company's name"))
    return Checked(value)


def check_email(text: object) -> Checked:
    """An email address, checked with email-validator (syntax only: the kiosk may be
    offline, so no DNS); ``value`` is its normalised form."""
    from email_validator import EmailNotValidError, validate_email

    raw = text if isinstance(text, str) else ""
    value = clean(text, MAX_EMAIL_CHARS).strip()
    if len(raw.strip()) > MAX_EMAIL_CHARS:
        return Checked(value, _too_long(MAX_EMAIL_CHARS))
    if not value:
        return Checked(value, _("Please type your email address"))
    if "@" not in value:
        return Checked(value, _("An email address has an @, like ada@example.org"))
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return Checked(value, _("Please check the address: it should look like ada@example.org"))
    except Exception:  # the validator must never take the kiosk down
        return Checked(value, _("Please check the address: it should look like ada@example.org"))
    normalised = str(checked.normalized)
    if len(normalised) > MAX_EMAIL_CHARS:
        return Checked(value, _too_long(MAX_EMAIL_CHARS))
    return Checked(normalised)


def first_name(name: str) -> str:
    """``Björn`` of ``Björn Ek`` (the first word), for "Björn has been told"."""
    words = name.split()
    return words[0] if words else name


def short_name(name: str) -> str:
    """``Ada L.``: first name and the initial of the last, for lists anyone can see."""
    words = name.split()
    if len(words) < 2:
        return name.strip()
    return f"{words[0]} {words[-1][:1]}."

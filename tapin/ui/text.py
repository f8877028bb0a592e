"""Text a person typed (or anything posing as it), made safe to show and to send.

One cleaning for every text field of both apps (the panel's report, the kiosk's
visitor fields): line breaks, tabs and other spaces become one space (runs fold into
one); control characters, lone surrogates, private-use characters and the invisible
bidi controls are dropped, so a name cannot reverse itself on another screen; accents
are composed (NFC); at most ``limit`` characters are kept. No Kivy here.
"""

from __future__ import annotations

import unicodedata

__all__ = ["INVISIBLE", "clean_text"]

SPACES = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029\u00a0\u3000")
INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
"""Bidi marks, embeddings, overrides and isolates; zero-width space; byte-order mark."""


def clean_text(text: object, limit: int) -> str:
    """``text`` safe to show and send, at most ``limit`` characters. Never raises."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    kept: list[str] = []
    for char in text:
        if char in SPACES or char == " ":
            if not kept or kept[-1] != " ":  # runs fold; the caller strips the ends
                kept.append(" ")
        elif char not in INVISIBLE and unicodedata.category(char) not in ("Cc", "Cs", "Co"):
            kept.append(char)
        if len(kept) > limit * 2:  # enough to normalise; the rest goes anyway
            break
    composed = unicodedata.normalize("NFC", "".join(kept))
    return composed[:limit]

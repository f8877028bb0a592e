"""Logging for devices: stderr only (journald on a Pi), and no personal data.

The rule is that code never logs names, emails, phone numbers, meeting subjects or MAC
addresses: it logs ids, counts and types. :class:`RedactingFilter` is the safety net
behind that rule: it masks anything shaped like an email address or a MAC address
before a record is written.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["RedactingFilter", "redact", "setup_logging"]

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_MAC = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}([:_-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)
_PHONE = re.compile(r"\+\d[\d ()-]{6,}\d")


def redact(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    text = _MAC.sub("<mac>", text)
    return _PHONE.sub("<phone>", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class KivyNoiseFilter(logging.Filter):
    """Kivy probes X11 clipboard tools (xclip, xsel) when a text field is built and logs
    each missing one with a traceback; a panel has no X11 clipboard to offer."""

    _NOISE = ("Cutbuffer:", "xclip - ", "xsel - ")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("kivy"):
            return not str(record.msg).startswith(self._NOISE)
        return True


def setup_logging(level: str = "INFO") -> None:
    """Send every log record to stderr through the redacting filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(KivyNoiseFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Kivy's start-up banner is noise for technicians; keep its warnings and errors.
    logging.getLogger("kivy").setLevel(level if level == "DEBUG" else "WARNING")
    # httpx logs every request at INFO; the sync agent reports what matters itself.
    logging.getLogger("httpx").setLevel(level if level == "DEBUG" else "WARNING")

"""Logging for devices: stderr only (journald on a Pi), and no personal data.

The rule is that code never logs names, emails, phone numbers, meeting subjects or MAC
addresses: it logs ids, counts and types. :class:`RedactingFilter` is the safety net
behind that rule: it masks anything shaped like an email address or a MAC address
before a record is written.

Every line starts with its time (ISO 8601, with the UTC offset), central's access log
included (:func:`uvicorn_log_config`). Libraries that log each routine step at INFO
(APScheduler runs a job every 2 s, httpx logs each request) are kept to warnings
unless the level is DEBUG: what matters (an enrollment, a refusal, a revocation, a
forget carried out, a sync failure and its cause) is logged by Tapin itself.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

__all__ = [
    "DATE_FORMAT",
    "LINE_FORMAT",
    "RedactingFilter",
    "redact",
    "setup_logging",
    "uvicorn_log_config",
]

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_CHATTY = ("kivy", "httpx", "httpcore", "apscheduler")
"""Loggers kept to warnings unless the level is DEBUG."""

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
    handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.addFilter(KivyNoiseFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Kivy's start-up banner, httpx's line per request and APScheduler's two lines per
    # job run (every 2 s) are noise for technicians; keep their warnings and errors.
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's ``log_config`` for ``tapin central serve``: its error and access logs
    in the same timestamped lines as everything else (in every worker process too),
    through the redacting filter."""
    access = (
        '%(asctime)s %(levelname)s %(name)s: %(client_addr)s "%(request_line)s" %(status_code)s'
    )
    stream = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "filters": ["redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "tapin.logs.RedactingFilter"}},
        "formatters": {
            "default": {"format": LINE_FORMAT, "datefmt": DATE_FORMAT},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": access,
                "datefmt": DATE_FORMAT,
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {**stream, "formatter": "default"},
            "access": {**stream, "formatter": "access"},
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            **{name: {"level": "WARNING"} for name in _CHATTY if level != "DEBUG"},
        },
    }

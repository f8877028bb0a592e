"""The device configuration: one TOML file, validated on load.

Example (``/etc/tapin/tapin.toml``)::

    [device]
    role = "panel"              # "panel" or "kiosk"
    room = "aurora"             # required for a panel
    # lobby = "lobby-main"      # required for a kiosk

    [site]
    timezone = "Europe/Stockholm"
    locale = "en_GB"            # en_GB, en_US, sv_SE

    [central]
    url = "https://central.example.org"
    # ca_file = "/etc/tapin/org-ca.pem"

    [paths]
    state_dir = "/var/lib/tapin"

    [admin]
    pin_hash = "scrypt$16384$8$1$…$…"   # from 'tapin admin hash-pin'; no admin without it

    [screen]
    office_hours = "07:00-19:00"
    office_days = "mon-fri"
    dim_after_minutes = 5
    dim_level = 30              # percent
    sleep_outside_hours = true
    pixel_shift_minutes = 10    # 0: never shift
    colour = "card"             # "full": the status colour fills the whole screen

    [presence]                  # BLE occupancy: keys in presence.config, reasons in
    scan = true                 # docs/presence.md
    tags = ["ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"]

    [printer]                   # a kiosk's badge printer (tapin.hardware.printer)
    kind = "cups"               # "none" (default: no badge), "cups", "simulated"
    queue = "QL-800"            # the CUPS queue (lpstat -e)
    media = "62x100mm"          # the label stock's CUPS media name

Every problem is reported as :class:`ConfigError` naming the file, the key and what
is wrong; unknown keys are errors too (a typo must not silently fall back to a
default).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from presence import config as presence_config
from presence.config import PresenceSettings
from tapin.device.adminpin import PinHashError, parse_pin_hash
from tapin.hardware.printer import KEYS as printer_keys
from tapin.hardware.printer import build_printer

__all__ = [
    "DEFAULT_PATH",
    "LOCALES",
    "ROLES",
    "WEEKDAYS",
    "Config",
    "ConfigError",
    "PresenceSettings",
    "ScreenSettings",
    "check_central_url",
    "load_config",
]

DEFAULT_PATH = Path("/etc/tapin/tapin.toml")
ROLES = ("panel", "kiosk")
LOCALES = ("en_GB", "en_US", "sv_SE")
COLOUR_MODES = ("card", "full")
_MAX_BYTES = 64 * 1024


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid.

    ``str(error)`` is a message a technician can act on: ``file: key: problem``.
    """

    def __init__(self, path: Path | str, key: str | None, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ScreenSettings:
    """``[screen]``: when the panel is lit, dimmed or asleep (see :mod:`panel.screencare`)."""

    office_start: time = time(7, 0)
    office_end: time = time(19, 0)
    office_days: frozenset[int] = frozenset(range(5))
    """Weekday numbers, Monday 0 (as :meth:`datetime.weekday`)."""
    dim_after_minutes: int = 5
    dim_level: int = 30
    sleep_outside_hours: bool = True
    pixel_shift_minutes: int = 10
    colour: str = "card"
    """``card``: the status colour fills the status card; ``full``: the whole screen
    (readable from further away, as Teams panels do)."""


@dataclass(frozen=True, slots=True)
class Config:
    role: str
    timezone: ZoneInfo
    locale: str
    state_dir: Path
    room: str | None = None
    lobby: str | None = None
    central_url: str | None = None
    ca_file: Path | None = None
    admin_pin_hash: str | None = None
    """``[admin] pin_hash``; ``None``: the admin screen cannot be opened."""
    screen: ScreenSettings = field(default_factory=ScreenSettings)
    presence: PresenceSettings = field(default_factory=PresenceSettings)
    """``[presence]``; its ``room`` is the device's room (panel) or lobby (kiosk)."""
    printer: Mapping[str, Any] = field(default_factory=dict)
    """``[printer]``, checked (a kiosk's badge printer: :func:`tapin.hardware.printer.
    build_printer`); empty: no printer, visitors get no badge."""
    source: str = "<defaults>"

    @property
    def uses_24h_clock(self) -> bool:
        return self.locale != "en_US"


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}; got {value!r}")
        return str(value)

    return check


def _zone(value: Any) -> ZoneInfo:
    name = _text(value)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'Europe/Stockholm')"
        ) from None


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def check_central_url(text: str) -> str:
    """Central's URL as devices accept it (``[central] url`` and ``tapin enroll``):
    ``https://``, or ``http://`` to this machine only (a TLS proxy in front, or trying
    Tapin out). Returns it without a trailing slash.

    Raises ``ValueError`` naming the URL and what is wrong."""
    parts = urlsplit(text.strip())
    if "://" not in text:
        raise ValueError(f"{text!r} has no scheme; write it as https://{text.strip()}")
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{text!r}: unknown scheme {parts.scheme!r}; use https://")
    if not host:
        raise ValueError(f"must be a URL with a host name, got {text!r}")
    if parts.scheme != "https" and host not in _LOOPBACK:
        raise ValueError(f"must be an https:// URL (TLS is required), got {text!r}")
    return text.strip().rstrip("/")


def _url(value: Any) -> str:
    return check_central_url(_text(value))


def _is_file(path: Path) -> bool:
    """``path`` exists and is not a directory (unreadable parents: not known, so no)."""
    try:
        return path.exists() and not path.is_dir()
    except OSError:
        return False


def _path(value: Any) -> Path:
    return Path(_text(value)).expanduser()


def _ident(value: Any) -> str:
    text = _text(value)
    if len(text) > 64 or not all(c.isalnum() or c in "-_." for c in text):
        raise ValueError(f"must be an id of letters, digits, '-', '_' or '.', got {text!r}")
    return text


def _pin_hash(value: Any) -> str:
    text = _text(value)
    try:
        parse_pin_hash(text)
    except PinHashError as exc:
        raise ValueError(str(exc)) from None
    return text


_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _office_hours(value: Any) -> tuple[time, time]:
    text = _text(value)
    start, sep, end = text.replace(" ", "").partition("-")
    first, last = _CLOCK_TIME.fullmatch(start), _CLOCK_TIME.fullmatch(end)
    if not sep or first is None or last is None:
        raise ValueError(f'must be two 24-hour times like "07:00-19:00", got {text!r}')
    opens = time(int(first[1]), int(first[2]))
    closes = time(int(last[1]), int(last[2]))
    if closes <= opens:
        raise ValueError(f"the end must be after the start (same day), got {text!r}")
    return opens, closes


def _office_days(value: Any) -> frozenset[int]:
    text = _text(value).lower()
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        first, sep, last = part.partition("-")
        if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
            raise ValueError(
                f'must be days like "mon-fri" or "mon,wed,fri" '
                f"({', '.join(WEEKDAYS)}), got {text!r}"
            )
        a = WEEKDAYS.index(first)
        b = WEEKDAYS.index(last) if sep else a
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # "sun-thu" wraps
    return frozenset(days)


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    return check


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


_SCHEMA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "device": {"role": _choice(ROLES), "room": _ident, "lobby": _ident},
    "site": {"timezone": _zone, "locale": _choice(LOCALES)},
    "central": {"url": _url, "ca_file": _path},
    "paths": {"state_dir": _path},
    "admin": {"pin_hash": _pin_hash},
    "screen": {
        "office_hours": _office_hours,
        "office_days": _office_days,
        "dim_after_minutes": _whole(1, 24 * 60),
        "dim_level": _whole(1, 100),
        "sleep_outside_hours": _flag,
        "pixel_shift_minutes": _whole(0, 24 * 60),
        "colour": _choice(COLOUR_MODES),
    },
    "presence": dict(presence_config.KEYS),
    "printer": dict(printer_keys),
}


def _validate(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in _SCHEMA:
            raise ConfigError(
                source,
                section,
                f"unknown section; expected one of {', '.join('[' + s + ']' for s in _SCHEMA)}",
            )
        if not isinstance(body, Mapping):
            raise ConfigError(source, section, "must be a table, e.g. [" + section + "]")
        for key, value in body.items():
            checker = _SCHEMA[section].get(key)
            if checker is None:
                known = ", ".join(_SCHEMA[section])
                raise ConfigError(source, f"{section}.{key}", f"unknown key; known: {known}")
            try:
                values[f"{section}.{key}"] = checker(value)
            except ValueError as exc:
                raise ConfigError(source, f"{section}.{key}", str(exc)) from None
    return values


def _build(values: Mapping[str, Any], source: str, defaults: Mapping[str, Any]) -> Config:
    merged = {**defaults, **values}
    for required in ("device.role", "site.timezone", "paths.state_dir"):
        if required not in merged:
            raise ConfigError(source, required, "is required")
    role = merged["device.role"]
    if role == "panel" and "device.room" not in merged:
        raise ConfigError(source, "device.room", "is required when device.role is 'panel'")
    if role == "kiosk" and "device.lobby" not in merged:
        raise ConfigError(source, "device.lobby", "is required when device.role is 'kiosk'")
    state_dir = merged["paths.state_dir"]
    if _is_file(state_dir):
        raise ConfigError(
            source, "paths.state_dir", f"{state_dir} is a file; name a directory (or remove it)"
        )
    ca_file = merged.get("central.ca_file")
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(source, "central.ca_file", f"no such file: {ca_file}")
    defaults_screen = ScreenSettings()
    office = merged.get(
        "screen.office_hours", (defaults_screen.office_start, defaults_screen.office_end)
    )
    screen = ScreenSettings(
        office_start=office[0],
        office_end=office[1],
        office_days=merged.get("screen.office_days", defaults_screen.office_days),
        dim_after_minutes=merged.get("screen.dim_after_minutes", defaults_screen.dim_after_minutes),
        dim_level=merged.get("screen.dim_level", defaults_screen.dim_level),
        sleep_outside_hours=merged.get(
            "screen.sleep_outside_hours", defaults_screen.sleep_outside_hours
        ),
        pixel_shift_minutes=merged.get(
            "screen.pixel_shift_minutes", defaults_screen.pixel_shift_minutes
        ),
        colour=merged.get("screen.colour", defaults_screen.colour),
    )
    presence = _presence(merged, source)
    printer = {k.partition(".")[2]: v for k, v in merged.items() if k.startswith("printer.")}
    try:
        build_printer(printer)  # a cups printer without a queue is a mistake of the file
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise ConfigError(source, key, problem) from None
    return Config(
        role=role,
        timezone=merged["site.timezone"],
        locale=merged.get("site.locale", "en_GB"),
        state_dir=merged["paths.state_dir"],
        room=merged.get("device.room"),
        lobby=merged.get("device.lobby"),
        central_url=merged.get("central.url"),
        ca_file=ca_file,
        admin_pin_hash=merged.get("admin.pin_hash"),
        screen=screen,
        presence=presence,
        printer=printer,
        source=source,
    )


def _presence(merged: Mapping[str, Any], source: str) -> PresenceSettings:
    given = {
        key.partition(".")[2]: value for key, value in merged.items() if key.startswith("presence.")
    }
    room = merged.get("device.room") if merged["device.role"] == "panel" else None
    try:
        return presence_config.build_settings(given, room or merged.get("device.lobby"))
    except ValueError as exc:
        key = "presence.exit_dbm" if "exit_dbm" in str(exc) else "presence"
        raise ConfigError(source, key, str(exc)) from None


def load_config(path: Path | str, *, defaults: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a TOML configuration file.

    ``defaults`` maps dotted keys (``"site.timezone"``) to already-validated values
    used where the file is silent (the demo mode passes its own).

    Raises :class:`ConfigError` for a missing, unreadable, oversized, malformed or
    invalid file.
    """
    source = str(path)
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, None, "no such file") from None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read: {exc.strerror}") from None
    if len(data) > _MAX_BYTES:
        raise ConfigError(source, None, f"too large ({len(data)} bytes; at most {_MAX_BYTES})")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, None, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"not valid TOML: {exc}") from None
    return _build(_validate(raw, source), source, defaults or {})


def config_from_defaults(defaults: Mapping[str, Any], source: str = "<demo>") -> Config:
    """A configuration made only of validated defaults (demo mode without a file)."""
    return _build({}, source, defaults)

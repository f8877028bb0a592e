"""Where notifications go out: SMTP and chat webhooks, from central's settings file.

The settings file is TOML, at ``--settings FILE`` or ``$TAPIN_CENTRAL_SETTINGS``. It holds
secrets (the SMTP password, webhook URLs: anyone with a Slack or Teams webhook URL can post
to that channel), so it is refused when group or others may read it, like central's key
file; keep it out of any repository. Every ``[smtp]`` value can also come from the
environment (``TAPIN_CENTRAL_SMTP_HOST``, ``_PORT``, ``_SECURITY``, ``_USER``,
``_PASSWORD``, ``_FROM``, ``_CA_FILE``), which wins over the file, so a secret store can
inject the password alone::

    [smtp]
    host = "smtp.example.org"
    port = 587                      # default: 587 starttls, 465 tls, 25 none
    security = "starttls"           # starttls | tls | none
    user = "tapin@example.org"
    password = "..."
    from = "Tapin <tapin@example.org>"
    timeout_seconds = 15
    # ca_file = "/etc/tapin/smtp-ca.pem"   # trust a private CA

    [webhooks]                      # names that sites and people refer to -> URLs
    nordlys-teams = "https://example.webhook.office.com/..."
    nordlys-slack = "https://hooks.slack.com/services/..."

    [admin]                         # the admin API (POST /v1/admin/invites, ...)
    token_sha256 = "..."            # from `tapin central admin-token`; no [admin]: off

    [notify]
    attempts = 5                    # give up after this many failed attempts...
    give_up_minutes = 10            # ...or this long after the sign-in
    first_retry_seconds = 5         # backoff: doubles each attempt, jittered, capped
    max_retry_seconds = 120

Nothing here is ever logged: :class:`SmtpSettings` and :class:`NotifySettings` hide the
password and the webhook URLs from ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from central.errors import SettingsError
from central.secretfiles import read_secret_toml

__all__ = [
    "ADMIN_ENV",
    "SECURITY",
    "SETTINGS_ENV",
    "NotifySettings",
    "RetryPolicy",
    "SmtpSettings",
    "load_settings",
]

SETTINGS_ENV = "TAPIN_CENTRAL_SETTINGS"
ADMIN_ENV = "TAPIN_CENTRAL_ADMIN_TOKEN_SHA256"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
SECURITY = ("starttls", "tls", "none")
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_SMTP_ENV = {
    "host": "TAPIN_CENTRAL_SMTP_HOST",
    "port": "TAPIN_CENTRAL_SMTP_PORT",
    "security": "TAPIN_CENTRAL_SMTP_SECURITY",
    "user": "TAPIN_CENTRAL_SMTP_USER",
    "password": "TAPIN_CENTRAL_SMTP_PASSWORD",
    "from": "TAPIN_CENTRAL_SMTP_FROM",
    "ca_file": "TAPIN_CENTRAL_SMTP_CA_FILE",
}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    """``starttls`` (upgrade a plain connection, port 587), ``tls`` (implicit TLS, 465) or
    ``none`` (only for a relay on the same machine or network)."""
    sender: str
    """The ``From`` header, e.g. ``Tapin <tapin@example.org>``."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 15.0
    ca_file: str | None = None

    @property
    def domain(self) -> str:
        """The sender's domain, for Message-IDs."""
        address = self.sender.rpartition("<")[2].rstrip(">").strip()
        return address.rpartition("@")[2] or "tapin.invalid"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    give_up_after: timedelta = timedelta(minutes=10)
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    smtp: SmtpSettings | None = None
    """``None``: email is not configured (every email notification fails at once)."""
    webhooks: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Webhook name -> URL (a secret)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    admin_token_sha256: bytes | None = field(default=None, repr=False)
    """SHA-256 of the admin API's bearer token (``None``: the admin API is off)."""


def _read(path: str) -> dict[str, Any]:
    return read_secret_toml(path, "settings file")


def _table(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise SettingsError(f"settings: [{name}] must be a table")
    return value


def _number(table: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"settings: {key} must be a number from {low:g} to {high:g}")
    return float(value)


def _smtp(table: dict[str, Any], env: Mapping[str, str]) -> SmtpSettings | None:
    merged: dict[str, Any] = dict(table)
    for key, name in _SMTP_ENV.items():
        if env.get(name):
            merged[key] = env[name]
    if not merged.get("host"):
        if merged:
            raise SettingsError("settings: [smtp] needs a host")
        return None
    security = str(merged.get("security", "starttls"))
    if security not in SECURITY:
        raise SettingsError(f"settings: smtp security must be one of {', '.join(SECURITY)}")
    try:
        port = int(merged.get("port", _DEFAULT_PORTS[security]))
    except (TypeError, ValueError):
        raise SettingsError("settings: smtp port must be a whole number") from None
    if not 0 < port < 65536:
        raise SettingsError("settings: smtp port must be from 1 to 65535")
    sender = str(merged.get("from", ""))
    if "@" not in sender:
        raise SettingsError("settings: smtp needs a 'from' address, e.g. Tapin <tapin@example.org>")
    user, password = merged.get("user"), merged.get("password")
    if bool(user) != bool(password):
        raise SettingsError("settings: give both smtp user and password, or neither")
    return SmtpSettings(
        host=str(merged["host"]),
        port=port,
        security=security,
        sender=sender,
        user=str(user) if user else None,
        password=str(password) if password else None,
        timeout=_number(merged, "timeout_seconds", 15, 1, 300),
        ca_file=str(merged["ca_file"]) if merged.get("ca_file") else None,
    )


def _webhooks(table: dict[str, Any]) -> dict[str, str]:
    hooks: dict[str, str] = {}
    for name, url in table.items():
        if not isinstance(url, str):
            raise SettingsError(f"settings: webhook {name!r} must be a URL string")
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not (parts.scheme == "https" or loopback) or not parts.hostname:
            # the URL is a secret: name the webhook, never quote it
            raise SettingsError(f"settings: webhook {name!r} must be an https:// URL")
        hooks[name] = url
    return hooks


def _retry(table: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        attempts=int(_number(table, "attempts", 5, 1, 100)),
        give_up_after=timedelta(minutes=_number(table, "give_up_minutes", 10, 0.1, 24 * 60)),
        first_delay=timedelta(seconds=_number(table, "first_retry_seconds", 5, 0.1, 3600)),
        max_delay=timedelta(seconds=_number(table, "max_retry_seconds", 120, 0.1, 24 * 3600)),
    )


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None) -> NotifySettings:
    """Central's notification settings: the file at ``path`` (else ``$TAPIN_CENTRAL_SETTINGS``;
    none: email from the environment only, no webhooks) with ``[smtp]`` values from the
    environment winning. Raises :class:`SettingsError` saying what is wrong (never quoting
    a secret)."""
    env = os.environ if env is None else env
    where = path or env.get(SETTINGS_ENV) or None
    data = _read(where) if where else {}
    return NotifySettings(
        smtp=_smtp(_table(data, "smtp"), env),
        webhooks=_webhooks(_table(data, "webhooks")),
        retry=_retry(_table(data, "notify")),
        admin_token_sha256=_admin(_table(data, "admin"), env),
    )


def _admin(table: dict[str, Any], env: Mapping[str, str]) -> bytes | None:
    value = env.get(ADMIN_ENV) or table.get("token_sha256")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _HEX64.match(value):
        raise SettingsError(
            "settings: [admin] token_sha256 must be 64 hex digits "
            "(make one with `tapin central admin-token`)"
        )
    return bytes.fromhex(value)

"""Files that hold secrets (settings with passwords, key files): they must exist, be
readable and be mode 0600 (no access for group or others). One check, one-line errors.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from central.errors import SettingsError

__all__ = ["read_secret_text", "read_secret_toml", "too_open"]


def too_open(mode: int) -> bool:
    """Whether ``mode`` (an ``st_mode``) lets group or others at the file."""
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def read_secret_text(path: str, label: str, holds: str = "secrets") -> str:
    """The UTF-8 text of the secret file at ``path``; ``label`` names it in errors
    (``"settings file"``), ``holds`` says why 0600 (``"secrets"``, ``"a private key"``).

    Raises :class:`SettingsError` in one line when the file is missing, cannot be read
    (or is not UTF-8), or is open to group or others (never quoting its content)."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{label} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{label} {path} cannot be read ({type(exc).__name__})") from None
    if too_open(mode):
        raise SettingsError(
            f"{label} {path}: permissions {stat.S_IMODE(mode):04o} are too open "
            f"(it holds {holds}); use 0600"
        )
    return text


def read_secret_toml(path: str, label: str) -> dict[str, Any]:
    """The TOML secret file at ``path`` as a table, checked by :func:`read_secret_text`.

    Raises :class:`SettingsError` as that does, or when the file is not valid TOML."""
    text = read_secret_text(path, label)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{label} {path} is not valid TOML: {exc}") from None

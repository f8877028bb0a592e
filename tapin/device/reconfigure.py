"""The ``reconfigure`` command: new settings from central, checked as ``tapin config
check`` checks them, written atomically over the configuration file.

Central sends ``{"config": {"screen": {"dim_level": 40}, "presence": {"scan": true}}}``:
each key given replaces the file's, a ``null`` removes it (back to its default). The
sections that say who the device is (``[device]``, ``[paths]``, ``[central]``) are set
at enrollment and are not changed from afar: a change there is refused. The merged
file must load with :func:`tapin.config.load_config`, else nothing is written and the
refusal names the key and the problem. The file is changed in place with tomlkit: its
comments, key order and layout are kept, only the keys given change; its permissions
are kept too.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from sync.files import write_private
from tapin.config import ConfigError, load_config

__all__ = ["LOCKED_SECTIONS", "Refusal", "apply_config", "merged_text"]

LOCKED_SECTIONS = ("device", "paths", "central")


class Refusal(ValueError):
    """The new settings are not applied; ``str()`` says why, in one line."""


def _plain(value: Any, where: str) -> Any:
    """``value`` when the file can hold it here. Raises :class:`Refusal` for a nested
    table, a non-finite number or any other kind of value."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refusal(f"{where}: must be a finite number")
        return value
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    raise Refusal(f"{where}: a {type(value).__name__} cannot be written to the file")


def merged_text(path: Path, changes: Any) -> str:
    """The file at ``path`` with ``changes`` applied, as TOML text keeping the file's
    comments and layout. Raises :class:`Refusal` (bad changes, a locked section, a file
    that cannot be read)."""
    if not isinstance(changes, Mapping) or not changes:
        raise Refusal('reconfigure needs {"config": {"section": {"key": value}}}')
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise Refusal(f"{path}: cannot be read to change it ({exc})") from None
    for section, body in document.items():
        if not isinstance(body, dict):
            raise Refusal(f"{path}: {section} is not a table; fix the file by hand")
    for section, body in changes.items():
        if not isinstance(section, str) or not isinstance(body, Mapping):
            raise Refusal(f"config.{section}: must be a table of keys and values")
        if section in LOCKED_SECTIONS:
            raise Refusal(
                f"[{section}] is set at enrollment and not changed remotely; "
                "re-enroll the device to change it"
            )
        if not body:
            continue
        if section not in document:
            document.add(section, tomlkit.table())
        target = document[section]
        assert isinstance(target, dict)
        for key, value in body.items():
            if value is None:
                target.pop(str(key), None)
            else:
                target[str(key)] = _plain(value, f"{section}.{key}")
    return tomlkit.dumps(document)


def apply_config(path: Path, changes: Any) -> bool:
    """Merge ``changes`` into the configuration file at ``path``, check the result with
    :func:`tapin.config.load_config`, then replace the file atomically. Returns whether
    the file changed.

    Raises :class:`Refusal` (nothing written) saying why in one line."""
    text = merged_text(path, changes)
    try:
        if tomllib.loads(path.read_text(encoding="utf-8")) == tomllib.loads(text):
            return False
    except (OSError, tomllib.TOMLDecodeError):
        pass
    trial = path.parent / f".{path.name}.check"
    try:
        mode = os.stat(path).st_mode & 0o777
        write_private(trial, text.encode("utf-8"))
        try:
            load_config(trial)
        except ConfigError as exc:
            raise Refusal(str(exc).replace(str(trial), str(path))) from None
        write_private(path, text.encode("utf-8"))
        os.chmod(path, mode)
    except OSError as exc:
        raise Refusal(f"cannot write {path} ({exc.strerror}); nothing changed") from None
    finally:
        trial.unlink(missing_ok=True)
    return True

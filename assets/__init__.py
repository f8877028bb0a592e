"""What Tapin ships besides code, read-only: fonts, translations, keyboard layouts and
the demo site. The device reads them at run time and central's demo seed reads
``demo/``; nothing here is code, so any part of Tapin may read it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT", "path"]

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """The shipped file ``assets/<parts...>`` (it may not exist; callers check)."""
    return ROOT.joinpath(*parts)

"""Argument types shared by the ``tapin`` subcommands: a bad value is a usage error
(exit 2) with a message that says what was expected."""

from __future__ import annotations

import argparse

__all__ = ["seconds", "window_size"]


def window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 800x480, got {text!r}"
        ) from None
    if not (200 <= width <= 4096 and 200 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"size {text} is outside 200..4096 pixels")
    return width, height


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value

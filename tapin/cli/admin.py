"""``tapin admin hash-pin``: make the ``[admin] pin_hash`` line for the configuration.

On a terminal the PIN is asked twice without echo (getpass); otherwise it is read as
one line from standard input, so provisioning can pipe it in::

    printf '%s\\n' "$PIN" | tapin admin hash-pin

Only the hash is printed. The PIN is never echoed, logged or put in an error message.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from itertools import pairwise
from typing import Any, TextIO

from tapin.device import adminpin
from tapin.device.adminpin import MAX_DIGITS, MIN_DIGITS, PinFormatError, validate_pin

__all__ = ["easy_to_guess", "hash_pin"]


def _read_pin(stdin: TextIO, prompt: Any) -> str:
    if stdin.isatty():
        first = prompt(f"New admin PIN ({MIN_DIGITS}-{MAX_DIGITS} digits): ")
        validate_pin(first)
        second = prompt("The same PIN again: ")
        if second != first:
            raise PinFormatError("the two PINs differ; nothing was changed")
        return str(first)
    line = stdin.readline(64)
    if not line:
        raise PinFormatError("no PIN on standard input")
    return line.rstrip("\r\n")


def easy_to_guess(pin: str) -> bool:
    """One digit repeated, or digits counting up or down by one (1234, 9876, 0000)."""
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    return len(steps) == 1 and steps <= {0, 1, 9}


def hash_pin(args: argparse.Namespace) -> int:
    """Print the ``pin_hash = "..."`` line. A bad or missing PIN is a
    :class:`PinFormatError` (exit 2); the PIN itself never appears anywhere."""
    try:
        pin = _read_pin(sys.stdin, getpass.getpass)
    except (EOFError, KeyboardInterrupt):
        raise PinFormatError("no PIN given; nothing was changed") from None
    line = f'pin_hash = "{adminpin.hash_pin(pin)}"'
    if easy_to_guess(pin):
        print("tapin: warning: this PIN is easy to guess; consider another", file=sys.stderr)
    if sys.stdout.isatty():
        print("# put this under [admin] in the configuration file:", file=sys.stderr)
    print(line)
    return 0

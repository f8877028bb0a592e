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

from tapin.adminpin import MAX_DIGITS, MIN_DIGITS, PinFormatError, hash_pin, validate_pin

__all__ = ["add_parsers"]

EXIT_USAGE = 2


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


def _cmd_hash_pin(args: argparse.Namespace) -> int:
    try:
        pin = _read_pin(sys.stdin, getpass.getpass)
        line = f'pin_hash = "{hash_pin(pin)}"'
        if easy_to_guess(pin):
            print("tapin: warning: this PIN is easy to guess; consider another", file=sys.stderr)
    except PinFormatError as exc:
        print(f"tapin: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EOFError, KeyboardInterrupt):
        print("tapin: error: no PIN given; nothing was changed", file=sys.stderr)
        return EXIT_USAGE
    if sys.stdout.isatty():
        print("# put this under [admin] in the configuration file:", file=sys.stderr)
    print(line)
    return 0


def add_parsers(commands: Any) -> None:
    """Add ``admin`` and its subcommands to the ``tapin`` command's subparsers."""
    admin = commands.add_parser(
        "admin",
        help="the device admin screen's PIN",
        description="Commands for the admin screen of a panel or kiosk.",
    )
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    hash_cmd = admin_commands.add_parser(
        "hash-pin",
        help="hash an admin PIN for [admin] pin_hash in the configuration",
        description=(
            f"Read a {MIN_DIGITS}-{MAX_DIGITS} digit PIN (twice, without echo, on a terminal; "
            "one line from standard input otherwise) and print the 'pin_hash = \"...\"' line "
            "to put under [admin] in the configuration file. The PIN itself is never "
            "printed or stored."
        ),
    )
    hash_cmd.set_defaults(handler=_cmd_hash_pin)

"""The ``tapin`` command line: one table of commands, one mapping from errors to exit codes.

Every command is a row of :data:`COMMANDS`: its name, one line of help, its arguments
and the dotted name of the function that runs it (imported only when that command
runs, so ``tapin --help`` stays quick). A function takes the parsed arguments and
returns the exit status, or a coroutine that does. ``tapin central …`` is the
reference server's own table (:mod:`central.cli`), mounted here.

Exit statuses (:func:`exit_codes`): 0 done, 1 the operation did not succeed (said on
standard error), 2 a mistake the user can fix (bad config, bad option, not enrolled,
not installed) printed without a traceback, 3 central could not be reached, 130
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapin import __version__
from tapin.cli.argtypes import seconds, window_size
from tapin.config import DEFAULT_PATH, LOCALES
from tapin.logs import setup_logging

__all__ = ["COMMANDS", "UsageError", "build_parser", "exit_codes", "main"]

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class UsageError(Exception):
    """A mistake the user can fix; printed without a traceback, exit status 2."""


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    name: str
    """``panel``, or ``config check`` for a command in a group."""
    help: str
    run: str
    """``module:function`` taking the parsed arguments, returning the exit status."""
    args: tuple[Arg, ...] = ()
    description: str = ""
    long_running: bool = False
    """Logs at INFO by default (one-shot commands log warnings only)."""


CONFIG = arg(
    "--config", type=Path, metavar="PATH", help=f"configuration file (default {DEFAULT_PATH})"
)
STATE_DIR = arg(
    "--state-dir",
    type=Path,
    metavar="DIR",
    help="state directory (default: from the configuration)",
)
JSON = arg("--json", action="store_true", help="print the result as JSON")

SCREEN_ARGS = (
    arg("--demo", action="store_true", help="use the built-in demo site (no server, no Bluetooth)"),
    CONFIG,
    arg("--size", type=window_size, metavar="WxH", help="window size in pixels"),
    arg(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="render, write a PNG here and exit (works without a display)",
    ),
    arg(
        "--exit-after",
        type=seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default 3 with --screenshot)",
    ),
    arg(
        "--locale",
        choices=LOCALES,
        help="language and clock of the screen (overrides [site] locale)",
    ),
    arg(
        "--tour",
        type=Path,
        metavar="DIR",
        help="render every screen and state to DIR/NN-name.png and exit (with --demo)",
    ),
)

GROUPS = {
    "config": "check the configuration file",
    "presence": "Bluetooth presence tools (scan)",
    "admin": "the device admin screen's PIN",
}

COMMANDS: tuple[Command, ...] = (
    Command(
        "panel",
        "run the room panel (window, or offscreen with --screenshot)",
        "tapin.cli.device:panel",
        (
            *SCREEN_ARGS,
            arg("--room", metavar="ID", help="the room to show (overrides the config)"),
        ),
        description='Run the room panel for one meeting room (default size 800x480, the Pi 7" '
        "screen).",
        long_running=True,
    ),
    Command(
        "kiosk",
        "run the lobby kiosk (window, or offscreen with --screenshot)",
        "tapin.cli.device:kiosk",
        SCREEN_ARGS,
        description="Run the lobby kiosk: visitors sign in and out (default size 1280x800; "
        "portrait kiosks 800x1280).",
        long_running=True,
    ),
    Command(
        "config check",
        "validate the configuration without starting anything",
        "tapin.cli.device:config_check",
        (CONFIG, JSON),
        description="Validate the configuration file; exit 2 naming the bad key.",
    ),
    Command(
        "enroll",
        "enroll this device with central using a one-time code",
        "tapin.cli.sync:enroll",
        (
            arg("code_arg", nargs="?", metavar="CODE", help="the one-time enrollment code"),
            arg(
                "--server",
                metavar="URL",
                help="central's https URL (default: [central] url of the configuration)",
            ),
            arg("--code", help="the one-time enrollment code (or give it as CODE)"),
            arg(
                "--ca",
                type=Path,
                metavar="FILE",
                help="the organisation's CA certificate (PEM), copied into the device's "
                "credentials (default: [central] ca_file)",
            ),
            arg("--force", action="store_true", help="replace an existing enrollment"),
            CONFIG,
            STATE_DIR,
        ),
        description="Create this device's key pair and enroll it with central. Everything "
        "local is checked first, a code for another room or lobby than the configuration's is "
        "refused naming both, and a failed attempt can be repeated with the same code.",
    ),
    Command(
        "agent",
        "run the headless runtime: sync the queue and snapshots",
        "tapin.cli.sync:agent",
        (
            arg(
                "--once",
                action="store_true",
                help="refresh, drain once and exit (0 when central answered)",
            ),
            CONFIG,
        ),
        description="Run the device runtime without a screen (sync, snapshots, commands, "
        "presence).",
        long_running=True,
    ),
    Command(
        "status",
        "device id, central reachability, last sync, queue counts",
        "tapin.cli.sync:status",
        (JSON, CONFIG, STATE_DIR),
        description="Show this device's sync status: central reachable, revoked or in "
        "the wrong room, the last successful sync, the next retry, the clock offset, the "
        "queue. Exit 0 healthy, 1 unhealthy, 2 not enrolled or a bad configuration.",
    ),
    Command(
        "doctor",
        "check this device: clock, central, TLS, enrollment, disk, queue, hardware",
        "tapin.cli.doctor:doctor",
        (
            CONFIG,
            JSON,
            arg(
                "--root",
                type=Path,
                metavar="DIR",
                help="read /sys and /run under DIR instead of / (a mounted image, tests)",
            ),
        ),
        description="Check everything a device needs and say in plain words what to fix "
        "(ok, WARN, FAIL per check). Exit 0 healthy (warnings allowed), 1 unhealthy (a "
        "check failed), 2 a bad command line. See docs/operations.md.",
    ),
    Command(
        "queue",
        "list queued events (routing fields and states, never payloads)",
        "tapin.cli.sync:queue",
        (
            JSON,
            arg(
                "--state",
                choices=["pending", "inflight", "rejected", "quarantined"],
                help="only events in this state",
            ),
            CONFIG,
            STATE_DIR,
        ),
        description="List the events waiting in the sealed queue.",
    ),
    Command(
        "presence scan",
        "listen for Bluetooth advertisements and list what was heard",
        "tapin.cli.device:presence_scan",
        (
            arg(
                "--seconds",
                type=seconds,
                default=10.0,
                metavar="N",
                help="how long to listen (default 10)",
            ),
            arg("--adapter", default="hci0", help="Bluetooth adapter (default hci0)"),
            JSON,
        ),
        description="Scan for a while and print advertisement counts, each source as a keyed "
        "hash with its strongest RSSI, and beacon keys. Raw addresses are never shown.",
    ),
    Command(
        "admin hash-pin",
        "hash an admin PIN for [admin] pin_hash in the configuration",
        "tapin.cli.admin:hash_pin",
        description="Read a 4-8 digit PIN (twice, without echo, on a terminal; one line from "
        "standard input otherwise) and print the 'pin_hash = \"...\"' line to put under "
        "[admin] in the configuration file. The PIN itself is never printed or stored.",
    ),
)


def _add(parser: argparse.ArgumentParser, command: Command, name: str) -> None:
    for a in command.args:
        parser.add_argument(*a.flags, **a.options)
    parser.set_defaults(command_row=command)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``tapin`` command line, from :data:`COMMANDS` (and central's table)."""
    parser = argparse.ArgumentParser(
        prog="tapin", description="Tapin: room panels and lobby kiosks for the hybrid office."
    )
    parser.add_argument("--version", action="version", version=f"tapin {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default INFO for the long-running agent, panel and "
        "central server, WARNING for one-shot commands)",
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        group, _, leaf = command.name.rpartition(" ")
        if not group:
            sub = top.add_parser(leaf, help=command.help, description=command.description or None)
        else:
            if group not in groups:
                holder = top.add_parser(group, help=GROUPS[group], description=GROUPS[group] + ".")
                groups[group] = holder.add_subparsers(
                    dest=f"{group}_command", metavar="COMMAND", required=True
                )
            sub = groups[group].add_parser(
                leaf, help=command.help, description=command.description or None
            )
        _add(sub, command, leaf)

    from central.cli import ServeHooks
    from central.cli import add_parser as add_central_parser

    add_central_parser(
        top,
        ServeHooks(
            log_config=_central_log_config,
            wrap_server=_notifying_server,
            wrap_supervisor=_notifying_supervisor,
        ),
    )
    return parser


# ``tapin central serve``'s process plumbing (central imports none of tapin): the house
# log lines, systemd's READY/WATCHDOG/STOPPING. Imported when serve starts, not before.
def _central_log_config() -> dict[str, Any]:
    from tapin.logs import uvicorn_log_config

    return uvicorn_log_config()


def _notifying_server(base: type) -> type:
    from tapin.device.watchdog import notifying_server

    return notifying_server(base)


def _notifying_supervisor(base: type) -> type:
    from tapin.device.watchdog import notifying_supervisor

    return notifying_supervisor(base)


def _runner(args: argparse.Namespace) -> Callable[[argparse.Namespace], Any]:
    row: Command | None = getattr(args, "command_row", None)
    if row is None:  # central's table: its leaves set ``func``
        return args.func
    module, _, name = row.run.partition(":")
    return getattr(importlib.import_module(module), name)


_NOT_INSTALLED = {"psycopg", "psycopg_pool", "starlette", "uvicorn"}


def exit_codes() -> tuple[tuple[tuple[type[BaseException], ...], int], ...]:
    """``(error classes, exit status)`` pairs, checked in order: the one mapping from
    errors to exit codes. (A function: the classes live in modules ``tapin --help``
    need not import.)"""
    from sync.client import CentralError, Refused
    from sync.identity import IdentityError
    from sync.queue import QueueError
    from tapin.config import ConfigError
    from tapin.device.adminpin import PinFormatError

    return (
        ((UsageError, ConfigError, IdentityError, QueueError, PinFormatError), EXIT_USAGE),
        ((Refused,), EXIT_USAGE),
        ((CentralError,), EXIT_UNREACHABLE),
    )


def _error(exc: BaseException) -> tuple[int, str] | None:
    """The exit status and message for an error a person can act on; ``None`` for a bug."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _NOT_INSTALLED:
        return EXIT_USAGE, (
            "the reference central server is not installed here; install it with "
            "pip install 'tapin[central]'"
        )
    import ssl

    from sync.client import Refused, Unreachable

    text = str(exc)
    if isinstance(exc, Unreachable) and "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.rpartition("certificate verify failed:")[2].split("(_ssl")[0].strip(" )")
        return EXIT_USAGE, (
            f"certificate problem, not the network: central's certificate is not trusted "
            f"({reason or 'verify failed'}); check the CA given with --ca (or the trusted CA "
            "file) and the server's certificate and host name"
        )
    if isinstance(exc, ssl.SSLError):  # a CA file that is not PEM, met before any request
        return EXIT_USAGE, f"certificate problem: a CA file cannot be loaded ({exc.reason})"
    for kinds, status in exit_codes():
        if isinstance(exc, kinds):
            return status, ("enrollment refused: " if isinstance(exc, Refused) else "") + text
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    row: Command | None = getattr(args, "command_row", None)
    long_running = (row is not None and row.long_running) or (
        args.command == "central" and getattr(args, "central_command", "") == "serve"
    )
    setup_logging(args.log_level or ("INFO" if long_running else "WARNING"))
    try:
        outcome = _runner(args)(args)
        if inspect.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        return int(outcome)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        known = _error(exc)
        if known is None:
            raise
        status, message = known
        print(f"tapin: error: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

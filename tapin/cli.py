"""The ``tapin`` command line.

Every subcommand has one line of help in ``tapin --help`` and its own ``--help``.
User mistakes (bad config, unknown room, bad option value) exit with status 2 and a
message that says what to fix, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tapin import __version__
from tapin.argtypes import seconds as _seconds
from tapin.argtypes import window_size as _size
from tapin.config import DEFAULT_PATH, LOCALES, Config, ConfigError, load_config
from tapin.logs import setup_logging

__all__ = ["main"]

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake the user can fix; printed without a traceback, exit status 2."""


def _default_demo_state() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tapin-demo"


def _load(args: argparse.Namespace, *, demo: bool) -> Config:
    """The configuration for this run. Demo mode needs no file."""
    from tapin.runtime import demo_defaults

    path: Path | None = args.config
    if demo:
        defaults = demo_defaults(_default_demo_state())
        if path is None:
            if not DEFAULT_PATH.exists():
                from tapin.runtime import demo_config

                return demo_config(defaults["paths.state_dir"])
            path = DEFAULT_PATH
        return load_config(path, defaults=defaults)
    return load_config(path or DEFAULT_PATH)


def _cmd_panel(args: argparse.Namespace) -> int:
    config = _load(args, demo=args.demo)
    if args.room:
        config = dataclasses.replace(config, room=args.room)
    if args.locale:
        config = dataclasses.replace(config, locale=args.locale)
    from tapin import i18n

    i18n.use(config.locale)
    if config.room is None:
        raise UsageError(f"{config.source}: device.room: no room to show; set it or pass --room")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    from tapin.runtime import demo_runtime, empty_runtime

    runtime = demo_runtime(config) if args.demo else empty_runtime(config)
    try:
        runtime.room(config.room)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if args.tour is not None:
        if not args.demo:
            raise UsageError("--tour renders the demo site: add --demo")
        from panel.tour import run_tour

        return run_tour(runtime, config.room, args.tour, size=args.size)
    if args.screenshot is not None and args.exit_after is None:
        args.exit_after = 3.0
    from panel.launch import run_panel

    code = run_panel(
        runtime,
        config.room,
        size=args.size,
        screenshot=args.screenshot,
        exit_after=args.exit_after,
        sync=not args.demo,
    )
    if args.screenshot is not None:
        print(f"wrote {args.screenshot} ({args.size[0]}x{args.size[1]})")
    return code


def _cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config or DEFAULT_PATH)
    summary = {
        "file": config.source,
        "role": config.role,
        "room": config.room,
        "lobby": config.lobby,
        "timezone": config.timezone.key,
        "locale": config.locale,
        "central_url": config.central_url,
        "state_dir": str(config.state_dir),
        "admin_pin": "set" if config.admin_pin_hash else "not set (admin screen disabled)",
        "office_hours": f"{config.screen.office_start:%H:%M}-{config.screen.office_end:%H:%M}",
        "presence_scan": config.presence_scan,
        "presence_tags": len(config.presence.tags),
    }
    if args.json:
        print(json.dumps({"ok": True, **summary}))
    else:
        print(f"{config.source}: OK")
        for key, value in summary.items():
            if key != "file" and value is not None:
                print(f"  {key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tapin",
        description="Tapin: room panels and lobby kiosks for the hybrid office.",
    )
    parser.add_argument("--version", action="version", version=f"tapin {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default INFO for the long-running agent, panel and "
        "central server, WARNING for one-shot commands)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    panel = commands.add_parser(
        "panel",
        help="run the room panel (window, or offscreen with --screenshot)",
        description="Run the room panel for one meeting room.",
    )
    panel.add_argument(
        "--demo", action="store_true", help="use the built-in demo site (no server, no Bluetooth)"
    )
    panel.add_argument("--room", metavar="ID", help="the room to show (overrides the config)")
    panel.add_argument(
        "--config", type=Path, metavar="PATH", help=f"configuration file (default {DEFAULT_PATH})"
    )
    panel.add_argument(
        "--size",
        type=_size,
        default=(800, 480),
        metavar="WxH",
        help='window size in pixels (default 800x480, the Pi 7" screen)',
    )
    panel.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="render, write a PNG here and exit (works without a display)",
    )
    panel.add_argument(
        "--exit-after",
        type=_seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default 3 with --screenshot)",
    )
    panel.add_argument(
        "--locale",
        choices=LOCALES,
        help="language and clock of the screen (overrides [site] locale)",
    )
    panel.add_argument(
        "--tour",
        type=Path,
        metavar="DIR",
        help="render every screen and state to DIR/NN-name.png and exit (with --demo)",
    )
    panel.set_defaults(handler=_cmd_panel)

    config = commands.add_parser(
        "config", help="check the configuration file", description="Configuration commands."
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    check = config_commands.add_parser(
        "check",
        help="validate the configuration without starting anything",
        description="Validate the configuration file; exit 2 naming the bad key.",
    )
    check.add_argument(
        "--config", type=Path, metavar="PATH", help=f"configuration file (default {DEFAULT_PATH})"
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(handler=_cmd_config_check)

    from tapin.cli_sync import add_parsers as add_sync_parsers

    add_sync_parsers(commands)

    from tapin.cli_presence import add_parsers as add_presence_parsers

    add_presence_parsers(commands)

    from tapin.cli_admin import add_parsers as add_admin_parsers

    add_admin_parsers(commands)

    from central.cli import add_parser as add_central_parser

    add_central_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    long_running = args.command in ("agent", "panel") or (
        args.command == "central" and getattr(args, "central_command", "") == "serve"
    )
    setup_logging(args.log_level or ("INFO" if long_running else "WARNING"))
    try:
        handler = getattr(args, "handler", None) or args.func
        return int(handler(args))
    except (ConfigError, UsageError) as exc:
        print(f"tapin: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

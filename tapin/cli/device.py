"""``tapin panel``, ``tapin config check`` and ``tapin presence scan``: the device's own
commands. The CLI is the top floor: it may start the apps."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from tapin.cli import UsageError
from tapin.config import DEFAULT_PATH, Config, load_config

__all__ = ["config_check", "kiosk", "panel", "presence_scan"]

PANEL_SIZE = (800, 480)


def _default_demo_state() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tapin-demo"


def _demo_state(name: str = "tapin-demo") -> Path:
    """A demo state directory of this process's own: another running demo keeps its
    own (:mod:`tapin.demo.instance`). Raises :class:`UsageError` when none is free."""
    from tapin.demo.instance import DemoBusy, claim_demo_state

    base = _default_demo_state().with_name(name)
    try:
        folder = claim_demo_state(base)
    except DemoBusy as exc:
        raise UsageError(str(exc)) from None
    if folder != base:
        print(
            f"tapin: another demo is running with {base}; this one keeps its state in {folder}",
            file=sys.stderr,
        )
    return folder


def load(args: argparse.Namespace, *, demo: bool) -> Config:
    """The configuration for this run. Demo mode needs no file."""
    from tapin.demo.runtime import demo_config, demo_defaults

    path: Path | None = args.config
    if demo:
        defaults = demo_defaults(_demo_state())
        if path is None:
            if not DEFAULT_PATH.exists():
                return demo_config(defaults["paths.state_dir"])
            path = DEFAULT_PATH
        return load_config(path, defaults=defaults)
    return load_config(path or DEFAULT_PATH)


def panel(args: argparse.Namespace) -> int:
    config = load(args, demo=args.demo)
    if args.room:
        config = dataclasses.replace(config, room=args.room)
    if args.locale:
        config = dataclasses.replace(config, locale=args.locale)
    size = args.size or PANEL_SIZE
    from tapin import i18n

    i18n.use(config.locale)
    if config.room is None:
        raise UsageError(f"{config.source}: device.room: no room to show; set it or pass --room")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    if args.demo:
        from tapin.demo.runtime import demo_runtime

        runtime = demo_runtime(config)
    else:
        from tapin.device.runtime import empty_runtime

        runtime = empty_runtime(config)
    try:
        runtime.room(config.room)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if args.tour is not None:
        if not args.demo:
            raise UsageError("--tour renders the demo site: add --demo")
        from panel.tour import run_tour

        return run_tour(runtime, config.room, args.tour, size=size)
    exit_after = args.exit_after
    if args.screenshot is not None and exit_after is None:
        exit_after = 3.0
    from panel.launch import run_panel

    code = run_panel(
        runtime, config.room, size=size, screenshot=args.screenshot, exit_after=exit_after
    )
    if args.screenshot is not None:
        print(f"wrote {args.screenshot} ({size[0]}x{size[1]})")
    return code


def kiosk(args: argparse.Namespace) -> int:
    """``tapin kiosk``: the lobby kiosk (the demo lobby with ``--demo``)."""
    from tapin import i18n

    if args.demo:
        from tapin.demo.runtime import demo_config, demo_defaults

        state = _demo_state("tapin-demo-kiosk")
        path: Path | None = args.config
        if path is None and DEFAULT_PATH.exists():
            path = DEFAULT_PATH
        config = (
            load_config(path, defaults=demo_defaults(state, "kiosk"))
            if path is not None
            else demo_config(state, "kiosk")
        )
        config = dataclasses.replace(config, role="kiosk")
    else:
        config = load_config(args.config or DEFAULT_PATH)
    if args.locale:
        config = dataclasses.replace(config, locale=args.locale)
    i18n.use(config.locale)
    if config.lobby is None:
        raise UsageError(f"{config.source}: device.lobby: no lobby to serve; set it")
    from kiosk.launch import KIOSK_SIZE

    size = args.size or KIOSK_SIZE
    config.state_dir.mkdir(parents=True, exist_ok=True)
    if args.demo:
        from tapin.demo.runtime import demo_runtime

        runtime = demo_runtime(config)
    else:
        from tapin.device.runtime import empty_runtime

        runtime = empty_runtime(config)
    if args.tour is not None:
        if not args.demo:
            raise UsageError("--tour renders the demo lobby: add --demo")
        from kiosk.tour import run_tour

        return run_tour(runtime, config.lobby, args.tour, size=size)
    exit_after = args.exit_after
    if args.screenshot is not None and exit_after is None:
        exit_after = 3.0
    from kiosk.launch import run_kiosk

    code = run_kiosk(
        runtime, config.lobby, size=size, screenshot=args.screenshot, exit_after=exit_after
    )
    if args.screenshot is not None:
        print(f"wrote {args.screenshot} ({size[0]}x{size[1]})")
    return code


def config_check(args: argparse.Namespace) -> int:
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
        "presence_scan": config.presence.scan,
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


async def presence_scan(args: argparse.Namespace) -> int:
    from presence.cli import scan

    return await scan(args.seconds, args.adapter, as_json=args.json)

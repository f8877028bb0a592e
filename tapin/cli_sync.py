"""``tapin enroll``, ``tapin agent``, ``tapin status`` and ``tapin queue``.

Technicians run these over SSH. Each has ``--help``; ``status`` and ``queue`` have
``--json``. The queue file is held exclusively by the running agent or panel, so
``status`` and ``queue`` ask it over the control socket and open the file themselves
only when nothing is running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tapin.config import DEFAULT_PATH, Config, load_config

__all__ = ["add_parsers"]

EXIT_UNREACHABLE = 3


class UsageError(Exception):
    pass


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config or DEFAULT_PATH)


def _state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    return _config(args).state_dir


# enroll ------------------------------------------------------------------------------


async def _enroll(args: argparse.Namespace) -> int:
    from sync.client import CentralClient, CentralError, Refused
    from sync.identity import (
        DeviceIdentity,
        IdentityError,
        load_identity,
        new_signing_key,
        save_identity,
    )

    state_dir = _state_dir(args)
    try:
        existing = load_identity(state_dir)
    except IdentityError:
        existing = None
    if existing is not None and not args.force:
        raise UsageError(f"already enrolled as {existing.device_id}; pass --force to enroll again")
    ca = str(args.ca) if args.ca else None
    if args.ca and not args.ca.is_file():
        raise UsageError(f"--ca: no such file: {args.ca}")
    key = new_signing_key()
    async with CentralClient(args.server, ca_file=ca, timeout=20) as client:
        try:
            answer = await client.enroll(args.code, key)
        except Refused as exc:
            raise UsageError(f"enrollment refused: {exc}") from None
        except CentralError as exc:
            print(f"tapin: error: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
    raw_scope = answer.get("scope")
    scope: dict[str, Any] = raw_scope if isinstance(raw_scope, dict) else {}
    identity = DeviceIdentity(
        device_id=answer["device_id"],
        token=answer["token"],
        site_id=answer["site_id"],
        scope_kind=str(scope.get("kind", "")),
        scope_id=str(scope.get("id", "")),
        central_url=args.server.rstrip("/"),
        central_public_key=answer["central_public_key"],
        ca_file=str(args.ca.resolve()) if args.ca else None,
    )
    identity.sealing_key()  # refuse a bad key now, not at the first event
    folder = save_identity(state_dir, identity, key)
    print(
        f"enrolled as {identity.device_id} at site {identity.site_id} "
        f"for {identity.scope_kind} {identity.scope_id}; credentials in {folder}"
    )
    return 0


# agent -------------------------------------------------------------------------------


async def _agent(args: argparse.Namespace) -> int:
    from tapin.agent import run_agent
    from tapin.runtime import empty_runtime

    config = _config(args)
    return await run_agent(config, empty_runtime(config), once=args.once)


# status and queue --------------------------------------------------------------------


async def _local_queue(state_dir: Path, what: str) -> Any:
    """Open the queue file directly (nothing is running). ``None`` when there is none."""
    from sync.identity import load_identity
    from sync.queue import AsyncSealedQueue
    from tapin.agent import QUEUE_FILE, counts_dict, row_dict

    path = state_dir / QUEUE_FILE
    if not path.exists():
        return None
    queue = AsyncSealedQueue(path, load_identity(state_dir).sealing_key())
    await queue.open()
    try:
        if what == "counts":
            return counts_dict(await queue.counts())
        return [row_dict(r) for r in await queue.rows()]
    finally:
        await queue.close()


async def _status(args: argparse.Namespace) -> int:
    from sync.agent import read_status
    from sync.client import CentralClient, CentralError
    from sync.identity import load_identity
    from tapin.control import ask

    state_dir = _state_dir(args)
    identity = load_identity(state_dir)
    live = await ask(state_dir, "status")
    report: dict[str, Any] = {
        "device_id": identity.device_id,
        "site_id": identity.site_id,
        "scope": f"{identity.scope_kind}:{identity.scope_id}",
        "central_url": identity.central_url,
        "running": live is not None,
    }
    if live is not None:
        report.update(live)
    else:
        last = read_status(state_dir)
        if last is not None:
            report.update(
                {
                    k: v
                    for k, v in asdict(last).items()
                    if k in ("last_contact", "last_sync", "last_error")
                }
            )
        report["queue"] = await _local_queue(state_dir, "counts") or {}
    async with CentralClient(
        identity.central_url, token=identity.token, ca_file=identity.ca_file, timeout=5
    ) as client:
        try:
            report["central_reachable"] = await client.health()
        except CentralError as exc:
            report["central_reachable"] = False
            report["central_error"] = str(exc)[:200]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    queue = report.get("queue") or {}
    print(f"device      {report['device_id']} ({report['scope']} at {report['site_id']})")
    print(
        f"central     {report['central_url']}: "
        f"{'reachable' if report['central_reachable'] else 'UNREACHABLE'}"
    )
    print(f"agent       {'running' if report['running'] else 'not running'}")
    print(f"last sync   {report.get('last_sync') or 'never'}")
    if report.get("last_error"):
        print(f"last error  {report['last_error']}")
    print(
        f"queue       {queue.get('pending', 0)} pending, {queue.get('inflight', 0)} in flight, "
        f"{queue.get('rejected', 0)} rejected, {queue.get('quarantined', 0)} quarantined"
    )
    presence = report.get("presence")
    if isinstance(presence, dict):
        scanner = presence.get("scanner") or {}
        state = scanner.get("state", "?") if isinstance(scanner, dict) else scanner
        print(
            f"presence    {presence.get('occupancy')} (band {presence.get('count_band')}), "
            f"scanner {state}" + (f": {presence['problem']}" if presence.get("problem") else "")
        )
    if queue.get("rejected") or queue.get("quarantined"):
        print("            see 'tapin queue --state rejected' for the reasons")
    return 0


async def _queue(args: argparse.Namespace) -> int:
    from tapin.control import ask

    state_dir = _state_dir(args)
    rows = await ask(state_dir, "queue")
    if rows is None:
        rows = await _local_queue(state_dir, "rows") or []
    if args.state:
        rows = [r for r in rows if r["state"] == args.state]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("the queue is empty" if not args.state else f"no {args.state} events")
        return 0
    print(f"{'seq':>6}  {'state':<11} {'type':<18} {'resource':<18} {'starts':<17} reason")
    for r in rows:
        starts = (r["starts_at"] or "")[:16]
        print(
            f"{r['seq']:>6}  {r['state']:<11} {r['type']:<18} {r['resource']:<18} "
            f"{starts:<17} {r['reason'] or ''}"
        )
    return 0


# wiring ------------------------------------------------------------------------------


def _runner(coro_fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from sync.identity import IdentityError
        from sync.queue import QueueError

        try:
            return int(asyncio.run(coro_fn(args)))
        except (UsageError, IdentityError, QueueError) as exc:
            print(f"tapin: error: {exc}", file=sys.stderr)
            return 2

    return run


def add_parsers(commands: Any) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--config",
            type=Path,
            metavar="PATH",
            help=f"configuration file (default {DEFAULT_PATH})",
        )
        parser.add_argument(
            "--state-dir",
            type=Path,
            metavar="DIR",
            help="state directory (default: from the configuration)",
        )

    enroll = commands.add_parser(
        "enroll",
        help="enroll this device with central using a one-time code",
        description="Create this device's key pair and enroll it with central.",
    )
    enroll.add_argument("--server", required=True, metavar="URL", help="central's https URL")
    enroll.add_argument("--code", required=True, help="the one-time enrollment code")
    enroll.add_argument(
        "--ca", type=Path, metavar="FILE", help="the organisation's CA certificate (PEM) to trust"
    )
    enroll.add_argument("--force", action="store_true", help="replace an existing enrollment")
    common(enroll)
    enroll.set_defaults(handler=_runner(_enroll))

    agent = commands.add_parser(
        "agent",
        help="run the headless runtime: sync the queue and snapshots",
        description="Run the device runtime without a screen (sync, snapshots, commands).",
    )
    agent.add_argument(
        "--once", action="store_true", help="refresh, drain once and exit (0 when central answered)"
    )
    agent.add_argument(
        "--config", type=Path, metavar="PATH", help=f"configuration file (default {DEFAULT_PATH})"
    )
    agent.set_defaults(handler=_runner(_agent))

    status = commands.add_parser(
        "status",
        help="device id, central reachability, last sync, queue counts",
        description="Show this device's sync status.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    common(status)
    status.set_defaults(handler=_runner(_status))

    queue = commands.add_parser(
        "queue",
        help="list queued events (routing fields and states, never payloads)",
        description="List the events waiting in the sealed queue.",
    )
    queue.add_argument("--json", action="store_true", help="print JSON")
    queue.add_argument(
        "--state",
        choices=["pending", "inflight", "rejected", "quarantined"],
        help="only events in this state",
    )
    common(queue)
    queue.set_defaults(handler=_runner(_queue))

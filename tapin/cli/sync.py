"""``tapin enroll``, ``tapin agent``, ``tapin status`` and ``tapin queue``.

Technicians run these over SSH. Each has ``--help``; ``status`` and ``queue`` have
``--json``. The queue file is held exclusively by the running agent or panel, so
``status`` and ``queue`` ask it over the control socket and open the file themselves
only when nothing is running.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tapin.cli import UsageError
from tapin.config import DEFAULT_PATH, Config, load_config

__all__ = ["agent", "enroll", "queue", "status"]


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config or DEFAULT_PATH)


def _state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    return _config(args).state_dir


# enroll ------------------------------------------------------------------------------


async def enroll(args: argparse.Namespace) -> int:
    from sync.client import CentralClient
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
        answer = await client.enroll(args.code, key)  # Refused: exit 2; CentralError: 3
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


async def agent(args: argparse.Namespace) -> int:
    from tapin.device.runtime import empty_runtime
    from tapin.device.services import run_agent

    config = _config(args)
    return await run_agent(config, empty_runtime(config), once=args.once)


# status and queue --------------------------------------------------------------------


async def _local_queue(state_dir: Path, what: str) -> Any:
    """Open the queue file directly (nothing is running). ``None`` when there is none."""
    from sync.identity import load_identity
    from sync.queue import AsyncSealedQueue
    from tapin.device.services import QUEUE_FILE, counts_dict, row_dict

    path = state_dir / QUEUE_FILE
    if not path.exists():
        return None
    identity = load_identity(state_dir)
    queue = AsyncSealedQueue(path, identity.sealing_key(), device_id=identity.device_id)
    await queue.open()
    try:
        if what == "counts":
            return counts_dict(await queue.counts())
        return [row_dict(r) for r in await queue.rows()]
    finally:
        await queue.close()


async def status(args: argparse.Namespace) -> int:
    from sync.agent import read_status
    from sync.client import CentralClient, CentralError
    from sync.identity import load_identity
    from tapin.device.control import ask

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


async def queue(args: argparse.Namespace) -> int:
    from tapin.device.control import ask

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

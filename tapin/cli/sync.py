"""``tapin enroll``, ``tapin agent``, ``tapin status`` and ``tapin queue``.

Technicians run these over SSH. Each has ``--help``; ``status`` and ``queue`` have
``--json``. The queue file is held exclusively by the running agent or panel, so
``status`` and ``queue`` ask it over the control socket and open the file themselves
only when nothing is running.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from tapin.cli import UsageError
from tapin.config import DEFAULT_PATH, Config, check_central_url, load_config

__all__ = ["agent", "enroll", "queue", "status"]


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config or DEFAULT_PATH)


def _state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    return _config(args).state_dir


# enroll ------------------------------------------------------------------------------

log = logging.getLogger(__name__)


def _enroll_config(args: argparse.Namespace) -> Config | None:
    """The configuration ``tapin enroll`` checks the code against: ``--config``, else the
    default file when there is one (a bare ``--state-dir`` enrollment has none)."""
    if args.config is not None:
        return load_config(args.config)
    if DEFAULT_PATH.exists() and not getattr(args, "state_dir", None):
        return load_config(DEFAULT_PATH)
    return None


def _enroll_settings(args: argparse.Namespace) -> tuple[Config | None, Path, str, str]:
    """``(config, state dir, server URL, code)``. Raises :class:`UsageError`."""
    config = _enroll_config(args)
    if args.state_dir:
        state_dir = Path(args.state_dir)
    elif config is not None:
        state_dir = config.state_dir
    else:
        raise UsageError(f"no {DEFAULT_PATH}: pass --config FILE or --state-dir DIR")
    server = args.server or (config.central_url if config is not None else None)
    if not server:
        where = config.source if config is not None else "the configuration"
        raise UsageError(f"no central URL: pass --server URL or set [central] url in {where}")
    try:
        server = check_central_url(server)
    except ValueError as exc:
        raise UsageError(f"--server: {exc}") from None
    codes = [c for c in (args.code, getattr(args, "code_arg", None)) if c]
    if not codes:
        raise UsageError("no enrollment code: give it as 'tapin enroll CODE' (or --code CODE)")
    if len(set(codes)) > 1:
        raise UsageError("two different enrollment codes given; give one")
    return config, state_dir, server, codes[0]


def _expected_scope(config: Config | None) -> tuple[str, str] | None:
    if config is None:
        return None
    if config.role == "kiosk" and config.lobby:
        return "lobby", config.lobby
    if config.room:
        return "room", config.room
    return None


def _describe(scope: tuple[str, str]) -> str:
    return f"{'lobby' if scope[0] == 'lobby' else 'room'} {scope[1]}"


async def enroll(args: argparse.Namespace) -> int:
    """``tapin enroll [CODE]``: everything local is checked and prepared before central
    is asked (state dir, credentials folder, key written, CA read); then central
    reserves the code for this key, the identity is stored, and the device confirms.

    Raises :class:`UsageError` / :class:`sync.identity.IdentityError` for what a
    technician can fix, :class:`sync.client.Refused` when central refuses the code and
    :class:`sync.client.CentralError` when central cannot be reached."""
    from sync.client import CentralError
    from sync.identity import (
        DeviceIdentity,
        IdentityError,
        load_identity,
        pending_key,
        prepare_credentials,
        read_ca,
        save_identity,
    )
    from tapin.cli.enrolling import EnrollClient

    config, state_dir, server, code = _enroll_settings(args)
    expect = _expected_scope(config)
    ca_path: Path | None = args.ca or (config.ca_file if config is not None else None)
    ca_pem = read_ca(ca_path) if ca_path is not None else None
    prepare_credentials(state_dir)
    try:
        existing = load_identity(state_dir)
    except IdentityError:
        existing = None
    if existing is not None and not args.force:
        raise UsageError(f"already enrolled as {existing.device_id}; pass --force to enroll again")
    key = pending_key(state_dir)  # kept until stored: a repeat uses the same key
    client = EnrollClient(server, ca_file=ca_path, timeout=20)
    async with client:
        answer = await client.enroll_expecting(code, key, expect)  # Refused 2, CentralError 3
        raw_scope = answer.get("scope")
        scope: dict[str, Any] = raw_scope if isinstance(raw_scope, dict) else {}
        got = (str(scope.get("kind", "")), str(scope.get("id", "")))
        if expect is not None and got != expect:  # a central that did not compare
            raise UsageError(
                f"this code is for {_describe(got)}, but {config.source if config else ''} is "
                f"set up for {_describe(expect)}; use a code for {_describe(expect)} or fix the "
                "configuration"
            )
        identity = DeviceIdentity(
            device_id=answer["device_id"],
            token=answer["token"],
            site_id=answer["site_id"],
            scope_kind=got[0],
            scope_id=got[1],
            central_url=server,
            central_public_key=answer["central_public_key"],
            # the copy, by name (trust) and by path (for tools that read ca_file)
            ca_file=str((state_dir / "credentials" / "ca.pem").resolve()) if ca_pem else None,
            trust="ca.pem" if ca_pem is not None else None,
        )
        identity.sealing_key()  # refuse a bad key now, not at the first event
        try:
            folder = save_identity(state_dir, identity, key, ca_pem=ca_pem)
        except OSError as exc:
            until = answer.get("retry_until") or "a few minutes from now"
            raise UsageError(
                f"central enrolled this device as {identity.device_id}, but storing its "
                f"identity in {state_dir} failed ({exc.strerror}); fix that and run the same "
                f"command again before {until}: the code stays reserved for this device"
            ) from None
        try:
            await client.confirm(identity.device_id, identity.token, key)
            confirmed = "confirmed"
        except CentralError as exc:
            log.warning("enrollment stored but not confirmed yet: %s", exc)
            confirmed = "central confirms it at the first sync"
    log.info(
        "enrolled as device %s for %s:%s at site %s",
        identity.device_id,
        identity.scope_kind,
        identity.scope_id,
        identity.site_id,
    )
    print(
        f"enrolled as {identity.device_id} at site {identity.site_id} "
        f"for {identity.scope_kind} {identity.scope_id} ({confirmed}); credentials in {folder}"
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
    """``tapin status`` (in :mod:`tapin.cli.doctor`, beside the checks it shares)."""
    from tapin.cli.doctor import status as show_status

    return await show_status(args)


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

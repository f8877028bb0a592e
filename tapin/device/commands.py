"""Central's remote commands, carried out on the device (the ``commands`` job).

Each command is acknowledged once carried out, with a result (``done`` or
``refused`` and why: :meth:`sync.client.CentralClient.ack_command`); one that cannot be
carried out now (central unreachable mid-way, events still pending) is left
unacknowledged and tried again at the next poll.

* ``forget_person``: every cached trace of the person leaves memory.
* ``reconfigure``: :func:`tapin.device.reconfigure.apply_config`; a bad config is
  refused (the ack says why) and nothing changes; a good one is written, then the
  process exits with :data:`EXIT_RESTART` to start with it (the queue is on disk).
* ``rotate_keys``: a new key pair, proved with the old and the new key to central
  (:mod:`central.commands`), kept in ``credentials/rotation.json`` until central
  switched and the identity holds it (a process stopped half-way finishes at its next
  start: :func:`resume_rotation`); the old token is refused from then on.
* ``decommission``: the queue is drained to central first (else: tried again at the
  next poll, up to a bound: once :data:`DECOMMISSION_GIVE_UP` has passed since the first
  try and at least :data:`DECOMMISSION_MIN_TRIES` tries failed, it goes ahead and the
  log and the ack say how many events were dropped, by count only; the tries are
  counted in ``decommission-tries.json`` so a restart does not reset them), the command
  acknowledged, then every file of the state directory goes (credentials,
  queue, caches) but a ``decommissioned`` note, and the process exits with
  :data:`EXIT_DECOMMISSIONED`; it then starts as "not enrolled" and says it was
  decommissioned (:func:`decommissioned_note`).
* ``restart``: the process exits with :data:`EXIT_RESTART` (systemd's
  ``Restart=always`` starts it again).

Nothing of a command's arguments is logged (a person's id included).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync import identity as credentials
from sync.files import write_private

if TYPE_CHECKING:
    from tapin.device.services import DeviceSync

__all__ = [
    "DECOMMISSIONED_FILE",
    "DECOMMISSION_GIVE_UP",
    "DECOMMISSION_MIN_TRIES",
    "EXIT_DECOMMISSIONED",
    "EXIT_RESTART",
    "ExitRequest",
    "decommissioned_note",
    "handle_commands",
    "resume_rotation",
    "wipe_state",
]

log = logging.getLogger(__name__)

EXIT_RESTART = 75
"""A restart asked for (``restart``, a ``reconfigure`` applied): systemd's
``Restart=always`` starts the process again."""
EXIT_DECOMMISSIONED = 78
"""Decommissioned: units list it in ``RestartPreventExitStatus=``, so it stays stopped."""
DECOMMISSIONED_FILE = "decommissioned"
DECOMMISSION_TRIES_FILE = "decommission-tries.json"
DECOMMISSION_GIVE_UP = timedelta(days=1)
"""A decommission whose events cannot be uploaded goes ahead this long after its first
try (and :data:`DECOMMISSION_MIN_TRIES` tries: a device switched off for a day does not
drop its queue at its first poll after boot)."""
DECOMMISSION_MIN_TRIES = 10
_DRAIN_TRIES = 5


@dataclass(frozen=True, slots=True)
class ExitRequest:
    """What a command asks of the process once it has been acknowledged."""

    status: int
    after_close: Callable[[], None] | None = None
    """Run after the services closed (the decommission's wipe)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    result: str | None
    """``done``, ``refused``, or ``None``: not now (not acknowledged, tried again)."""
    detail: str | None = None
    exit: ExitRequest | None = None


def rotation_message(device_id: str, new_public_key: bytes) -> bytes:
    """What both keys sign (central.commands.rotation_message: the wire contract)."""
    return b"tapin-rotate-keys\n" + device_id.encode() + b"\n" + new_public_key


def confirm_message(device_id: str, new_public_key: bytes) -> bytes:
    return b"tapin-rotate-confirm\n" + device_id.encode() + b"\n" + new_public_key


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def handle_commands(sync: DeviceSync, request_exit: Callable[[ExitRequest], None]) -> int:
    """Fetch central's pending commands and carry them out; returns how many were
    acknowledged. A command that ends the process (``restart``, ``decommission``, a
    ``reconfigure`` applied) is the last one handled: ``request_exit`` gets what to do
    once it is acknowledged. Never raises for central's trouble."""
    from sync.client import CentralError

    try:
        await resume_rotation(sync)
        commands = await sync.client.commands()
    except CentralError as exc:
        log.info("commands not fetched: %s", type(exc).__name__)
        return 0
    except (credentials.IdentityError, OSError) as exc:  # the rotation's files: next poll
        log.error("key rotation not finished: %s", exc)
        return 0
    done = 0
    for command in commands:
        kind = command.get("kind") or command.get("type")
        args = command.get("args") or command.get("payload") or {}
        try:
            outcome = await _carry_out(sync, str(kind), args if isinstance(args, dict) else {})
        except (CentralError, OSError) as exc:  # central, or a full disk: the next poll
            log.warning("command %s not carried out now: %s", kind, type(exc).__name__)
            break
        except credentials.IdentityError as exc:  # the device's own key is unusable
            outcome = _Outcome("refused", str(exc)[:300])
        if outcome.result is None:
            break
        try:
            await sync.client.ack_command(command["id"], outcome.result, outcome.detail)
        except CentralError:
            break
        done += 1
        log.info("command %s %s", kind, outcome.result)
        if outcome.exit is not None:
            request_exit(outcome.exit)
            break
    return done


async def _carry_out(sync: DeviceSync, kind: str, args: Mapping[str, Any]) -> _Outcome:
    if kind == "forget_person":
        person = args.get("person_id")
        if not isinstance(person, str):
            return _Outcome("refused", "forget_person needs args {person_id}")
        sync.runtime.forget_person(person)
        return _Outcome("done")
    if kind == "restart":
        return _Outcome("done", exit=ExitRequest(EXIT_RESTART))
    if kind == "reconfigure":
        return await _reconfigure(sync, args)
    if kind == "rotate_keys":
        await _rotate(sync)
        return _Outcome("done")
    if kind == "decommission":
        return await _decommission(sync)
    log.warning("unknown command kind %r from central; refused", kind[:40])
    return _Outcome("refused", f"this device does not know the command {kind[:40]!r}")


async def _reconfigure(sync: DeviceSync, args: Mapping[str, Any]) -> _Outcome:
    import asyncio

    from tapin.device.reconfigure import Refusal, apply_config

    config = sync.config
    if config is None or config.source.startswith("<"):
        return _Outcome("refused", "this device runs without a configuration file")
    try:
        changed = await asyncio.to_thread(apply_config, Path(config.source), args.get("config"))
    except Refusal as exc:
        log.warning("reconfigure refused: %s", exc)
        return _Outcome("refused", str(exc)[:300])
    if not changed:
        return _Outcome("done", "unchanged")
    return _Outcome("done", "applied; restarting", exit=ExitRequest(EXIT_RESTART))


async def _rotate(sync: DeviceSync) -> None:
    """Raises :class:`sync.client.CentralError` (tried again at the next poll) and
    :class:`sync.identity.IdentityError` when the device's own key is unusable."""
    import asyncio

    state = sync.state_dir
    old = await asyncio.to_thread(credentials.load_signing_key, state)
    new = Ed25519PrivateKey.generate()
    message = rotation_message(sync.identity.device_id, _raw(new))
    token = await sync.client.rotate(
        {
            "public_key": _b64(_raw(new)),
            "old_signature": _b64(old.sign(message)),
            "new_signature": _b64(new.sign(message)),
        }
    )
    await asyncio.to_thread(credentials.save_rotation, state, token, new)
    await resume_rotation(sync)


async def resume_rotation(sync: DeviceSync) -> bool:
    """Finish a rotation under way (``credentials/rotation.json``): confirm it with the
    old token, store the new identity, send the new token from now on. ``True`` when one
    was finished. Raises :class:`sync.client.CentralError` when central could not be
    asked (the rotation stays for the next try)."""
    import asyncio

    from sync.client import NotAuthorised, Refused

    state = sync.state_dir
    pending = await asyncio.to_thread(credentials.load_rotation, state)
    if pending is None:
        return False
    token, key = pending
    signature = _b64(key.sign(confirm_message(sync.identity.device_id, _raw(key))))
    if token != sync.identity.token:
        try:
            await sync.client.rotate_confirm(signature)
        except NotAuthorised:
            pass  # the old token is refused: central switched already (we stopped half-way)
        except Refused:  # central holds no rotation for this key: the new token is void
            await asyncio.to_thread(credentials.clear_rotation, state)
            log.warning("key rotation abandoned: central does not hold it")
            return False
    new_identity = replace(sync.identity, token=token)
    await asyncio.to_thread(credentials.save_identity, state, new_identity, key)
    await asyncio.to_thread(credentials.clear_rotation, state)
    sync.client.use_token(token)
    sync.identity = new_identity
    log.info("device key rotated")
    return True


async def _decommission(sync: DeviceSync) -> _Outcome:
    for _ in range(_DRAIN_TRIES):
        if (await sync.queue.counts()).waiting == 0:
            break
        await sync.agent.drain(force=True)
    waiting = (await sync.queue.counts()).waiting
    state = sync.state_dir
    detail = "queue drained; wiping and stopping"
    if waiting:
        import asyncio

        first, tries = await asyncio.to_thread(_count_try, state)
        if tries < DECOMMISSION_MIN_TRIES or datetime.now(UTC) - first < DECOMMISSION_GIVE_UP:
            log.warning("decommission waits: %d events not yet uploaded (try %d)", waiting, tries)
            return _Outcome(None)
        log.error(
            "decommission goes ahead after %d tries since %s: %d events dropped, never uploaded",
            tries,
            first.isoformat(timespec="seconds"),
            waiting,
        )
        detail = (
            f"queue not drained after {tries} tries: {waiting} events dropped; wiping and stopping"
        )
    keep = Path(sync.config.source) if sync.config is not None else None
    return _Outcome(
        "done",
        detail,
        exit=ExitRequest(EXIT_DECOMMISSIONED, lambda: wipe_state(state, keep=keep)),
    )


def _count_try(state_dir: Path) -> tuple[datetime, int]:
    """Count one more failed try to drain for a decommission; returns when the first
    was and how many there were (this one included). An unreadable count starts again.
    Raises :class:`OSError` when the count cannot be written."""
    path = state_dir / DECOMMISSION_TRIES_FILE
    first, tries = datetime.now(UTC), 0
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        first = datetime.fromisoformat(data["first_try_at"])
        tries = int(data["tries"])
        if first.tzinfo is None:
            raise ValueError("naive time")
    except (OSError, ValueError, KeyError, TypeError):
        first, tries = datetime.now(UTC), 0
    tries += 1
    note = {"first_try_at": first.isoformat(), "tries": tries}
    write_private(path, json.dumps(note).encode())
    return first, tries


def wipe_state(state_dir: Path, *, keep: Path | None = None) -> None:
    """Delete every file and folder in ``state_dir`` (credentials, queue, caches) but
    ``keep`` (a configuration file living there), then leave the ``decommissioned``
    note. Raises :class:`OSError` when something cannot be deleted."""
    for entry in list(state_dir.iterdir()):
        if keep is not None and entry.resolve() == keep.resolve():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    note = {"decommissioned_at": datetime.now(UTC).isoformat(timespec="seconds")}
    write_private(state_dir / DECOMMISSIONED_FILE, json.dumps(note).encode())
    log.warning("device decommissioned: credentials and state wiped")


def decommissioned_note(state_dir: Path) -> str | None:
    """The message for a device that was decommissioned (``None``: it was not)."""
    try:
        data = json.loads((state_dir / DECOMMISSIONED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    when = data.get("decommissioned_at") if isinstance(data, dict) else None
    return (
        f"this device was decommissioned{f' at {when}' if isinstance(when, str) else ''} "
        "and is not enrolled; enroll it again with a new code: tapin enroll CODE"
    )

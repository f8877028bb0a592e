"""``tapin doctor`` (check this device and say, in plain words, what to fix) and
``tapin status`` (the link to central as it is: last successful sync, unreachable,
revoked or wrong room, next retry, clock offset, the queue).

Exit statuses (docs/operations.md): ``doctor`` 0 healthy (warnings allowed), 1
unhealthy (a check failed), 2 a bad command line; ``status`` 0 healthy, 1 unhealthy,
2 not enrolled or a bad configuration.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tapin.cli import UsageError
from tapin.config import DEFAULT_PATH, Config, load_config

__all__ = ["doctor", "status"]

_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "-   "}


async def doctor(args: argparse.Namespace) -> int:
    from tapin.device.doctor import Machine, examine

    root = Path(args.root) if args.root else Path("/")
    if not root.is_dir():
        raise UsageError(f"--root: {root} is not a directory")
    report = await examine(args.config or DEFAULT_PATH, machine=Machine(root=root))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
        return report.exit_status
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        print(f"{_MARKS.get(check.status, check.status)}  {check.name:<{width}}  {check.words}")
    failed = [c.name for c in report.checks if c.status == "fail"]
    warned = [c.name for c in report.checks if c.status == "warn"]
    if failed:
        print(
            f"\nunhealthy: {', '.join(failed)} failed"
            + (f"; {len(warned)} warning(s)" if warned else "")
        )
    else:
        print("\nhealthy" + (f", with {len(warned)} warning(s)" if warned else ""))
    return report.exit_status


# tapin status ---------------------------------------------------------------------------

_LINK_LABELS = {
    "ok": "reachable, accepts this device",
    "url": "BAD URL",
    "dns": "UNREACHABLE",
    "network": "UNREACHABLE",
    "ca": "CERTIFICATE PROBLEM",
    "certificate": "CERTIFICATE PROBLEM",
    "tls": "TLS FAILED",
    "server": "ANSWERS BADLY",
    "revoked": "REVOKED",
    "not_authorised": "NOT ACCEPTED",
    "refused": "REFUSED",
}
_SAVED = (
    "last_contact",
    "last_sync",
    "last_success",
    "last_error",
    "last_error_at",
    "trouble",
    "next_attempt_at",
    "clock_offset_seconds",
)


def _when(text: object, now: datetime) -> str:
    """An ISO time as ``2026-12-01 13:40:12 UTC (3 min ago)``."""
    if not isinstance(text, str):
        return "never"
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return text
    seconds = round((now - moment).total_seconds())
    ago = f"in {-seconds} s" if seconds < 0 else (f"{seconds} s ago" if seconds < 120 else "")
    if not ago:
        minutes = seconds // 60
        ago = f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago})"


def _where(args: argparse.Namespace) -> tuple[Path, Config | None]:
    """The state directory and the configuration (``None`` with a bare ``--state-dir``).
    Raises :class:`tapin.config.ConfigError`."""
    if getattr(args, "state_dir", None) and args.config is None:
        return Path(args.state_dir), None
    config = load_config(args.config or DEFAULT_PATH)
    return Path(args.state_dir) if args.state_dir else config.state_dir, config


async def status(args: argparse.Namespace) -> int:
    """``tapin status``: 0 healthy, 1 unhealthy; ``IdentityError``/``ConfigError`` (exit 2)
    when not enrolled or misconfigured."""
    from sync.agent import read_status
    from sync.identity import TrustError, load_identity, trust_file
    from tapin.cli.sync import _local_queue
    from tapin.device import doctor as checks
    from tapin.device.control import ask
    from tapin.device.probe import Probe, probe_central

    state_dir, config = _where(args)
    identity = load_identity(state_dir)
    live = await ask(state_dir, "status")
    report: dict[str, Any] = {
        "device_id": identity.device_id,
        "site_id": identity.site_id,
        "scope": f"{identity.scope_kind}:{identity.scope_id}",
        "central_url": identity.central_url,
        "running": live is not None,
    }
    if isinstance(live, dict):
        report.update(live)
    else:
        saved = read_status(state_dir)
        if saved is not None:
            report.update({k: v for k, v in asdict(saved).items() if k in _SAVED})
        report["queue"] = await _local_queue(state_dir, "counts") or {}
    try:
        ca = trust_file(state_dir, identity, config.ca_file if config else None)
    except TrustError as exc:
        probe = Probe("ca", str(exc), identity.central_url)
    else:
        probe = await probe_central(identity.central_url, token=identity.token, ca_file=ca)
    now = datetime.now(UTC)
    report["central_reachable"] = probe.reached and probe.stage != "server"
    report["link"] = probe.stage
    if probe.stage != "ok":
        report["central_error"] = probe.words
    # now, from central's answer to the probe; the agent's figure may be old
    report["last_clock_offset_seconds"] = report.get("clock_offset_seconds")
    report["clock_offset_seconds"] = probe.clock_offset_seconds
    report["wrong_room"] = None
    if config is not None:
        verdict = checks.enrollment_check(config, identity, None)
        if verdict.status == checks.FAIL:  # without a probe: only a scope mismatch
            report["wrong_room"] = verdict.words
    problems = (
        [] if probe.stage == "ok" else [f"{_LINK_LABELS[probe.stage].lower()}: {probe.words}"]
    )
    if report["wrong_room"]:
        problems.append(report["wrong_room"])
    offset = report.get("clock_offset_seconds")
    if isinstance(offset, int | float) and abs(offset) > checks.CLOCK_FAIL_SECONDS:
        problems.append(f"the clock is {abs(offset):g} s off central's")
    queue = report.get("queue") or {}
    stuck = checks.queue_check(queue, None, now)
    if stuck.status == checks.FAIL:
        problems.append(stuck.words)
    report["healthy"] = not problems
    report["problems"] = problems
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if not problems else 1
    _print_status(report, probe, now)
    return 0 if not problems else 1


def _print_status(report: dict[str, Any], probe: Any, now: datetime) -> None:
    queue = report.get("queue") or {}
    print(f"device      {report['device_id']} ({report['scope']} at {report['site_id']})")
    label = _LINK_LABELS.get(probe.stage, probe.stage)
    print(
        f"central     {report['central_url']}: {label}"
        + ("" if probe.stage == "ok" else f": {probe.words}")
    )
    if report.get("wrong_room"):
        kind, _, rest = str(report["wrong_room"]).partition(": ")
        print(f"room        {kind.upper()}: {rest}")
    print(f"agent       {'running' if report['running'] else 'not running'}")
    print(f"last sync   {_when(report.get('last_success'), now)}")
    if report.get("last_error"):
        at = report.get("last_error_at")
        print(f"last error  {report['last_error']}" + (f" ({_when(at, now)})" if at else ""))
    retry = report.get("next_attempt_at")
    if not report["running"] and report.get("last_error"):
        print("next retry  when the agent or panel runs again (nothing runs now)")
    elif isinstance(retry, str) and retry > now.isoformat():
        print(f"next retry  {_when(retry, now)}")
    elif report.get("last_error"):
        print("next retry  now (the backoff is over)")
    offset = report.get("clock_offset_seconds")
    if isinstance(offset, int | float):
        side = "behind" if offset > 0 else "ahead of"
        if abs(offset) < 2:  # a Date header counts whole seconds
            print(f"clock       agrees with central's ({offset:+g} s, within the 1 s steps)")
        else:
            print(f"clock       {abs(offset):g} s {side} central's")
    elif isinstance(report.get("last_clock_offset_seconds"), int | float):
        print(
            "clock       offset unknown now (central did not answer); last known "
            f"{report['last_clock_offset_seconds']:+.1f} s"
        )
    else:
        print("clock       offset unknown (central has not answered)")
    print(
        f"queue       {queue.get('pending', 0)} pending, {queue.get('inflight', 0)} in flight, "
        f"{queue.get('rejected', 0)} rejected, {queue.get('quarantined', 0)} quarantined"
    )
    if queue.get("oldest_pending"):
        print(f"            oldest pending since {_when(queue['oldest_pending'], now)}")
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
    problems = report.get("problems") or []
    print(
        "health      healthy" if not problems else "health      UNHEALTHY: " + "; ".join(problems)
    )

"""``tapin doctor``'s checks: is this device healthy, and if not, what to fix.

Each check gives ``ok``, ``warn``, ``fail`` or ``skip`` (not applicable, or not
checkable because an earlier check failed) and plain words naming what to fix. The
device is healthy when no check fails (:attr:`Report.healthy`). The checks, in order:

* **config**: the configuration file loads and validates;
* **enrollment**: the credentials load, their room or lobby is the config's, and
  central accepts them (an authenticated cheap request: revoked, unknown or refused
  devices fail);
* **central**: central's name resolves, it listens, it answers ``/v1/health``;
* **tls**: central's certificate is trusted by the CA the device trusts (a certificate
  problem is told apart from the network); it expires in more than 14 days;
* **clock**: the system clock is synchronised (the kernel's NTP state, systemd-timesyncd's
  ``/run/systemd/timesync/synchronized``, or chrony), and agrees with central's ``Date``;
* **disk**: the state directory exists, is writable, and its file system has room;
* **runtime**: a panel, kiosk or agent answers on the control socket;
* **queue**: counts of pending, rejected and quarantined events and the oldest pending
  one's age (never a payload);
* **bluetooth**: the adapter exists and is not blocked (only with ``[presence] scan``);
* **display**: a connected display and a lit backlight (panels and kiosks).

The checks of the machine itself (clock, disk, bluetooth, display) and :class:`Machine`,
through which everything is read from the machine (tests point its ``root`` at a folder
of fake ``/sys`` and ``/run`` files), are in :mod:`tapin.device.machine_checks`; this
module checks the configuration, the link to central and the queue, and runs them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tapin.device.machine_checks import (  # the constants too: tapin status reads them here
    CLOCK_FAIL_SECONDS,
    CLOCK_WARN_SECONDS,
    DISK_FAIL_BYTES,
    DISK_WARN_BYTES,
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    Machine,
    bluetooth_check,
    clock_check,
    disk_check,
    display_check,
    kernel_clock_synced,
)
from tapin.device.probe import LINK_OK, Probe, probe_central

__all__ = [
    "CLOCK_FAIL_SECONDS",
    "CLOCK_WARN_SECONDS",
    "DISK_FAIL_BYTES",
    "DISK_WARN_BYTES",
    "Check",
    "Machine",
    "Report",
    "clock_check",
    "display_check",
    "examine",
    "kernel_clock_synced",
]

PENDING_WARN = timedelta(minutes=10)
PENDING_FAIL = timedelta(hours=1)
CERT_WARN = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def exit_status(self) -> int:
        """0 healthy (warnings allowed), 1 when any check fails."""
        return 0 if self.healthy else 1

    def check(self, name: str) -> Check:
        """The check called ``name``. Raises ``KeyError``."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "checks": [c.to_json() for c in self.checks]}


def _age(since: datetime, now: datetime) -> str:
    seconds = int(max(0.0, (now - since).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


# the checks -----------------------------------------------------------------------------


def enrollment_check(config: Any, identity: Any, probe: Probe | None) -> Check:
    """The credentials against the config and central's answer (``probe``)."""
    facts = {
        "device_id": identity.device_id,
        "site_id": identity.site_id,
        "scope": f"{identity.scope_kind}:{identity.scope_id}",
    }
    wanted = ("room", config.room) if config.role == "panel" else ("lobby", config.lobby)
    if (identity.scope_kind, identity.scope_id) != wanted:
        return Check(
            "enrollment",
            FAIL,
            f"wrong {wanted[0]}: the configuration ({config.source}) is for {wanted[0]} "
            f"{wanted[1]!r} but this device is enrolled for {identity.scope_kind} "
            f"{identity.scope_id!r}: fix the configuration, or enroll again with a code "
            f"for {wanted[0]} {wanted[1]!r}",
            facts,
        )
    who = f"enrolled as {identity.device_id} for {identity.scope_kind} {identity.scope_id}"
    if probe is None:
        return Check("enrollment", WARN, f"{who}; not confirmed: central was not asked", facts)
    if not probe.reached or probe.stage == "server":
        return Check("enrollment", WARN, f"{who}; not confirmed: central did not answer", facts)
    if probe.stage != LINK_OK:
        return Check("enrollment", FAIL, probe.words, facts)
    url = (config.central_url or "").rstrip("/")
    if url and url != identity.central_url.rstrip("/"):
        return Check(
            "enrollment",
            WARN,
            f"{who}; the configuration names central {url} but the device is enrolled with "
            f"{identity.central_url} (which it uses): make them agree",
            facts,
        )
    return Check("enrollment", OK, f"{who}; central accepts it", facts)


def central_checks(probe: Probe, ca_file: str | None, now: datetime) -> tuple[Check, Check]:
    """The ``central`` and ``tls`` checks from one probe."""
    facts = {"url": probe.url, "link": probe.stage}
    if not probe.tls_checked:
        central = Check("central", FAIL, f"central is unreachable: {probe.words}", facts)
        return central, Check("tls", SKIP, "not checked: central is unreachable")
    if probe.stage in ("ca", "certificate", "tls"):
        central = Check("central", SKIP, "not checked: TLS to central failed (see tls)", facts)
        return central, Check("tls", FAIL, probe.words, {"ca_file": ca_file})
    if probe.stage == "server":
        central = Check("central", FAIL, probe.words, facts)
    else:
        central = Check("central", OK, f"central at {probe.url} answers", facts)
    if not probe.tls:
        return central, Check("tls", SKIP, "plain http to this machine: no TLS to check")
    expires = probe.certificate_expires
    tls_facts = {"ca_file": ca_file, "expires": expires.isoformat() if expires else None}
    trust = f"trusted by {ca_file}" if ca_file else "trusted by the system's CA store"
    if expires is not None and expires - now < CERT_WARN:
        return central, Check(
            "tls",
            WARN,
            f"central's certificate is {trust} but expires on {expires:%Y-%m-%d}: renew it",
            tls_facts,
        )
    until = f", valid until {expires:%Y-%m-%d}" if expires else ""
    return central, Check("tls", OK, f"central's certificate is {trust}{until}", tls_facts)


def queue_check(counts: dict[str, Any] | None, problem: str | None, now: datetime) -> Check:
    """From the queue's counts (``counts_dict``), or the ``problem`` opening it."""
    if problem is not None:
        return Check("queue", FAIL, problem)
    counts = counts or {}
    facts = {k: counts.get(k, 0) for k in ("pending", "inflight", "rejected", "quarantined")}
    oldest_text = counts.get("oldest_pending")
    oldest = datetime.fromisoformat(oldest_text) if isinstance(oldest_text, str) else None
    age = (now - oldest) if oldest is not None else None
    facts["oldest_pending_age_seconds"] = round(age.total_seconds()) if age is not None else None
    words = (
        f"{facts['pending']} pending, {facts['inflight']} in flight, "
        f"{facts['rejected']} rejected, {facts['quarantined']} quarantined"
    )
    if oldest is not None and age is not None and age > PENDING_WARN:
        status = FAIL if age > PENDING_FAIL else WARN
        return Check(
            "queue",
            status,
            f"{words}; the oldest pending event waits since {_age(oldest, now)} ago: what was "
            "done here is not reaching central (see the central and enrollment checks)",
            facts,
        )
    notes = []
    if facts["rejected"]:
        notes.append("central refused some events: 'tapin queue --state rejected' says why")
    if facts["quarantined"]:
        notes.append(
            "central could not open some events' seal (its key changed since enrollment?): "
            "'tapin queue --state quarantined'"
        )
    if notes:
        return Check("queue", WARN, f"{words}; " + "; ".join(notes), facts)
    return Check("queue", OK, words, facts)


# all of it ------------------------------------------------------------------------------


async def _queue_counts(state_dir: Path, identity: Any) -> tuple[bool, dict | None, str | None]:
    """(a runtime answered, counts, a problem): from the running process, else the file."""
    from sync.queue import QueueError
    from tapin.device.control import ask
    from tapin.device.devicesync import QUEUE_FILE, counts_dict

    try:
        live = await ask(state_dir, "status", timeout=10)
    except (OSError, ValueError):  # a process dying as it answers: treated as none
        live = None
    if isinstance(live, dict) and isinstance(live.get("queue"), dict):
        return True, live["queue"], None
    path = state_dir / QUEUE_FILE
    if identity is None or not path.exists():
        return False, None, None
    from sync.queue import AsyncSealedQueue

    queue = AsyncSealedQueue(path, identity.sealing_key(), device_id=identity.device_id)
    try:
        await queue.open()
        try:
            return False, counts_dict(await queue.counts()), None
        finally:
            await queue.close()
    except QueueError as exc:
        return False, None, f"the queue {path} cannot be read: {exc}"


async def examine(
    config_path: Path, *, machine: Machine | None = None, timeout: float = 5.0
) -> Report:
    """Run every check for the device configured in ``config_path``. Never raises for
    what it finds (that is the report); raises only for a bug."""
    from sync.identity import IdentityError, load_identity, trust_file
    from tapin.config import ConfigError, load_config

    machine = machine or Machine()
    now = machine.now()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        skipped = "not checked: fix the configuration first"
        names = ("enrollment", "central", "tls", "clock", "disk", "runtime", "queue")
        return Report((Check("config", FAIL, str(exc)), *(Check(n, SKIP, skipped) for n in names)))
    checks = [Check("config", OK, f"{config.source} is valid ({config.role})")]
    identity, probe, ca_file = None, None, None
    try:
        identity = load_identity(config.state_dir)
        ca_file = trust_file(config.state_dir, identity, config.ca_file)
    except IdentityError as exc:
        if identity is None:
            checks.append(Check("enrollment", FAIL, str(exc)))
            checks.append(Check("central", SKIP, "not checked: the device is not enrolled"))
        else:
            checks.append(enrollment_check(config, identity, None))
            checks.append(Check("central", SKIP, "not checked: the trusted CA is unusable"))
        if identity is None:
            checks.append(Check("tls", SKIP, "not checked: the device is not enrolled"))
        else:
            checks.append(Check("tls", FAIL, str(exc)))
    else:
        probe = await probe_central(
            identity.central_url, token=identity.token, ca_file=ca_file, timeout=timeout
        )
        checks.append(enrollment_check(config, identity, probe))
        checks.extend(central_checks(probe, ca_file, now))
    checks.append(clock_check(machine, probe.clock_offset_seconds if probe else None))
    checks.append(disk_check(machine, config.state_dir))
    running, counts, problem = await _queue_counts(config.state_dir, identity)
    if running:
        checks.append(Check("runtime", OK, "a panel, kiosk or agent is running and answers"))
    elif identity is None:
        checks.append(Check("runtime", SKIP, "not checked: an unenrolled device does not sync"))
    else:
        checks.append(
            Check(
                "runtime",
                WARN,
                "nothing is running here (no answer on the control socket): nothing syncs; "
                "see systemctl status 'tapin*' and journalctl -b -u 'tapin*'",
            )
        )
    if identity is None and counts is None:
        checks.append(Check("queue", SKIP, "not checked: no queue before enrollment"))
    else:
        checks.append(queue_check(counts, problem, now))
    checks.append(bluetooth_check(machine, config))
    checks.append(display_check(machine, config, now))
    return Report(tuple(checks))

"""``kill -9`` of the device at random moments during enqueue and drain, many times,
and of central once: no acknowledged event lost, none applied twice.

A child process (``tests/e2e/kill9_child.py``) is a real enrolled device: its sealed
queue file and its TLS client to a real central process on PostgreSQL. It enqueues
``issue.report`` events from 8 producers at once (group commits) and drains them in
small batches at the same time, printing each event id only once ``enqueue()`` has
returned (acknowledged). The test kills it
with SIGKILL after a random 0.1-0.8 s, restarts it on the same state directory, and
does so for many rounds; mid-way it also SIGKILLs central while the device is busy and
restarts it. A last child drains what is left. Then central must hold every
acknowledged event exactly once, and the device's queue must be empty.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from central.local import LocalCentral
from sync.identity import load_identity
from sync.queue import QueueCounts, SealedQueue

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20
SEED = 20240917
CENTRAL_KILL_ROUND = ROUNDS // 2
KILL_AFTER_S = (0.1, 0.8)
BATCH = 20
FINAL_BATCH = 500
PRODUCERS = 8  # kill9_child's default: concurrent enqueuers, so group commits get killed


class Child:
    """One run of ``python -m tests.e2e.kill9_child``; a thread collects complete lines."""

    def __init__(self, state_dir: Path, mode: str, log: Path, batch: int = BATCH) -> None:
        self.lines: list[str] = []
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.e2e.kill9_child",
                    str(state_dir),
                    "--mode",
                    mode,
                    "--batch",
                    str(batch),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.endswith(b"\n"):  # a line cut by the kill was never a fact
                self.lines.append(raw.decode().strip())

    def died(self) -> str:
        return f"child exited {self.proc.returncode}: {self.log.read_text()[-3000:]}"

    def wait_for(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                self.reader.join(timeout=5)
                if any(line.startswith(prefix) for line in self.lines):
                    continue
                pytest.fail(self.died())
            if time.monotonic() > deadline:
                pytest.fail(f"child printed no {prefix!r} in {timeout} s: {self.log.read_text()}")
            time.sleep(0.005)

    def kill(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the child died before it was killed: {self.died()}")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 90.0) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        assert self.proc.returncode == 0, self.died()


@dataclass
class Tally:
    """What the children said, over all rounds."""

    acked: dict[str, str] = field(default_factory=dict)
    """Acknowledged event id -> its report id."""
    kills: int = 0
    opens_retried: int = 0
    killed_mid_upload: int = 0
    killed_after_answer: int = 0
    uploads: int = 0
    duplicates: int = 0
    failed_uploads: int = 0
    grouped: int = 0
    """Most events beyond one per transaction in a child's group commits."""

    def add(self, child: Child, *, killed: bool) -> None:
        last_upload = ""
        for line in child.lines:
            word, *rest = line.split()
            if word == "ack":
                assert rest[0] not in self.acked, f"event id {rest[0]} acknowledged twice"
                self.acked[rest[0]] = rest[1]
            elif word == "groups":
                self.grouped = max(self.grouped, int(rest[1]) - int(rest[0]))
            elif word == "open" and int(rest[0]) > 1:
                self.opens_retried += 1
            elif word == "up":
                self.uploads += 1
                last_upload = word
            elif word == "res":
                self.duplicates += int(rest[1])
                last_upload = word
            elif word == "fail":
                self.failed_uploads += 1
                last_upload = word
        if killed:
            self.kills += 1
            self.killed_mid_upload += last_upload == "up"
            self.killed_after_answer += last_upload == "res"


def ledger(dsn: str, device_id: str) -> dict[str, tuple[str, int]]:
    """Central's exactly-once ledger for the device: event id -> (outcome, seq)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id::text, outcome, seq FROM applied_events WHERE device_id = %s",
            [device_id],
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def reports(dsn: str, device_id: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id FROM issue_reports WHERE device_id = %s", [device_id]
        ).fetchall()
    return [row[0] for row in rows]


def test_kill9_during_enqueue_and_drain_loses_nothing_and_applies_nothing_twice(
    central: LocalCentral, tmp_path: Path
) -> None:
    started = time.monotonic()
    device = central.enroll("panel", room="aurora")
    identity = load_identity(device.state_dir)
    rng = random.Random(SEED)
    tally = Tally()
    logs = tmp_path / "child-logs"
    logs.mkdir()

    for round_no in range(ROUNDS):
        child = Child(device.state_dir, "both", logs / f"round-{round_no}.log")
        child.wait_for("open")
        if round_no == CENTRAL_KILL_ROUND:
            # central dies while the device enqueues and drains; the device goes on
            # offline, and finds central again once it is back.
            time.sleep(rng.uniform(*KILL_AFTER_S))
            central.stop(kill=True)
            time.sleep(0.3)
            central.start()
        time.sleep(rng.uniform(*KILL_AFTER_S))
        child.kill()
        tally.add(child, killed=True)

    killing = time.monotonic() - started
    last = Child(device.state_dir, "drain", logs / "final.log", batch=FINAL_BATCH)
    last.finish()
    left = sum(
        int(line.split()[1]) + int(line.split()[2]) for line in last.lines if line[:4] == "res "
    )
    tally.add(last, killed=False)
    assert last.lines[-1] == "drained 0 0 0 0"

    applied = ledger(central.dsn, identity.device_id)
    acked = tally.acked
    assert len(acked) > ROUNDS * 10, "too few events to mean anything"
    # No acknowledged event lost: each one is in central's ledger, applied.
    lost = [event_id for event_id in acked if event_id not in applied]
    assert not lost, f"{len(lost)} acknowledged event(s) never reached central: {lost[:5]}"
    not_applied = {i: applied[i][0] for i in acked if applied[i][0] != "applied"}
    assert not not_applied, f"acknowledged events not applied: {not_applied}"
    # ... and its effect is there.
    made = reports(central.dsn, identity.device_id)
    assert set(acked.values()) <= set(made)
    # None applied twice: one effect per ledger row, one ledger row per event.
    assert len(made) == len(set(made)) == len(applied)
    assert all(outcome == "applied" for outcome, _ in applied.values())
    # The only events central has beyond the acknowledged ones were stored by an
    # enqueue() that the kill interrupted before it could return: one group commit per
    # kill at most, so as many events as there are producers.
    assert tally.grouped > 0, "the producers' events were never committed together"
    assert len(applied) - len(acked) <= tally.kills * PRODUCERS
    # Sequence numbers are never reused across the kills.
    seqs = [seq for _, seq in applied.values()]
    assert len(seqs) == len(set(seqs))
    # The device keeps nothing once central has it.
    with SealedQueue(device.state_dir / "queue.db", identity.sealing_key()) as queue:
        counts = queue.counts()
        assert counts == QueueCounts(), counts
        assert queue.rows() == []
    # Central was really down for the device once, and the device's restarts were
    # never refused: a killed process leaves no lock behind.
    assert tally.failed_uploads >= 1
    assert tally.opens_retried == 0, "a restart found the queue still locked"

    print(
        f"\nkill -9: {ROUNDS} rounds, {tally.kills} device kills + 1 central kill; "
        f"{len(acked)} acknowledged events, {len(applied)} applied "
        f"({len(applied) - len(acked)} stored by an interrupted enqueue); "
        f"{tally.uploads} uploads, {tally.failed_uploads} failed, "
        f"{tally.duplicates} answered duplicate; kills mid-upload {tally.killed_mid_upload}, "
        f"after an answer {tally.killed_after_answer}; opens retried {tally.opens_retried}; "
        f"{left} left for the final drain; {killing:.1f} s of kill rounds, "
        f"{time.monotonic() - started:.1f} s in all"
    )

"""kill -9 at random moments loses no acknowledged event and repeats no sequence number."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sync.queue import EventState, SealedQueue
from tests.sync.queue_support import central_open

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 15

# The child enqueues forever and prints each event only once enqueue() has returned,
# i.e. once the event is acknowledged as durable. Now and then it takes a batch, so
# some kills also leave events in flight.
CHILD = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sync.queue import SealedQueue

key = X25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[2]))
queue = SealedQueue(Path(sys.argv[1]), key, epoch_max_events=50)
print("open", flush=True)
n = 0
while True:
    event = queue.enqueue("visitor.sign_in", "lobby:main", {"name": "Visitor", "n": n})
    print(event.id, event.seq, flush=True)
    n += 1
    if n % 40 == 0:
        queue.take_batch(15)
"""


class Child:
    """One run of the child, its acknowledged lines collected by a reader thread."""

    def __init__(self, path: Path, key_hex: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), key_hex],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.endswith(b"\n"):  # a line cut by the kill was never acknowledged
                self.lines.append(raw.decode().strip())

    def wait_open(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while "open" not in self.lines:
            if self.proc.poll() is not None:
                assert self.proc.stderr is not None
                pytest.fail(f"child died: {self.proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "child did not open the queue in time"
            time.sleep(0.005)

    def kill(self) -> list[tuple[str, int]]:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        acknowledged = []
        for line in self.lines:
            if line != "open":
                event_id, seq = line.split()
                acknowledged.append((event_id, int(seq)))
        return acknowledged


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("TAPIN_CRASH_SEED"))
    central = X25519PrivateKey.generate()
    key_hex = central.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    path = tmp_path / "queue.db"
    acknowledged: list[tuple[str, int]] = []
    for round_no in range(ROUNDS):
        child = Child(path, key_hex)
        if round_no % 3 == 0:
            time.sleep(rng.uniform(0.0, 0.5))  # anywhere: start-up, opening, enqueueing
        else:
            child.wait_open()
            time.sleep(rng.uniform(0.0, 0.15))  # in the middle of the enqueue loop
        acknowledged += child.kill()

    assert len(acknowledged) > 100, "the child barely ran; the test proves little"
    seqs = [seq for _, seq in acknowledged]
    assert seqs == sorted(set(seqs)), "a sequence number was repeated or went back"
    with SealedQueue(path, central.public_key()) as queue:
        rows = queue.rows()
        counts = queue.counts()
        batch = queue.take_batch(500)
    stored = {row.id: row.seq for row in rows}
    missing = [(i, s) for i, s in acknowledged if stored.get(i) != s]
    assert missing == [], f"{len(missing)} acknowledged event(s) lost"
    assert len({row.seq for row in rows}) == len(rows)
    assert len(stored) == len(rows)
    # at most one event per kill was stored without being acknowledged
    assert len(rows) - len(acknowledged) <= ROUNDS
    assert counts.inflight == 0 and all(row.state == EventState.PENDING for row in rows)
    # and the backlog still opens at central after all those crashes
    assert all(central_open(batch, e, central)["name"] == "Visitor" for e in batch.events)

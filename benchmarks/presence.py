"""The presence pipeline's cost per advertisement (parse, filter, pseudonymise, smooth).

Target (DESIGN.md): at most 20 µs per advertisement, so a Raspberry Pi 4 keeps up with a
busy lobby. The stream is made up front (not timed) and looks like a busy floor:

- 70 % phones, laptops and earbuds with random addresses that change every few minutes,
  carrying non-beacon manufacturer data (Apple "nearby", Microsoft, Samsung);
- 20 % iBeacons (a quarter of them registered tags);
- 5 % Eddystone (UID frames, some registered, and TLM frames);
- 5 % malformed beacon frames (truncated iBeacon and Eddystone-UID).

About 600 devices are in range at a time, each heard roughly once a second, so the
pipeline's state, address rotation and pruning all work as in real life::

    .venv/bin/python -m benchmarks.presence             # N=200,000, best of 5 rounds
    .venv/bin/python -m benchmarks.presence --n 50000 --rounds 3

The last line is ``presence: X.X µs per advertisement (target <= 20)``.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import uuid

from presence.beacons import APPLE, EDDYSTONE_UUID
from presence.config import PresenceSettings
from presence.pipeline import PresencePipeline
from presence.pseudonym import Pseudonymiser
from presence.types import RawAdvertisement

TARGET_US = 20.0
RATE = 600.0  # advertisements per second across the floor


def _mac(rng: random.Random) -> str:
    first = rng.randrange(256) | 0xC0  # a random static / private address
    return ":".join(f"{b:02X}" for b in [first, *rng.randbytes(5)])


def _ibeacon(ident: uuid.UUID, major: int, minor: int) -> bytes:
    return b"\x02\x15" + ident.bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big") + b"\xc5"


def make_stream(n: int, seed: int = 7) -> tuple[list[RawAdvertisement], frozenset[str]]:
    """``n`` advertisements and the registered tag keys among them."""
    rng = random.Random(seed)
    site = uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e")
    other = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")
    ibeacons = [(_mac(rng), site if i < 30 else other, 1, i) for i in range(120)]
    tags = {f"ibeacon:{site}:1:{i}" for i in range(30)}
    namespace = bytes.fromhex("edd1ebeac04e5defa017")
    eddystones = [(_mac(rng), rng.randbytes(6)) for i in range(30)]
    tags |= {f"eddystone:{namespace.hex()}:{inst.hex()}" for _, inst in eddystones[:10]}
    phones = [(_mac(rng), 0.0) for _ in range(420)]
    vendors = [
        (APPLE, bytes([0x10, 0x05]) + b"\x00\x00\x00\x00"),
        (APPLE, bytes([0x12, 0x02, 0x00, 0x00])),
        (0x0006, bytes([0x01, 0x09, 0x20, 0x02]) + b"\x00" * 23),
        (0x0075, bytes([0x42, 0x04, 0x01, 0x80]) + b"\x00" * 10),
    ]
    stream: list[RawAdvertisement] = []
    at = 1000.0
    for _ in range(n):
        at += rng.expovariate(RATE)
        rssi = int(rng.gauss(-78, 9))
        roll = rng.random()
        if roll < 0.70:
            which = rng.randrange(len(phones))
            mac, since = phones[which]
            if at - since > 600 and rng.random() < 0.01:  # address rotation
                mac = _mac(rng)
                phones[which] = (mac, at)
            company, data = vendors[int(mac[-2:], 16) % len(vendors)]
            data = data[:2] + rng.randbytes(len(data) - 2) if company == APPLE else data
            stream.append(RawAdvertisement(mac, rssi, {company: data}, {}, at))
        elif roll < 0.90:
            mac, ident, major, minor = ibeacons[rng.randrange(len(ibeacons))]
            frame = _ibeacon(ident, major, minor)
            stream.append(RawAdvertisement(mac, rssi, {APPLE: frame}, {}, at))
        elif roll < 0.95:
            mac, instance = eddystones[rng.randrange(len(eddystones))]
            if rng.random() < 0.8:
                frame = b"\x00\xee" + namespace + instance + b"\x00\x00"
            else:
                frame = b"\x20\x00" + rng.randbytes(12)  # TLM: counted, not identified
            stream.append(RawAdvertisement(mac, rssi, {}, {EDDYSTONE_UUID: frame}, at))
        else:
            mac = _mac(rng)
            if rng.random() < 0.5:
                good = _ibeacon(other, 9, rng.randrange(65536))
                stream.append(
                    RawAdvertisement(mac, rssi, {APPLE: good[: rng.randrange(2, 22)]}, {}, at)
                )
            else:
                frame = (b"\x00\xee" + namespace + rng.randbytes(6))[: rng.randrange(1, 17)]
                stream.append(RawAdvertisement(mac, rssi, {}, {EDDYSTONE_UUID: frame}, at))
    return stream, frozenset(tags)


def run(stream: list[RawAdvertisement], tags: frozenset[str]) -> tuple[float, PresencePipeline]:
    """Seconds to feed the whole stream through a fresh pipeline, and the pipeline."""
    clock_now = [stream[0].at]
    pipeline = PresencePipeline(
        PresenceSettings(room="lobby-main", tags=tags),
        Pseudonymiser(lambda: clock_now[0]),
        lambda: clock_now[0],
    )
    feed = pipeline.feed
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for adv in stream:
            feed(adv)
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    clock_now[0] = stream[-1].at
    counters = pipeline.counters
    assert counters.advertisements == len(stream)
    assert counters.malformed > 0 and counters.registered > 0
    return elapsed, pipeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="advertisements per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts")
    args = parser.parse_args(argv)
    stream, tags = make_stream(args.n)
    times = []
    for number in range(1, args.rounds + 1):
        elapsed, pipeline = run(stream, tags)
        times.append(elapsed)
        print(f"round {number}: {elapsed * 1e6 / args.n:.2f} µs per advertisement")
    c = pipeline.counters
    print(
        f"stream: {args.n} advertisements over {stream[-1].at - stream[0].at:.0f} s, "
        f"{len(tags)} registered tags; registered {c.registered}, anonymous {c.anonymous}, "
        f"malformed {c.malformed}; {pipeline.tracked} sources held at the end"
    )
    best = min(times) * 1e6 / args.n
    print(f"presence: {best:.1f} µs per advertisement (target <= {TARGET_US:g})")


if __name__ == "__main__":
    main()

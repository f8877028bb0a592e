"""The pipeline: tags by key, everyone else by pseudonym, counters, readings, privacy."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presence.beacons import APPLE, EDDYSTONE_UUID
from presence.config import PresenceSettings
from presence.interface import Occupancy, OccupancyReading, OccupancySource
from presence.pipeline import SILENT_SECONDS, PresencePipeline
from presence.pseudonym import DAY, Pseudonymiser
from presence.samples import PresenceSamples
from presence.types import RawAdvertisement
from tapin.demo.clock import ManualClock

SITE = uuid.UUID("f7826da6-4fa2-4e98-8024-bc5b71e0893e")
TAG = f"ibeacon:{SITE}:1:7"
WALL = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
MACS = ["C4:7A:11:22:33:44", "F0:99:B6:01:02:03", "D8:3A:DD:AA:BB:CC", "E2:11:22:33:44:55"]


def ibeacon(minor: int = 7) -> dict[int, bytes]:
    return {APPLE: b"\x02\x15" + SITE.bytes + b"\x00\x01" + minor.to_bytes(2, "big") + b"\xc5"}


def make(clock: ManualClock[float], **changes: object) -> PresencePipeline:
    base: dict[str, object] = {"room": "aurora", "tags": frozenset({TAG})}
    base.update(changes)
    return PresencePipeline(
        PresenceSettings(**base),  # type: ignore[arg-type]
        Pseudonymiser(clock),
        clock,
        wall=lambda: WALL + timedelta(seconds=clock.now - 1000.0),
    )


def adv(clock: ManualClock[float], mac: str, rssi: int = -60, **data: object) -> RawAdvertisement:
    return RawAdvertisement(mac, rssi, at=clock.now, **data)  # type: ignore[arg-type]


def test_it_is_an_occupancy_source() -> None:
    source: OccupancySource = make(ManualClock(1000.0))
    assert source.reading("aurora") == OccupancyReading()  # never heard anything: unknown


def test_a_registered_tag_is_identified_by_its_key_not_its_mac() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    p.feed(adv(clock, MACS[0], manufacturer_data=ibeacon()))
    p.feed(adv(clock, MACS[1], manufacturer_data=ibeacon()))  # the tag changed its address
    assert p.counters.registered == 2 and p.counters.anonymous == 0
    assert p.tracked == 1 and p.present_tags() == [TAG]
    reading = p.reading("aurora")
    assert reading.state is Occupancy.OCCUPIED and reading.count_band == "1-2"
    assert reading.since == WALL and 0.5 < reading.confidence <= 1.0


def test_unregistered_beacons_and_phones_are_only_counted() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    p.feed(adv(clock, MACS[0], manufacturer_data=ibeacon(minor=8)))  # not registered
    assert p.reading("aurora").state is Occupancy.VACANT
    p.feed(adv(clock, MACS[1], manufacturer_data={0x0006: b"\x01\x09\x20"}))
    assert p.counters.anonymous == 2 and p.counters.registered == 0
    assert p.present_tags() == []
    reading = p.reading("aurora")
    assert reading.state is Occupancy.OCCUPIED and reading.count_band == "1-2"
    names = {row.name for row in p.snapshot().sources}
    assert len(names) == 2 and all(len(n) == 8 and int(n, 16) >= 0 for n in names)


def test_malformed_frames_are_counted_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    with caplog.at_level(logging.DEBUG):
        p.feed(adv(clock, MACS[0], manufacturer_data={APPLE: b"\x02\x15\x00"}))
        p.feed(adv(clock, MACS[1], service_data={EDDYSTONE_UUID: b"\x00\x01"}))
    c = p.counters
    assert (c.advertisements, c.malformed, c.anonymous, c.registered) == (2, 2, 2, 0)
    assert "malformed ibeacon frame" in caplog.text


def test_unusable_rssi_is_ignored() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    for rssi in (127, -127, 50):
        p.feed(adv(clock, MACS[0], rssi=rssi))
    assert p.counters.ignored == 3 and p.tracked == 0


def test_other_rooms_and_a_silent_scanner_read_unknown() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    p.feed(adv(clock, MACS[0], manufacturer_data=ibeacon()))
    assert p.reading("borealis") == OccupancyReading()
    clock.now += 60
    assert p.reading("aurora").state is Occupancy.VACANT  # the tag left; scanner alive
    clock.now += SILENT_SECONDS
    assert p.reading("aurora") == OccupancyReading()
    assert p.snapshot().state is Occupancy.UNKNOWN


def test_since_is_when_the_room_became_occupied() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    p.feed(adv(clock, MACS[0], rssi=-95))
    assert p.reading("aurora").state is Occupancy.VACANT
    clock.now += 30
    p.feed(adv(clock, MACS[1], manufacturer_data=ibeacon()))
    clock.now += 5
    reading = p.reading("aurora")
    assert reading.state is Occupancy.OCCUPIED
    assert reading.since == WALL + timedelta(seconds=30)


def test_key_rotation_gives_new_pseudonyms_and_forgets_the_macs() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    clock.now += DAY - 10
    p.feed(adv(clock, MACS[0]))
    before = {row.name for row in p.snapshot().sources}
    clock.now += 10
    p.feed(adv(clock, MACS[0]))
    rows = p.snapshot().sources
    assert p.snapshot().key_epoch == 1 and p.cached_addresses == 1
    assert len(rows) == 2 and before < {row.name for row in rows}  # old entry ages out
    clock.now += 60
    p.prune()
    assert p.tracked == 0 and p.cached_addresses == 0


def test_memory_stays_flat_under_2000_rotating_addresses() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    peak_sources = peak_macs = 0
    for i in range(2000):  # a new random address every 0.5 s, heard 4 times
        for _ in range(4):
            clock.now += 0.125
            p.feed(adv(clock, f"C2:00:00:00:{i >> 8:02X}:{i & 255:02X}", rssi=-80))
        peak_sources = max(peak_sources, p.tracked)
        peak_macs = max(peak_macs, p.cached_addresses)
    assert p.counters.anonymous == 8000
    assert peak_sources <= (45 + 5) / 0.5 + 5 and peak_macs <= peak_sources
    clock.now += 60
    p.prune()
    assert p.tracked == 0 and p.cached_addresses == 0


def test_snapshot_is_sorted_and_shows_tags_by_key() -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    p.feed(adv(clock, MACS[0], rssi=-70, manufacturer_data=ibeacon()))
    p.feed(adv(clock, MACS[1], rssi=-50))
    clock.now += 2
    snap = p.snapshot()
    assert [row.kind for row in snap.sources] == ["device", "tag"]
    tag = snap.sources[1]
    assert (tag.name, tag.rssi, tag.seen_ago, tag.near) == (TAG, -70.0, 2.0, True)
    assert snap.room == "aurora" and snap.state is Occupancy.OCCUPIED
    assert snap.counters.advertisements == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(MACS),
            st.integers(-200, 200),
            st.dictionaries(st.sampled_from([APPLE, 6]), st.binary(max_size=30), max_size=2),
            st.dictionaries(
                st.sampled_from([EDDYSTONE_UUID, "x"]), st.binary(max_size=30), max_size=2
            ),
            st.floats(0, 100),
        ),
        max_size=20,
    )
)
def test_any_advertisement_is_taken_without_raising(
    stream: list[tuple[str, int, dict[int, bytes], dict[str, bytes], float]],
) -> None:
    clock = ManualClock(1000.0)
    p = make(clock)
    for mac, rssi, manufacturer, service, dt in stream:
        clock.now += dt
        p.feed(RawAdvertisement(mac, rssi, manufacturer, service, clock.now))
    c = p.counters
    assert c.advertisements == len(stream) == c.registered + c.anonymous + c.ignored
    p.reading("aurora")
    p.snapshot()


async def test_no_raw_mac_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    """Known MACs fed in never come out: not in logs, snapshots, reprs or samples."""
    clock = ManualClock(1000.0)
    p = make(clock, positioning=True)
    samples = PresenceSamples(p, {"aurora": "room:aurora"}, positioning=True)
    sent: list[object] = []

    class Queue:
        async def enqueue(self, *args: object, **kwargs: object) -> None:
            sent.append((args, kwargs))

    with caplog.at_level(logging.DEBUG):
        for minute in range(20):
            for i, mac in enumerate(MACS):
                data = ibeacon() if i == 0 else {APPLE: b"\x02\x15\x01"} if i == 1 else {}
                p.feed(adv(clock, mac, manufacturer_data=data))
            samples.tick(WALL + timedelta(minutes=minute))
            clock.now += DAY / 10 if minute == 10 else 60  # one key rotation on the way
        await samples.flush(Queue(), WALL + timedelta(minutes=30))
    assert sent
    outputs = [
        caplog.text,
        *(repr(r.msg) + repr(r.args) for r in caplog.records),
        repr(p.snapshot()),
        repr(p),
        repr(p.counters),
        repr(p.reading("aurora")),
        repr(sent),
        repr(samples.pending),
        repr(RawAdvertisement(MACS[0], -60)),
        str(p.present_tags()),
    ]
    for mac in MACS:
        forms = {
            mac,
            mac.lower(),
            mac.replace(":", ""),
            mac.replace(":", "").lower(),
            mac.replace(":", "-"),
        }
        for text in outputs:
            for form in forms:
                assert form not in text

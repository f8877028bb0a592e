"""Smoothing, hysteresis, away timeout, minimum counts, bands, confidence, pruning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from presence.config import PresenceSettings
from presence.interface import Occupancy
from presence.occupancy import BANDS, OccupancyEstimator, count_band
from tapin.config import Config, ConfigError, load_config

# central/appliers/presence.py accepts count_band values matching this:
CENTRAL_BAND = re.compile(r"^(0|[1-9][0-9]{0,3}(-[1-9][0-9]{0,3}|\+)?)$")


@pytest.mark.parametrize(
    ("count", "band"),
    [
        (0, "0"),
        (1, "1-2"),
        (2, "1-2"),
        (3, "3-5"),
        (5, "3-5"),
        (6, "6-9"),
        (9, "6-9"),
        (10, "10+"),
        (500, "10+"),
    ],
)
def test_count_bands(count: int, band: str) -> None:
    assert count_band(count) == band


def test_every_band_is_accepted_by_central() -> None:
    assert all(CENTRAL_BAND.match(band) for band in BANDS)


def test_defaults_and_validation() -> None:
    s = PresenceSettings()
    assert (s.enter_dbm, s.exit_dbm, s.away_seconds, s.min_tags, s.min_devices) == (
        -75,
        -85,
        45,
        1,
        2,
    )
    assert s.smoothing == 0.3 and s.sample_minutes == 15 and not s.positioning and not s.tags
    for bad in (
        {"enter_dbm": -90, "exit_dbm": -80},
        {"smoothing": 0.0},
        {"smoothing": 1.5},
        {"away_seconds": 29},
        {"min_devices": 0},
        {"sample_minutes": 7},
        {"sample_minutes": 120},
    ):
        with pytest.raises(ValueError):
            PresenceSettings(**bad)


def estimator(**changes: object) -> OccupancyEstimator:
    return OccupancyEstimator(PresenceSettings(**changes))  # type: ignore[arg-type]


def test_ewma_smoothing() -> None:
    e = estimator(smoothing=0.5)
    e.see(e.devices, "a", -60, 1.0)
    e.see(e.devices, "a", -80, 2.0)
    assert e.devices["a"][0] == pytest.approx(-70.0)
    e.see(e.devices, "a", -80, 3.0)
    assert e.devices["a"][0] == pytest.approx(-75.0)


def test_hysteresis_between_enter_and_exit() -> None:
    e = estimator(smoothing=1.0, min_devices=1)  # no smoothing: the thresholds alone
    e.see(e.devices, "a", -80, 1.0)  # between exit and enter, new: not near
    assert e.estimate(1.0).state is Occupancy.VACANT
    e.see(e.devices, "a", -75, 2.0)  # reaches enter
    assert e.estimate(2.0).state is Occupancy.OCCUPIED
    e.see(e.devices, "a", -84, 3.0)  # below enter, above exit: stays near
    assert e.estimate(3.0).state is Occupancy.OCCUPIED
    e.see(e.devices, "a", -86, 4.0)  # below exit: leaves
    assert e.estimate(4.0).state is Occupancy.VACANT
    e.see(e.devices, "a", -80, 5.0)  # back between: stays out
    assert e.estimate(5.0).state is Occupancy.VACANT


def test_smoothing_ignores_one_weak_reading() -> None:
    e = estimator(min_devices=1)
    for t in range(5):
        e.see(e.devices, "a", -65, float(t))
    e.see(e.devices, "a", -95, 5.0)  # a body in the way, once
    assert e.estimate(5.0).state is Occupancy.OCCUPIED


def test_away_timeout() -> None:
    e = estimator(min_devices=1, away_seconds=45)
    e.see(e.devices, "a", -60, 100.0)
    assert e.estimate(144.0).state is Occupancy.OCCUPIED  # BlueZ idles ~5 s between scans
    assert e.estimate(146.0).state is Occupancy.VACANT


def test_minimum_counts_one_tag_or_two_devices() -> None:
    e = estimator()
    e.see(e.devices, "a", -60, 1.0)
    assert e.estimate(1.0).state is Occupancy.VACANT
    e.see(e.devices, "b", -60, 1.0)
    first = e.estimate(1.0)
    assert first.state is Occupancy.OCCUPIED and first.devices == 2 and first.band == "1-2"
    e2 = estimator()
    e2.see(e2.tags, "ibeacon:x", -70, 1.0)
    assert e2.estimate(1.0).state is Occupancy.OCCUPIED
    assert e2.near_tags(1.0) == ["ibeacon:x"]


def test_confidence_grows_with_sources_and_fades_with_age() -> None:
    e = estimator()
    empty = e.estimate(0.0)
    assert empty.state is Occupancy.VACANT and empty.confidence == pytest.approx(0.9)
    e.see(e.devices, "a", -60, 0.0)
    one = e.estimate(0.0)
    assert one.state is Occupancy.VACANT and one.confidence < empty.confidence
    e.see(e.devices, "b", -60, 0.0)
    two = e.estimate(0.0)
    assert two.state is Occupancy.OCCUPIED and two.confidence == pytest.approx(0.75)
    for name in "cdefgh":
        e.see(e.devices, name, -60, 0.0)
    assert e.estimate(0.0).confidence == 1.0
    e3 = estimator()
    e3.see(e3.devices, "a", -60, 0.0)
    e3.see(e3.devices, "b", -60, 0.0)
    assert 0.5 <= e3.estimate(40.0).confidence < two.confidence
    assert all(0.0 <= x.confidence <= 1.0 for x in (empty, one, two))


def test_since_moves_only_when_the_state_changes() -> None:
    e = estimator(min_devices=1)
    assert e.estimate(10.0).since == 10.0
    assert e.estimate(20.0).since == 10.0
    e.see(e.devices, "a", -60, 30.0)
    assert e.estimate(30.0).since == 30.0
    assert e.estimate(40.0).since == 30.0


def test_prune_keeps_memory_flat_under_rotating_addresses() -> None:
    e = estimator(away_seconds=45)
    peak = 0
    for i in range(2000):  # a new address every 0.5 s, each heard 3 times
        now = i * 0.5
        for k in range(3):
            e.see(e.devices, f"p{i}", -70, now + k)
        if i % 10 == 0:
            e.prune(now)
        peak = max(peak, len(e))
    assert peak <= (45 + 2 + 5) / 0.5 + 5  # away window + last repeat + prune lag
    e.prune(2000 * 0.5 + 100)
    assert len(e) == 0


CONFIG = """
[device]
role = "{role}"
room = "aurora"
lobby = "lobby-main"

[site]
timezone = "Europe/Stockholm"

[paths]
state_dir = "{state}"

[presence]
{presence}
"""


def load(tmp_path: Path, presence: str, role: str = "panel") -> Config:
    path = tmp_path / "tapin.toml"
    path.write_text(CONFIG.format(role=role, state=tmp_path, presence=presence), encoding="utf-8")
    return load_config(path)


def test_config_presence_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'tags = ["IBEACON:F7826DA6-4FA2-4E98-8024-BC5B71E0893E:1:7"]\n'
        "positioning = true\nenter_dbm = -70\nexit_dbm = -80\nsmoothing = 0.5\n"
        "away_seconds = 60\nmin_tags = 1\nmin_devices = 3\nsample_minutes = 30\n",
    )
    p = config.presence
    assert p.room == "aurora" and p.positioning and p.min_devices == 3
    assert p.tags == frozenset({"ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"})
    assert (p.enter_dbm, p.exit_dbm, p.smoothing, p.away_seconds, p.sample_minutes) == (
        -70,
        -80,
        0.5,
        60,
        30,
    )
    assert load(tmp_path, "", role="kiosk").presence.room == "lobby-main"
    assert load(tmp_path, "").presence == PresenceSettings(room="aurora")


@pytest.mark.parametrize(
    ("presence", "key", "words"),
    [
        ('tags = ["aa:bb:cc:dd:ee:ff"]', "presence.tags", "not a tag key"),
        ('tags = "ibeacon:x"', "presence.tags", "must be a list"),
        ("enter_dbm = -90", "presence.exit_dbm", "at most enter_dbm"),
        ("away_seconds = 10", "presence.away_seconds", "from 30"),
        ("smoothing = 0", "presence.smoothing", "above 0"),
        ("sample_minutes = 7", "presence.sample_minutes", "divide an hour"),
        ("positioning = 1", "presence.positioning", "true or false"),
        ("enter = -70", "presence.enter", "unknown key"),
    ],
)
def test_config_presence_mistakes_name_the_key(
    tmp_path: Path, presence: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, presence)
    assert caught.value.key == key and words in caught.value.problem

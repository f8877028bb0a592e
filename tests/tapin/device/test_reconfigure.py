"""The ``reconfigure`` command's file work: merged, checked like ``tapin config check``,
written atomically with the file's permissions; refused (file untouched) saying why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapin.config import load_config
from tapin.device.adminpin import hash_pin
from tapin.device.reconfigure import Refusal, apply_config

RICH = """\
[device]
role = "panel"
room = "aurora"

[site]
timezone = "Europe/Stockholm"
locale = "sv_SE"

[paths]
state_dir = "{state}"

[admin]
pin_hash = "{pin}"

[screen]
office_hours = "07:00-19:00"
dim_level = 30
sleep_outside_hours = true

[presence]
scan = true
tags = ["ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7"]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tapin.toml"
    path.write_text(RICH.format(state=tmp_path / "state", pin=hash_pin("2468")))
    os.chmod(path, 0o640)
    return path


def test_a_good_change_is_written_and_everything_else_kept(config_file: Path) -> None:
    before = load_config(config_file)
    assert apply_config(
        config_file, {"screen": {"dim_level": 55, "sleep_outside_hours": None}, "site": {}}
    )
    after = load_config(config_file)
    assert after.screen.dim_level == 55
    assert after.screen.sleep_outside_hours is True  # removed: back to its default
    assert "sleep_outside_hours" not in config_file.read_text()
    assert (after.room, after.locale, after.admin_pin_hash) == (
        before.room,
        before.locale,
        before.admin_pin_hash,
    )
    assert after.presence.tags == before.presence.tags and after.presence.scan
    assert os.stat(config_file).st_mode & 0o777 == 0o640
    assert not apply_config(config_file, {"screen": {"dim_level": 55}})  # nothing to change
    assert [p.name for p in config_file.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"screen": {"dim_level": 500}}, "screen.dim_level"),
        ({"screen": {"dimlevel": 5}}, "screen.dimlevel: unknown key"),
        ({"sreen": {"dim_level": 5}}, "sreen: unknown section"),
        ({"device": {"room": "skog"}}, "[device] is set at enrollment"),
        ({"paths": {"state_dir": "/tmp/elsewhere"}}, "[paths]"),
        ({"central": {"url": "https://evil.example"}}, "[central]"),
        ({"screen": {"dim_level": {"nested": 1}}}, "screen.dim_level"),
        ({"screen": {"dim_level": float("inf")}}, "finite"),
        ({"screen": 5}, "config.screen"),
        ({}, "reconfigure needs"),
        ("dim_level=5", "reconfigure needs"),
    ],
)
def test_a_bad_change_is_refused_naming_it_and_the_file_is_untouched(
    config_file: Path, changes: object, says: str
) -> None:
    before = config_file.read_bytes()
    with pytest.raises(Refusal) as refused:
        apply_config(config_file, changes)
    assert says in str(refused.value)
    assert ".check" not in str(refused.value)  # names the real file, not the trial copy
    assert config_file.read_bytes() == before
    assert sorted(p.name for p in config_file.parent.iterdir()) == ["tapin.toml"]


def test_the_files_comments_and_layout_are_kept(config_file: Path) -> None:
    """A technician's notes in the file survive a remote change; only the key changes."""
    text = (
        config_file.read_text()
        .replace("[screen]\n", "# set by the facilities team, ticket 4711\n[screen]\n")
        .replace("dim_level = 30", "dim_level = 30  # the lobby is bright")
    )
    config_file.write_text(text)
    assert apply_config(config_file, {"screen": {"office_hours": "06:00-20:00"}, "ui": {}})
    after = config_file.read_text()
    assert "# set by the facilities team, ticket 4711\n[screen]\n" in after
    assert "dim_level = 30  # the lobby is bright" in after
    assert 'office_hours = "06:00-20:00"' in after
    assert after.replace('"06:00-20:00"', '"07:00-19:00"') == text
    assert load_config(config_file).screen.dim_level == 30

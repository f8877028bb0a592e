"""The configuration file: valid files load, every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapin.config import ConfigError, load_config

GOOD = """
[device]
role = "panel"
room = "aurora"

[site]
timezone = "Europe/Stockholm"
locale = "sv_SE"

[central]
url = "https://central.example.org/"

[paths]
state_dir = "{state}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tapin.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.format(state=tmp_path)))
    assert config.role == "panel" and config.room == "aurora"
    assert config.timezone.key == "Europe/Stockholm"
    assert config.locale == "sv_SE" and config.uses_24h_clock
    assert config.central_url == "https://central.example.org"
    assert config.state_dir == tmp_path


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('role = "panel"', 'role = "pannel"'), "device.role", "must be one of panel, kiosk"),
        (
            ('timezone = "Europe/Stockholm"', 'timezone = "Mars/Olympus"'),
            "site.timezone",
            "unknown time zone",
        ),
        (('locale = "sv_SE"', 'locale = "klingon"'), "site.locale", "must be one of"),
        (
            ('url = "https://central.example.org/"', 'url = "http://central.example.org"'),
            "central.url",
            "https",
        ),
        (('room = "aurora"', 'room = "../etc"'), "device.room", "letters, digits"),
        (('room = "aurora"', "room = 12"), "device.room", "non-empty string"),
        (('room = "aurora"', 'rom = "aurora"'), "device.rom", "unknown key"),
        (("[paths]", "[path]"), "path", "unknown section"),
        (('room = "aurora"', ""), "device.room", "required when device.role is 'panel'"),
    ],
)
def test_each_mistake_names_file_and_key(tmp_path: Path, change, key, words) -> None:
    path = write(tmp_path, GOOD.format(state=tmp_path).replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD.format(state=tmp_path).replace('timezone = "Europe/Stockholm"', "")
    with pytest.raises(ConfigError, match=r"site\.timezone: is required"):
        load_config(write(tmp_path, text))


def test_toml_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[device]\nrole = "panel\n')
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(path)


def test_missing_binary_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 70_000)
    with pytest.raises(ConfigError, match="too large"):
        load_config(huge)


def test_ca_file_must_exist(tmp_path: Path) -> None:
    text = GOOD.format(state=tmp_path) + ""
    text = text.replace("[paths]", 'ca_file = "/nonexistent/ca.pem"\n\n[paths]')
    with pytest.raises(ConfigError, match=r"central\.ca_file: no such file"):
        load_config(write(tmp_path, text))


def test_kiosk_needs_a_lobby(tmp_path: Path) -> None:
    text = GOOD.format(state=tmp_path).replace('role = "panel"', 'role = "kiosk"')
    with pytest.raises(ConfigError, match=r"device\.lobby: is required"):
        load_config(write(tmp_path, text))
    config = load_config(write(tmp_path, text.replace('room = "aurora"', 'lobby = "main"')))
    assert config.role == "kiosk" and config.lobby == "main"


def test_the_colour_mode(tmp_path: Path) -> None:
    good = GOOD.format(state=tmp_path)
    assert load_config(write(tmp_path, good)).screen.colour == "card"
    full = load_config(write(tmp_path, good + '\n[screen]\ncolour = "full"\n'))
    assert full.screen.colour == "full"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, good + '\n[screen]\ncolour = "rainbow"\n'))
    assert caught.value.key == "screen.colour" and "must be one of card, full" in str(caught.value)


def test_a_kiosk_names_its_badge_printer(tmp_path: Path) -> None:
    """[printer] is read and checked with the file; the kiosk gets that printer (no
    table: no printer, so no badge and the sign-in goes on)."""
    from kiosk.launch import default_extras
    from tapin.device.runtime import empty_runtime
    from tapin.hardware.printer import CupsPrinter

    kiosk = (
        GOOD.format(state=tmp_path)
        .replace('role = "panel"', 'role = "kiosk"')
        .replace('room = "aurora"', 'lobby = "main"')
    )
    plain = load_config(write(tmp_path, kiosk))
    assert "printer" not in default_extras(empty_runtime(plain))
    cups = '\n[printer]\nkind = "cups"\nqueue = "QL-800"\nserver = "localhost:631"\n'
    config = load_config(write(tmp_path, kiosk + cups))
    printer = default_extras(empty_runtime(config))["printer"]
    assert isinstance(printer, CupsPrinter) and printer.queue == "QL-800"
    for table, key, words in (
        ('kind = "cups"\n', "printer.queue", 'is required when printer.kind is "cups"'),
        ('kind = "laser"\n', "printer.kind", "must be one of none, cups, simulated"),
        ('kind = "cups"\nqueue = "a b"\n', "printer.queue", "must be a CUPS queue name"),
        ('colour = "red"\n', "printer.colour", "unknown key"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, kiosk + "\n[printer]\n" + table))
        assert caught.value.key == key and words in str(caught.value), str(caught.value)

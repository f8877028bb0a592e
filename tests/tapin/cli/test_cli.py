"""The command line as a technician uses it: help everywhere, clean errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tapin.cli import build_parser


def tapin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapin", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _all_commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(parser, prefix: list[str]) -> None:
        for action in parser._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_top_level_help_lists_every_subcommand_with_help() -> None:
    result = tapin("--help")
    assert result.returncode == 0
    for name in ("panel", "config"):
        line = next(row for row in result.stdout.splitlines() if row.strip().startswith(name + " "))
        assert len(line.split()) > 2, f"{name} has no one-line help"


@pytest.mark.parametrize("command", _all_commands(), ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as done:
        parser.parse_args([*command, "--help"])
    assert done.value.code == 0


def test_every_subparser_has_a_one_line_help() -> None:
    parser = build_parser()
    for action in parser._actions:
        for choice in getattr(action, "_choices_actions", []):
            assert choice.help, f"{choice.dest} has no help"


BROKEN = '[device]\nrole = "panel"\nroom = "aurora"\ncolour = "blue"\n[site]\ntimezone = "UTC"\n'


def test_panel_with_a_broken_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN)
    result = tapin("panel", "--config", str(broken))
    assert result.returncode == 2
    assert "device.colour" in result.stderr and str(broken) in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_reports_ok_and_problems(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        f'[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "UTC"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n'
    )
    ok = tapin("config", "check", "--config", str(good), "--json")
    assert ok.returncode == 0 and '"ok": true' in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(BROKEN)
    result = tapin("config", "check", "--config", str(bad))
    assert result.returncode == 2 and "device.colour: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_values_are_usage_errors() -> None:
    result = tapin("panel", "--demo", "--size", "huge")
    assert result.returncode == 2 and "WIDTHxHEIGHT" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_demo_room_is_named(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = tapin("panel", "--demo", "--room", "nowhere", env=env)
    assert result.returncode == 2
    assert "no room 'nowhere'" in result.stderr and "aurora" in result.stderr


def test_config_check_reports_admin_screen_and_presence(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        f'[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "UTC"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n[screen]\noffice_hours = "08:00-17:30"\n'
        f"[presence]\nscan = true\n"
    )
    result = tapin("config", "check", "--config", str(good))
    assert result.returncode == 0
    assert "admin_pin: not set (admin screen disabled)" in result.stdout
    assert "office_hours: 08:00-17:30" in result.stdout and "presence_scan: True" in result.stdout


SERVER_STACK = ("psycopg", "psycopg_pool", "starlette", "uvicorn")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_device_commands_never_load_the_server_stack(tmp_path: Path) -> None:
    """A device installs no psycopg/starlette/uvicorn; its commands must not need them."""
    config = tmp_path / "tapin.toml"
    config.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "UTC"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n'
    )
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in SERVER_STACK)
    result = _python(
        f"import sys; {blocked}\n"
        "from tapin.cli import main\n"
        f"code = main(['config', 'check', '--config', {str(config)!r}])\n"
        "code += main(['queue', '--config', " + repr(str(config)) + "])\n"
        "sys.exit(code)"
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "the queue is empty" in result.stdout


def test_central_without_its_extra_says_how_to_install_it() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in SERVER_STACK)
    result = _python(
        f"import sys; {blocked}\n"
        "from tapin.cli import main\n"
        "sys.exit(main(['central', 'init-db', '--dsn', 'dbname=x', '--key-file', '/nonexistent']))"
    )
    assert result.returncode == 2
    assert "pip install 'tapin[central]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_table_is_the_parser() -> None:
    """Every row of the table is a command with its own help, and runs a real function."""
    import importlib

    from tapin.cli import COMMANDS

    parser = build_parser()
    for row in COMMANDS:
        args = parser.parse_args([*row.name.split(), *_required(row)])
        assert args.command_row is row
        module, _, name = row.run.partition(":")
        assert callable(getattr(importlib.import_module(module), name))


def _required(row: object) -> list[str]:
    values = []
    for arg in row.args:  # type: ignore[attr-defined]
        if arg.options.get("required"):
            values += [arg.flags[0], "x"]
    return values


def test_not_enrolled_is_a_clear_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "tapin.toml"
    config.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "UTC"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n'
    )
    result = tapin("status", "--config", str(config))
    assert result.returncode == 2
    assert "tapin: error:" in result.stderr and "Traceback" not in result.stderr

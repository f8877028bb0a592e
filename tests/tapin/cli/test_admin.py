"""``tapin admin hash-pin``: the PIN line for the configuration, never the PIN itself."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tapin.cli import main
from tapin.device.adminpin import PinGuard

# tapin admin hash-pin ------------------------------------------------------------------


def test_help() -> None:
    for argv in (["admin", "--help"], ["admin", "hash-pin", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0


def test_hash_pin_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("8642\n"))
    assert main(["admin", "hash-pin"]) == 0
    out, err = capsys.readouterr()
    line = out.strip()
    assert line.startswith('pin_hash = "scrypt$16384$8$1$') and line.endswith('"')
    stored = line.split('"')[1]
    assert PinGuard(stored, Path("/nonexistent/x.json")).check("8642")
    assert "8642" not in out + err


def test_hash_pin_refuses_a_bad_pin(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("12ab\n"))
    assert main(["admin", "hash-pin"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "digits 0-9 only" in err and "12ab" not in err


def test_an_easy_pin_is_hashed_with_a_warning(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from tapin.cli.admin import easy_to_guess

    assert easy_to_guess("1234") and easy_to_guess("0000") and easy_to_guess("7654")
    assert easy_to_guess("8901")  # wraps around
    assert not easy_to_guess("2468") and not easy_to_guess("204816")
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert main(["admin", "hash-pin"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("pin_hash = ") and "easy to guess" in err and "1234" not in out + err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_pin_is_asked_twice_without_echo() -> None:
    from tapin.cli.admin import _read_pin

    answers = iter(["5555", "5555"])
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    assert _read_pin(Terminal(), getpass) == "5555"
    assert len(prompts) == 2
    answers = iter(["5555", "5556"])
    with pytest.raises(ValueError, match="differ"):
        _read_pin(Terminal(), getpass)

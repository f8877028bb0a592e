"""``tapin central admin create|list`` against a real database."""

from __future__ import annotations

import io

import pytest

from central.cli import main
from central.migrate import init_db
from tests.central.portal.conftest import PASSWORD


def test_admin_create_and_list(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    init_db(pg_dsn)
    base = ["--dsn", pg_dsn]

    def create(password: str, *args: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        return main(["admin", "create", *base, *args])

    assert main(["admin", "list", *base]) == 0
    assert "no administrators yet" in capsys.readouterr().out
    assert create("short", "--email", "boss@example.com") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at least 12 characters" in err and "Traceback" not in err
    assert create("password1234567", "--email", "boss@example.com") == 1
    assert "too common" in capsys.readouterr().err
    assert create("boss-is-the-boss-here", "--email", "boss@example.com") == 1
    assert "email name" in capsys.readouterr().err
    assert create(PASSWORD, "--email", "boss@example.com") == 0
    out = capsys.readouterr().out
    assert "admin 1 created: global at every site" in out and "TOTP" in out
    assert create(PASSWORD, "--email", "Boss@Example.com") == 1
    assert "exists already" in capsys.readouterr().err
    assert create(PASSWORD, "--email", "desk@example.com", "--role", "receptionist") == 1
    assert "--site is needed" in capsys.readouterr().err
    assert (
        create(
            PASSWORD, "--email", "desk@example.com", "--role", "receptionist", "--site", "nowhere"
        )
        == 1
    )
    assert "no site 'nowhere'" in capsys.readouterr().err
    assert create("", "--email", "x@example.com") == 1
    assert "no password" in capsys.readouterr().err
    assert main(["admin", "list", *base]) == 0
    out = capsys.readouterr().out
    assert "1\tboss@example.com\tglobal\tTOTP at first sign-in" in out
    assert PASSWORD not in out

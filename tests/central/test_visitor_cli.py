"""The visitor commands against a real database: ``invite``, ``onsite``, ``forget`` by
email, ``terms`` and ``visitor-settings`` — exit statuses and one-line messages."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from central.cli import main


def _sql(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def test_invite_onsite_and_forget_commands(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "central.pem"
    base = ["--dsn", pg_dsn]
    assert main(["init-db", *base, "--key-file", str(key)]) == 0
    assert main(["seed", "--demo", *base]) == 0
    assert "2 visitor invites today" in capsys.readouterr().out
    invite = ["invite", *base, "--key-file", str(key), "--site", "nordlys-sthlm"]
    person = ["--name", "Ada Lovelace", "--email", "ada@analytical.example"]

    assert main([*invite, *person, "--host", "p-bjorn", "--company", "Analytical"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("inv-") and "queued" in err
    assert main([*invite, "--name", "X", "--email", "not-an-email", "--host", "p-bjorn"]) == 1
    assert "not an email address" in capsys.readouterr().err
    assert main([*invite, *person, "--host", "p-nobody"]) == 1
    assert "no person" in capsys.readouterr().err
    assert main([*invite, *person, "--host", "p-bjorn", "--day", "2020-01-01"]) == 1
    assert "the day must be" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_day:
        main([*invite, *person, "--host", "p-bjorn", "--day", "tomorrow"])
    assert bad_day.value.code == 2
    assert "not a date" in capsys.readouterr().err

    assert main(["onsite", *base]) == 0
    assert "no visitors" in capsys.readouterr().out
    _sql(
        pg_dsn,
        "INSERT INTO visitor_signins (id, site_id, lobby_id, name, company, email, host_id,"
        " signed_in_at) VALUES ('v-1', 'nordlys-sthlm', 'lobby-main', 'Ada Lovelace',"
        " 'Analytical', 'ada@analytical.example', 'p-bjorn', now())",
    )
    assert main(["onsite", *base, "--site", "nordlys-sthlm", "--json"]) == 0
    [visitor] = json.loads(capsys.readouterr().out)["visitors"]
    assert (visitor["name"], visitor["company"], visitor["host_name"]) == (
        "Ada Lovelace",
        "Analytical",
        "Björn Ek",
    )
    assert main(["onsite", *base]) == 0
    assert "Ada Lovelace (Analytical)  host: Björn Ek" in capsys.readouterr().out
    assert main(["onsite", *base, "--site", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert "no site" in err and "Traceback" not in err

    assert main(["forget", *base, "ada@analytical.example"]) == 0
    assert "1 sign-ins and 1 invites deleted" in capsys.readouterr().out
    assert main(["forget", *base, "ada@analytical.example"]) == 1
    assert main(["onsite", *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"visitors": []}


def test_terms_and_visitor_settings_commands(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--dsn", pg_dsn]
    assert main(["init-db", *base, "--key-file", str(tmp_path / "k.pem")]) == 0
    assert main(["seed", "--demo", *base]) == 0
    text = tmp_path / "terms.txt"
    text.write_text("# House rules\n\nWear your badge.\n", "utf-8")
    terms = ["terms", *base, "--site", "nordlys-sthlm", "--version", "v9", "--lang", "en"]
    capsys.readouterr()
    assert main([*terms, str(text)]) == 0
    assert "published" in capsys.readouterr().out
    assert main([*terms, str(text)]) == 0
    assert "already published" in capsys.readouterr().out
    text.write_text("# House rules\n\nSomething else.\n", "utf-8")
    assert main([*terms, str(text)]) == 1
    assert "new version" in capsys.readouterr().err
    assert main([*terms, str(tmp_path / "missing.txt")]) == 1
    assert "cannot read" in capsys.readouterr().err

    site = ["visitor-settings", *base, "--site", "nordlys-sthlm"]
    assert (
        main(
            [
                *site,
                "--end-of-day",
                "17:30",
                "--reception-via",
                "teams",
                "--teams-webhook",
                "nordlys-teams",
            ]
        )
        == 0
    )
    assert main([*site, "--reception-email", "nope"]) == 1
    assert "not an email address" in capsys.readouterr().err
    assert main(["visitor-settings", *base, "--person", "p-bjorn", "--via", "slack"]) == 0
    assert main(["visitor-settings", *base, "--person", "p-nobody", "--via", "slack"]) == 1
    assert "no person" in capsys.readouterr().err
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT to_char(visitors_end_of_day, 'HH24:MI'), reception_via, teams_webhook"
            " FROM sites WHERE id = 'nordlys-sthlm'"
        ).fetchone()
        pref = conn.execute("SELECT notify_via FROM people WHERE id = 'p-bjorn'").fetchone()
    assert row == ("17:30", "teams", "nordlys-teams")
    assert pref == ("slack",)


def test_visitor_type_command_changes_what_the_kiosk_asks(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "central.pem"
    base = ["--dsn", pg_dsn]
    assert main(["init-db", *base, "--key-file", str(key)]) == 0
    assert main(["seed", "--demo", *base]) == 0
    vtype = ["visitor-type", *base, "--site", "nordlys-sthlm"]
    made = [*vtype, "--id", "auditor", "--name", "en=Auditor", "--name", "sv=Revisor"]
    assert main([*made, "--steps", "company,email,host,terms", "--signature"]) == 0
    assert "auditor" in capsys.readouterr().out

    def kinds() -> dict[str, tuple[list[str], bool]]:
        with psycopg.connect(pg_dsn) as conn:
            rows = conn.execute(
                "SELECT id, steps, signature FROM visitor_types WHERE site_id = 'nordlys-sthlm'"
            ).fetchall()
        return {r[0]: (list(r[1]), r[2]) for r in rows}

    assert kinds()["auditor"] == (["company", "email", "host", "terms"], True)
    assert set(kinds()) >= {"guest", "interview", "contractor", "delivery"}
    # mistakes: a one-line reason, exit 1, nothing changed
    for wrong, words in (
        (["--steps", "company,fax"], "steps are distinct names"),
        (["--steps", "company", "--signature"], "add 'terms' to the steps"),
    ):
        assert main([*made, *wrong]) == 1
        assert words in capsys.readouterr().err
    assert main([*vtype, "--id", "x", "--name", "Auditor"]) == 1
    assert "LANG=NAME" in capsys.readouterr().err
    assert main([*vtype, "--id", "x", "--name", "sv=Revisor"]) == 1
    assert "English name" in capsys.readouterr().err
    assert kinds()["auditor"] == (["company", "email", "host", "terms"], True)
    assert main([*vtype, "--id", "delivery", "--remove"]) == 0
    assert "delivery" not in kinds()
    assert main([*vtype, "--id", "delivery", "--remove"]) == 1
    assert "no visitor type 'delivery'" in capsys.readouterr().err

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from central.cli import add_parser, main

UNREACHABLE = "host=/nonexistent-socket-dir dbname=nothing connect_timeout=1"


def _leaves() -> dict[str, argparse.ArgumentParser]:
    """Every runnable ``central`` command, groups walked: ``{"admin create": parser, ...}``."""
    parser = argparse.ArgumentParser()
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, node: argparse.ArgumentParser) -> None:
        groups = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            found[prefix] = node
            return
        [group] = groups
        if not group.required:  # runnable itself too (``devices`` lists, ``devices remove``)
            found[prefix] = node
        helps = {choice.dest: choice.help for choice in group._choices_actions}
        assert all(helps.values()), (prefix, helps)
        for name, child in group.choices.items():
            walk(f"{prefix} {name}".strip(), child)

    walk("", add_parser(parser.add_subparsers()))
    return found


def test_every_command_has_help_and_a_dsn_option() -> None:
    leaves = _leaves()
    assert set(leaves) == {
        "init-db",
        "seed",
        "serve",
        "enroll-code",
        "revoke",
        "forget",
        "retention",
        "dev-cert",
        "invite",
        "onsite",
        "admin-token",
        "terms",
        "visitor-type",
        "visitor-settings",
        "floor-import",
        "calendar sync",
        "directory sync",
        "devices",
        "devices remove",
        "command",
        "admin create",
        "admin list",
    } | {name for name in leaves if name.startswith("desk ")}
    assert any(name.startswith("desk ") for name in leaves)
    for name, parser in leaves.items():
        text = parser.format_help()
        assert "--dsn" in text or name in ("dev-cert", "admin-token"), name
        for action in parser._actions:
            assert action.help, (name, action.dest)


@pytest.mark.parametrize(
    "argv",
    [
        ["init-db", "--key-file", "unused.pem"],
        ["seed", "--demo"],
        ["enroll-code", "--room", "r1"],
        ["revoke", "dev-x"],
        ["forget", "p-x"],
        ["forget", "ada@example.org"],
        ["onsite"],
        ["retention"],
    ],
)
def test_an_unreachable_database_exits_2_without_a_traceback(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--dsn", UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("central: cannot reach the database")
    assert "Traceback" not in err


def test_serve_refuses_bad_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    assert main(["serve", "--dsn", UNREACHABLE]) == 2
    assert "--key-file" in capsys.readouterr().err
    assert main(["serve", "--dsn", UNREACHABLE, "--key-file", str(key)]) == 2
    assert "does not exist" in capsys.readouterr().err
    key.write_text("junk")
    key.chmod(0o644)
    assert main(["serve", "--dsn", UNREACHABLE, "--key-file", str(key)]) == 2
    assert "too open" in capsys.readouterr().err
    assert main(["serve", "--dsn", UNREACHABLE, "--key-file", str(key), "--cert", "c.pem"]) == 2
    assert "--cert and --key" in capsys.readouterr().err


def test_a_missing_dsn_is_explained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAPIN_CENTRAL_DSN", raising=False)
    assert main(["revoke", "dev-x", "--dsn", ""]) == 2
    assert "TAPIN_CENTRAL_DSN" in capsys.readouterr().err


def test_operating_a_database(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tapin.demo")
    key = tmp_path / "central.pem"
    assert main(["init-db", "--dsn", pg_dsn, "--key-file", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "created" in capsys.readouterr().out
    assert main(["init-db", "--dsn", pg_dsn, "--key-file", str(key)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["serve", "--dsn", pg_dsn, "--key-file", str(key), "--key", "tls.pem"]) == 2
    capsys.readouterr()

    assert main(["seed", "--demo", "--dsn", pg_dsn]) == 0
    assert "meetings today" in capsys.readouterr().out
    assert main(["enroll-code", "--room", "aurora", "--dsn", pg_dsn]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip()) == 17
    assert "room aurora" in captured.err
    assert main(["enroll-code", "--lobby", "nowhere", "--dsn", pg_dsn]) == 1
    assert "no lobby" in capsys.readouterr().err
    assert main(["revoke", "dev-unknown", "--dsn", pg_dsn]) == 1
    assert "no device" in capsys.readouterr().err


def test_dev_cert_writes_a_ca_and_a_server_certificate(tmp_path) -> None:
    import ssl
    import subprocess
    import sys

    out = tmp_path / "pki"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapin",
            "central",
            "dev-cert",
            "--out",
            str(out),
            "--host",
            "central.local",
            "--host",
            "10.0.0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "ca.pem" in result.stdout
    context = ssl.create_default_context(cafile=str(out / "ca.pem"))
    context.load_cert_chain(out / "server.pem", out / "server.key")
    assert oct((out / "server.key").stat().st_mode & 0o777) == "0o600"
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "central.local" in names.get_values_for_type(x509.DNSName)

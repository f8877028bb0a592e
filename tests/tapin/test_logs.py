"""The log safety net masks personal data shapes, including BlueZ's device paths."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tapin.logs import RedactingFilter, redact


def test_emails_phones_and_macs_are_masked() -> None:
    text = (
        "anna@nordlys.example called +46 8 555 10 20 from 5E:11:22:33:44:01, "
        "5e-11-22-33-44-01 and /org/bluez/hci0/dev_5E_11_22_33_44_01"
    )
    cleaned = redact(text)
    assert "anna@" not in cleaned and "555" not in cleaned
    assert "5E:11" not in cleaned and "5e-11" not in cleaned and "dev_5E_11" not in cleaned
    assert cleaned.count("<mac>") == 3


def test_ids_and_times_are_left_alone() -> None:
    text = "event 01a22611-a520-7c01-8033-20b9542e701d at 09:30:00 seq 12"
    assert redact(text) == text


def test_the_filter_rewrites_records() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "seen %s", ("AA:BB:CC:DD:EE:FF",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "seen <mac>"


# what a technician reads in the journal (issue 12) ---------------------------------------

_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "


def test_the_agent_logs_causes_with_timestamps_and_no_scheduler_chatter(tmp_path: Path) -> None:
    """An enrolled agent whose central is down, for a few seconds: the drain job runs
    every 2 s (APScheduler said so twice a run at INFO), the failure is logged with its
    cause, every line starts with its time, and no personal data shows."""
    import base64
    import re
    import signal
    import subprocess
    import sys
    import time

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from sync.identity import DeviceIdentity, new_signing_key, save_identity

    state = tmp_path / "state"
    central_key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    identity = DeviceIdentity(
        device_id="dev-logs",
        token="t0ken",
        site_id="nordlys-sthlm",
        scope_kind="room",
        scope_id="aurora",
        central_url="https://127.0.0.1:9",
        central_public_key=base64.b64encode(central_key).decode(),
    )
    save_identity(state, identity, new_signing_key())
    config = tmp_path / "tapin.toml"
    config.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "Europe/Stockholm"\n'
        f'[central]\nurl = "https://127.0.0.1:9"\n[paths]\nstate_dir = "{state}"\n'
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "tapin", "agent", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=20)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "the agent logged nothing"
    assert not [line for line in lines if "apscheduler" in line], err
    assert all(re.match(_STAMP, line) for line in lines), err
    assert any("sync failed: Unreachable: central unreachable" in line for line in lines), err
    assert "@" not in err and "t0ken" not in err


def test_centrals_access_log_has_timestamps(capsys: pytest.CaptureFixture[str]) -> None:
    import logging.config
    import re

    from tapin.logs import setup_logging, uvicorn_log_config

    logging.config.dictConfig(uvicorn_log_config())
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/v1/enroll", "1.1", 201
        )
        logging.getLogger("uvicorn.error").info("Started server process [1]")
        logging.getLogger("apscheduler.executors.default").info("Running job x")
    finally:
        setup_logging("WARNING")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert re.match(_STAMP + r'uvicorn\.access: 127\.0\.0\.1:5000 "POST /v1/enroll', lines[0])
    assert re.match(_STAMP + "uvicorn.error: Started server process", lines[1])

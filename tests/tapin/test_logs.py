"""The log safety net masks personal data shapes, including BlueZ's device paths."""

from __future__ import annotations

import logging

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

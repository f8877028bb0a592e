"""A decommission whose events cannot be uploaded is not retried forever: it waits
while tries are few or recent, then goes ahead, dropping the events and saying how
many (a count, nothing of what they were). Real sealed queue, real agent, a central
address where nothing listens."""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.identity import DeviceIdentity, new_signing_key, save_identity
from tapin.config import load_config
from tapin.device import commands
from tapin.device.commands import (
    DECOMMISSION_MIN_TRIES,
    DECOMMISSION_TRIES_FILE,
    EXIT_DECOMMISSIONED,
)
from tapin.device.runtime import empty_runtime
from tapin.device.services import open_device_sync


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _enrolled(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    url = f"https://localhost:{_closed_port()}"
    central = X25519PrivateKey.generate().public_key()
    raw = central.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    identity = DeviceIdentity(
        device_id="dev-1",
        token="t",
        site_id="nordlys",
        scope_kind="room",
        scope_id="aurora",
        central_url=url,
        central_public_key=base64.b64encode(raw).decode(),
    )
    save_identity(state, identity, new_signing_key())
    path = tmp_path / "tapin.toml"
    path.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n\n[site]\ntimezone = "Europe/Stockholm"\n\n'
        f'[central]\nurl = "{url}"\n\n[paths]\nstate_dir = "{state}"\n'
    )
    return path


async def test_a_decommission_that_cannot_upload_waits_then_goes_ahead_dropping_by_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(_enrolled(tmp_path))
    sync = await open_device_sync(config, empty_runtime(config))
    state = config.state_dir
    try:
        for n in range(3):
            await sync.queue.enqueue(
                "issue.report", "room:aurora", {"report_id": f"r{n}", "category": "display"}
            )
        first = await commands._decommission(sync)
        assert first.result is None and first.exit is None  # not now: tried again later
        tries = json.loads((state / DECOMMISSION_TRIES_FILE).read_text())
        assert tries["tries"] == 1

        # many tries, but all within the last hour: still waiting
        recent = datetime.now(UTC) - timedelta(hours=1)
        (state / DECOMMISSION_TRIES_FILE).write_text(
            json.dumps({"first_try_at": recent.isoformat(), "tries": 50})
        )
        assert (await commands._decommission(sync)).result is None

        # a day of tries: it goes ahead, and says how many events it drops
        old = datetime.now(UTC) - timedelta(days=1, minutes=1)
        (state / DECOMMISSION_TRIES_FILE).write_text(
            json.dumps({"first_try_at": old.isoformat(), "tries": DECOMMISSION_MIN_TRIES})
        )
        with caplog.at_level(logging.WARNING, logger="tapin.device.commands"):
            outcome = await commands._decommission(sync)
        assert outcome.result == "done"
        assert outcome.detail is not None and "3 events dropped" in outcome.detail
        assert outcome.exit is not None and outcome.exit.status == EXIT_DECOMMISSIONED
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(dropped) == 1 and "3 events dropped" in dropped[0]
        assert "issue.report" not in dropped[0] and "r0" not in dropped[0]
    finally:
        await sync.close()
    assert outcome.exit.after_close is not None
    outcome.exit.after_close()
    assert sorted(p.name for p in state.iterdir()) == ["decommissioned"]


async def test_a_device_off_for_a_day_does_not_drop_its_queue_at_its_first_try(
    tmp_path: Path,
) -> None:
    config = load_config(_enrolled(tmp_path))
    sync = await open_device_sync(config, empty_runtime(config))
    try:
        await sync.queue.enqueue("issue.report", "room:aurora", {"report_id": "r", "category": "x"})
        old = datetime.now(UTC) - timedelta(days=3)
        (config.state_dir / DECOMMISSION_TRIES_FILE).write_text(
            json.dumps({"first_try_at": old.isoformat(), "tries": 2})
        )
        assert (await commands._decommission(sync)).result is None  # 3 tries: too few
        assert (await sync.queue.counts()).waiting == 1
    finally:
        await sync.close()

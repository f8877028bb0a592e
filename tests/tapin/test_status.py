"""``tapin status`` tells the truth, against a real central (PostgreSQL, TLS, uvicorn in
its own process) and the real ``tapin agent``: "last sync" is the last successful
exchange, unreachable / revoked / wrong room / a certificate problem are said as such,
the next retry and the clock offset are shown, and an unhealthy device exits 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.devcert import make_pki
from central.local import Device, LocalCentral, free_port, throwaway_database
from panel.notices import connection_banner
from sync.agent import SyncAgent, read_status
from sync.client import CentralClient
from sync.files import write_private
from sync.identity import load_identity
from sync.queue import AsyncSealedQueue
from tapin import i18n

_count = iter(range(1000))


@pytest.fixture(scope="module")
def central(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    """One real central for the module (each test enrolls a device of its own)."""
    with throwaway_database() as dsn:
        server = LocalCentral(dsn, tmp_path_factory.mktemp("status") / "central")
        server.prepare().start()
        try:
            yield server
        finally:
            server.stop()


def enroll(central: LocalCentral) -> Device:
    return central.enroll(f"panel-{next(_count)}", room="aurora")


def status(device: Device, *extra: str) -> tuple[int, str]:
    result = device.tapin("status", *extra, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def lines(text: str) -> dict[str, str]:
    """``tapin status``'s lines by their label."""
    found = {}
    for line in text.splitlines():
        label, _, rest = line.partition("  ")
        if label.strip():
            found[label.strip()] = rest.strip()
    return found


@pytest.mark.pg
@pytest.mark.slow
def test_last_sync_is_the_last_success_and_an_outage_is_unhealthy(
    central: LocalCentral,
) -> None:
    device = enroll(central)
    assert lines(status(device)[1])["last sync"] == "never"
    device.tapin("agent", "--once")
    code, text = status(device)
    assert code == 0, text
    shown = lines(text)
    assert shown["central"].endswith("reachable, accepts this device")
    assert shown["health"] == "healthy"
    assert shown["last sync"].startswith("20") and "ago" in shown["last sync"]
    assert shown["clock"].startswith("agrees with central's")
    good = json.loads(status(device, "--json")[1])
    assert good["healthy"] is True and good["link"] == "ok" and good["problems"] == []
    assert isinstance(good["clock_offset_seconds"], int | float)
    success = good["last_success"]
    assert success is not None

    central.stop()
    try:
        failed = device.tapin("agent", "--once", check=False)
        assert failed.returncode == 1
        code, text = status(device)
        data = json.loads(status(device, "--json")[1])
    finally:
        central.start()
    assert code == 1
    shown = lines(text)
    assert shown["central"].startswith(f"{central.url}: UNREACHABLE: nothing listens at")
    assert "connection refused" in shown["central"]
    assert shown["health"].startswith("UNHEALTHY: unreachable")
    assert "unreachable" in shown["last error"]
    assert shown["next retry"].startswith("when the agent or panel runs again")
    assert shown["clock"] == "offset unknown (central has not answered)"
    # the failure did not move "last sync": it is still the success before
    assert data["last_success"] == success
    assert data["trouble"] == "unreachable" and data["last_error_at"] > success
    assert data["next_attempt_at"] is not None
    assert data["healthy"] is False and data["link"] == "network"
    assert data["central_reachable"] is False


@pytest.mark.pg
@pytest.mark.slow
def test_a_revoked_device_says_revoked_and_the_panel_says_it_in_words(
    central: LocalCentral,
) -> None:
    device = enroll(central)
    central.central("revoke", load_identity(device.state_dir).device_id)
    assert device.tapin("agent", "--once", check=False).returncode == 1
    code, text = status(device)
    assert code == 1
    shown = lines(text)
    assert "REVOKED: this device was revoked at central" in shown["central"]
    assert "tapin enroll --force" in shown["central"]
    data = json.loads(status(device, "--json")[1])
    assert data["link"] == "revoked" and data["healthy"] is False
    # the agent's own record, which the panel shows
    saved = read_status(device.state_dir)
    assert saved is not None and saved.trouble == "revoked"
    zone = ZoneInfo("Europe/Stockholm")
    before = i18n.current()
    i18n.use("en_GB")
    try:
        assert connection_banner(saved, zone) == (
            "This panel was revoked on the server: nothing done here is sent. Call IT."
        )
        i18n.use("sv_SE")
        assert connection_banner(saved, zone) == (
            "Panelen är spärrad på servern: inget som görs här skickas. Kontakta IT."
        )
    finally:
        i18n.use(before)


@pytest.mark.pg
@pytest.mark.slow
def test_the_wrong_room_and_a_certificate_problem_are_said_as_such(
    central: LocalCentral, tmp_path: Path
) -> None:
    device = enroll(central)
    device.config.write_text(device.config.read_text().replace('room = "aurora"', 'room = "skog"'))
    code, text = status(device)
    assert code == 1
    shown = lines(text)
    assert shown["room"].startswith("WRONG ROOM: the configuration")
    assert "room 'skog'" in shown["room"] and "room 'aurora'" in shown["room"]
    assert json.loads(status(device, "--json")[1])["wrong_room"]

    device.config.write_text(device.config.read_text().replace('room = "skog"', 'room = "aurora"'))
    other = make_pki(tmp_path / "other-pki")
    write_private(device.state_dir / "credentials" / "ca.pem", other.ca_file.read_bytes())
    code, text = status(device)
    assert code == 1
    central_line = lines(text)["central"]
    assert "CERTIFICATE PROBLEM" in central_line
    assert "a certificate problem, not the network" in central_line
    assert "UNREACHABLE" not in text


def test_not_enrolled_is_exit_2(tmp_path: Path) -> None:
    from central.local import tapin

    config = tmp_path / "tapin.toml"
    config.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "UTC"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n'
    )
    result = tapin("status", "--config", str(config), check=False)
    assert result.returncode == 2
    assert "not enrolled" in result.stderr and "Traceback" not in result.stderr


async def test_an_empty_queue_with_central_away_is_not_a_sync(tmp_path: Path) -> None:
    """Draining nothing while central is unreachable must not claim a sync."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    queue = AsyncSealedQueue(tmp_path / "queue.db", X25519PrivateKey.generate().public_key())
    await queue.open()
    client = CentralClient(f"https://127.0.0.1:{free_port()}", timeout=1)
    agent = SyncAgent(queue, client, tmp_path, device_id="dev-1", snapshot_requests={"rooms": {}})
    try:
        assert await agent.refresh(force=True) is False
        await agent.drain(force=True)
    finally:
        await client.aclose()
        await queue.close()
    assert agent.status.last_sync is None and agent.status.last_success is None
    assert agent.status.trouble == "unreachable"
    saved = read_status(tmp_path)
    assert saved is not None and saved.last_sync is None and saved.trouble == "unreachable"

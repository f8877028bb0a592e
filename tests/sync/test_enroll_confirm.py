"""``tapin enroll`` against a real central over TLS (issue 12): nothing is asked of
central before everything local is ready, a code for another room or a lobby code for
a panel is refused naming both (and stays usable), the organisation's CA is copied into
the credentials, and a damaged copy is a clear error while the agent keeps running.

One central (its own process, its own database) serves the whole module; each test
uses its own rooms and codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from central.local import LocalCentral, tapin
from sync.identity import load_identity
from tests import pg


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    reason = pg.server_reachable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable ({reason})")
    with pg.throwaway_database() as dsn:
        server = LocalCentral(dsn, tmp_path_factory.mktemp("central")).prepare().start()
        try:
            yield server
        finally:
            server.stop()


def devices(central: LocalCentral, scope_id: str) -> int:
    with psycopg.connect(central.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM devices WHERE scope_id = %s", [scope_id])
        return int(row.fetchone()[0])  # type: ignore[index]


def config_file(folder: Path, central: LocalCentral, scope: str, *, role: str = "panel") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tapin.toml"
    path.write_text(
        f'[device]\nrole = "{role}"\n{scope}\n\n[site]\ntimezone = "Europe/Stockholm"\n\n'
        f'[central]\nurl = "{central.url}"\nca_file = "{central.pki.ca_file}"\n\n'
        f'[paths]\nstate_dir = "{folder / "state"}"\n'
    )
    return path


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tapin: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.pg
@pytest.mark.slow
def test_local_problems_are_found_before_central_is_asked(
    central: LocalCentral, tmp_path: Path
) -> None:
    code = central.enroll_code(room="fjall")
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("oops")
    shape = ["--server", central.url, "--ca", str(central.pki.ca_file)]
    refused = tapin("enroll", *shape, "--state-dir", str(not_a_dir), code, check=False)
    assert refused.returncode == 2
    assert f"{not_a_dir} is a file" in one_error_line(refused)
    assert devices(central, "fjall") == 0  # central was not asked: no ghost, no burnt code
    good = tapin("enroll", *shape, "--state-dir", str(tmp_path / "good"), code)
    assert "(confirmed)" in good.stdout
    assert devices(central, "fjall") == 1
    assert not (tmp_path / "good" / "credentials" / "enroll.key").exists()
    # central's log says so, with timestamps, its access log included
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} INFO "
    log = central.log_tail()
    assert re.search(stamp + r"central\.enroll: device dev-\w+ enrolled for room fjall", log)
    assert re.search(stamp + r"central\.enroll: device dev-\w+ confirmed its enrollment", log)
    assert re.search(stamp + r'uvicorn\.access: 127\.0\.0\.1:\d+ "POST /v1/enroll/confirm', log)
    assert code not in log


@pytest.mark.pg
@pytest.mark.slow
def test_a_code_for_another_room_or_a_lobby_code_is_refused_naming_both(
    central: LocalCentral, tmp_path: Path
) -> None:
    config = config_file(tmp_path / "panel", central, 'room = "hav"')
    skog = central.enroll_code(room="skog")
    wrong = tapin("enroll", "--config", str(config), skog, check=False)
    assert wrong.returncode == 2
    line = one_error_line(wrong)
    assert "room skog" in line and "room hav" in line
    lobby = central.enroll_code(lobby="lobby-main")
    wrong = tapin("enroll", "--config", str(config), lobby, check=False)
    line = one_error_line(wrong)
    assert "lobby lobby-main" in line and "room hav" in line
    assert devices(central, "skog") == devices(central, "lobby-main") == 0
    # the codes were not used: the skog code still enrolls a skog panel
    skog_config = config_file(tmp_path / "skog", central, 'room = "skog"')
    tapin("enroll", "--config", str(skog_config), skog)  # the shape Ansible runs
    identity = load_identity(tmp_path / "skog" / "state")
    assert (identity.scope_kind, identity.scope_id) == ("room", "skog")


@pytest.mark.pg
@pytest.mark.slow
def test_the_ca_is_copied_into_the_credentials(central: LocalCentral, tmp_path: Path) -> None:
    given = tmp_path / "given-ca.pem"
    given.write_bytes(central.pki.ca_file.read_bytes())
    state = tmp_path / "state"
    code = central.enroll_code(room="sol")
    tapin("enroll", "--server", central.url, "--ca", str(given), "--state-dir", str(state), code)
    given.unlink()  # the technician's copy goes: the device kept its own
    creds = state / "credentials"
    assert (creds / "ca.pem").read_bytes() == central.pki.ca_file.read_bytes()
    assert str(given) not in (creds / "identity.json").read_text()
    config = config_file(tmp_path, central, 'room = "sol"')
    config.write_text(config.read_text().replace(f'ca_file = "{central.pki.ca_file}"\n', ""))
    assert tapin("agent", "--once", "--config", str(config)).returncode == 0


@pytest.mark.pg
@pytest.mark.slow
def test_a_damaged_trust_file_is_a_clear_error_and_the_agent_keeps_running(
    central: LocalCentral, tmp_path: Path
) -> None:
    config = config_file(tmp_path, central, 'room = "mane"')
    tapin("enroll", "--config", str(config), central.enroll_code(room="mane"))
    copy = tmp_path / "state" / "credentials" / "ca.pem"
    copy.write_bytes(b"not a certificate\n")
    once = tapin("agent", "--once", "--config", str(config), check=False)
    assert once.returncode == 2
    line = one_error_line(once)
    assert f"the trusted CA file {copy} is damaged" in line and "re-enroll" in line
    agent = subprocess.Popen(
        [sys.executable, "-m", "tapin", "agent", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4)
        assert agent.poll() is None, "the agent exited: systemd would restart it in a loop"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=20)
    assert "Traceback" not in err
    assert "running offline" in err and "is damaged" in err


@pytest.mark.pg
@pytest.mark.slow
def test_enroll_refuses_http_exactly_like_the_config(central: LocalCentral, tmp_path: Path) -> None:
    from tapin.config import ConfigError, load_config

    url = "http://central.example.org"
    state = tmp_path / "state"
    refused = tapin("enroll", "--server", url, "--state-dir", str(state), "CODE", check=False)
    assert refused.returncode == 2
    line = one_error_line(refused)
    config = config_file(tmp_path / "cfg", central, 'room = "alv"')
    config.write_text(config.read_text().replace(central.url, url))
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert raised.value.problem in line  # the one rule, the same words
    assert not state.exists()  # refused before anything was made


def test_devices_enrolled_before_the_copy_keep_their_ca_path(tmp_path: Path) -> None:
    """An identity.json of an older enrollment: no ``trust``, the CA's path in ca_file."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from central.devcert import make_pki
    from sync.identity import DeviceIdentity, TrustError, new_signing_key, save_identity, trust_file

    pki = make_pki(tmp_path / "pki")
    key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    old = DeviceIdentity(
        device_id="dev-old",
        token="t",
        site_id="s",
        scope_kind="room",
        scope_id="aurora",
        central_url="https://localhost:9",
        central_public_key=base64.b64encode(key).decode(),
        ca_file=str(pki.ca_file),
    )
    state = tmp_path / "state"
    save_identity(state, old, new_signing_key())
    loaded = load_identity(state)
    assert loaded.trust is None and trust_file(state, loaded) == str(pki.ca_file)
    pki.ca_file.unlink()
    with pytest.raises(TrustError, match=r"the trusted CA file .* is missing: re-enroll"):
        trust_file(state, loaded)

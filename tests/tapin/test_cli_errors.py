"""Every CLI mistake a technician can make gets one line naming what to fix, and the
documented exit status (docs/cli.md), never a traceback (issue 12). Each case runs the
real ``tapin`` command in its own process."""

from __future__ import annotations

import base64
import http.server
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central.devcert import DevPKI, make_pki
from central.local import free_port, tapin
from sync.identity import DeviceIdentity, new_signing_key, save_identity


def one_line(result: subprocess.CompletedProcess[str], status: int, prefix: str) -> str:
    """The one error line (``tapin: error: ...`` or ``central: ...``) of a failed run."""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def config(
    folder: Path, *, state_dir: Path | None = None, url: str = "https://127.0.0.1:9"
) -> Path:
    path = folder / "tapin.toml"
    path.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n[site]\ntimezone = "Europe/Stockholm"\n'
        f'[central]\nurl = "{url}"\n[paths]\nstate_dir = "{state_dir or folder / "state"}"\n'
    )
    return path


def enrolled(state_dir: Path, url: str = "https://127.0.0.1:9") -> None:
    """Credentials as ``tapin enroll`` leaves them (for a central that is not there)."""
    central_key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    identity = DeviceIdentity(
        device_id="dev-test",
        token="t0ken",
        site_id="nordlys-sthlm",
        scope_kind="room",
        scope_id="aurora",
        central_url=url,
        central_public_key=base64.b64encode(central_key).decode(),
    )
    save_identity(state_dir, identity, new_signing_key())


# tapin enroll -----------------------------------------------------------------------


def test_a_ca_file_that_is_not_pem(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("this is not a certificate\n")
    result = tapin(
        "enroll", "--server", "https://localhost:9", "--ca", str(bad),
        "--state-dir", str(tmp_path / "state"), "CODE", check=False,
    )  # fmt: skip
    line = one_line(result, 2, "tapin: error:")
    assert f"{bad} is not a PEM CA certificate" in line


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("htps://central.example.org", "unknown scheme 'htps'"),
        ("central.example.org", "has no scheme; write it as https://central.example.org"),
        ("http://central.example.org", "must be an https:// URL"),
    ],
)
def test_a_central_url_with_a_bad_scheme_is_named(tmp_path: Path, url: str, words: str) -> None:
    result = tapin(
        "enroll", "--server", url, "--state-dir", str(tmp_path / "s"), "CODE", check=False
    )
    line = one_line(result, 2, "tapin: error:")
    assert url in line and words in line


def test_a_tls_verification_failure_is_a_certificate_problem(pki: DevPKI, tmp_path: Path) -> None:
    """A real TLS server whose certificate the system store does not trust."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://localhost:{server.server_address[1]}"
        result = tapin("enroll", "--server", url, "--state-dir", str(tmp_path), "C", check=False)
    finally:
        server.shutdown()
        server.server_close()
    line = one_line(result, 2, "tapin: error:")
    assert "certificate problem, not the network" in line and "--ca" in line


# the device's state -----------------------------------------------------------------


def test_a_state_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("")
    result = tapin("status", "--config", str(config(tmp_path, state_dir=not_a_dir)), check=False)
    line = one_line(result, 2, "tapin: error:")
    assert "paths.state_dir" in line and f"{not_a_dir} is a file" in line


def test_credentials_with_loose_permissions_are_refused(tmp_path: Path) -> None:
    enrolled(tmp_path / "state")
    identity = tmp_path / "state" / "credentials" / "identity.json"
    identity.chmod(0o644)
    result = tapin("status", "--config", str(config(tmp_path)), check=False)
    line = one_line(result, 2, "tapin: error:")
    assert "permissions 0644 are too open" in line and f"chmod 600 {identity}" in line


@pytest.mark.slow
def test_a_panel_started_beside_an_agent_exits_with_a_message(tmp_path: Path) -> None:
    enrolled(tmp_path / "state")
    path = config(tmp_path)
    agent = subprocess.Popen(
        [sys.executable, "-m", "tapin", "agent", "--config", str(path)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "state" / "queue.db").exists():  # the agent holds the queue
            assert agent.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.5)
        result = tapin(
            "panel", "--config", str(path), "--screenshot", str(tmp_path / "p.png"), check=False
        )
    finally:
        agent.terminate()
        agent.wait(timeout=20)
    line = one_line(result, 2, "tapin: error:")
    assert "queue.db" in line and "is open in another process" in line
    assert not (tmp_path / "p.png").exists()


# tapin central serve ----------------------------------------------------------------


def serve(*args: str, dsn: str = "dbname=nowhere") -> subprocess.CompletedProcess[str]:
    return tapin("central", "serve", "--dsn", dsn, *args, check=False, timeout=60)


def test_serve_with_cert_and_key_swapped_or_missing(pki: DevPKI, tmp_path: Path) -> None:
    swapped = serve("--key-file", "k", "--cert", str(pki.key_file), "--key", str(pki.cert_file))
    assert "they are swapped" in one_line(swapped, 2, "central:")
    missing = serve("--key-file", "k", "--cert", str(tmp_path / "no.pem"), "--key", "x")
    assert f"--cert {tmp_path / 'no.pem'}: no such file" in one_line(missing, 2, "central:")
    other = make_pki(tmp_path / "other")
    unpaired = serve("--key-file", "k", "--cert", str(pki.cert_file), "--key", str(other.key_file))
    assert "is not the private key of the certificate" in one_line(unpaired, 2, "central:")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    from central.keys import create_private_key

    path = tmp_path / "central.key"
    create_private_key(path)
    return path


@pytest.mark.pg
def test_serve_on_a_database_without_the_schema(pg_dsn: str, key_file: Path) -> None:
    result = serve("--key-file", str(key_file), dsn=pg_dsn)
    assert "run tapin central init-db" in one_line(result, 2, "central:")


@pytest.mark.pg
def test_serve_on_a_port_in_use(pg_dsn: str, key_file: Path) -> None:
    from central.migrate import init_db

    init_db(pg_dsn)
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = serve("--key-file", str(key_file), "--port", str(port), dsn=pg_dsn)
    assert f"port {port} on 127.0.0.1 is in use" in one_line(result, 2, "central:")


# two demos ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_demo_gets_its_own_state_and_says_so(tmp_path: Path) -> None:
    import os

    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    first = subprocess.Popen(
        [sys.executable, "-m", "tapin", "panel", "--demo", "--exit-after", "40"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while not (tmp_path / "xdg" / "tapin-demo" / "demo-queue.db").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        shot = tmp_path / "second.png"
        second = tapin("panel", "--demo", "--screenshot", str(shot), env=env, check=False)
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert f"another demo is running with {tmp_path / 'xdg' / 'tapin-demo'}" in second.stderr
    assert (tmp_path / "xdg" / "tapin-demo-2" / "demo-queue.db").is_file()
    assert shot.is_file()

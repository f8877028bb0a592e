"""The whole system on one machine: a throwaway database on the local PostgreSQL
cluster, a real central over TLS in its own process, devices enrolled to it.

For trying Tapin (``docs/sync.md``), its benchmarks and its end-to-end tests.
:class:`LocalCentral` drives the same commands a technician would: ``tapin central
init-db``, ``seed --demo``, ``serve --cert --key`` (uvicorn in its own process, so it
can be killed and restarted), ``enroll-code``; and ``tapin enroll`` for each device.
The cluster is the machine's own (``.ci/run`` starts it and gives the current user a
role); ``TAPIN_TEST_PG`` overrides the server DSN. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from central.devcert import DevPKI, make_pki

__all__ = [
    "SERVER_DSN",
    "Device",
    "LocalCentral",
    "free_port",
    "server_reachable",
    "tapin",
    "throwaway_database",
]

SERVER_DSN = os.environ.get("TAPIN_TEST_PG", "host=/var/run/postgresql dbname=postgres")


def server_reachable() -> str | None:
    """``None`` when the local PostgreSQL server answers, else the reason it does not."""
    try:
        with psycopg.connect(SERVER_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


@contextmanager
def throwaway_database(prefix: str = "tapin_test") -> Iterator[str]:
    """Create an empty database, yield its DSN, drop it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(SERVER_DSN, dbname=name)
    try:
        yield dsn
    finally:
        with psycopg.connect(SERVER_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tapin(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tapin", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"tapin {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


@dataclass
class Device:
    state_dir: Path
    config: Path
    room: str | None

    def tapin(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return tapin(*args, "--config", str(self.config), check=check)


@dataclass
class LocalCentral:
    dsn: str
    folder: Path
    port: int = field(default_factory=free_port)
    pki: DevPKI = field(init=False)
    key_file: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(self.folder / "pki")
        self.key_file = self.folder / "central.key"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"TAPIN_CENTRAL_DSN": self.dsn, "TAPIN_CENTRAL_KEY": str(self.key_file)}

    def central(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tapin("central", *args, env=self.env)

    def prepare(self) -> LocalCentral:
        self.central("init-db")
        self.central("seed", "--demo")
        return self

    def start(self) -> LocalCentral:
        with open(self.folder / "central.log", "ab") as log:  # the child keeps its own copy
            self.proc = self._spawn(log)
        return self._wait_ready()

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tapin",
                "central",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--cert",
                str(self.pki.cert_file),
                "--key",
                str(self.pki.key_file),
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
        )

    def _wait_ready(self) -> LocalCentral:
        assert self.proc is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"central exited: {self.log_tail()}")
            try:
                response = httpx.get(self.url + "/v1/health", verify=context, timeout=1)
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"central did not answer in 30 s: {self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self) -> str:
        path = self.folder / "central.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def enroll_code(self, *, room: str | None = None, lobby: str | None = None) -> str:
        scope = ["--room", room] if room else ["--lobby", str(lobby)]
        return self.central("enroll-code", *scope).stdout.strip().splitlines()[0]

    def enroll(
        self,
        name: str,
        *,
        room: str | None = None,
        lobby: str | None = None,
        server: str | None = None,
    ) -> Device:
        """A device with its own state directory and config, enrolled over TLS
        (through ``server``, e.g. a proxy, when given)."""
        state = self.folder / "devices" / name
        state.mkdir(parents=True, exist_ok=True)
        role = "panel" if room else "kiosk"
        scope = f'room = "{room}"' if room else f'lobby = "{lobby}"'
        config = state / "tapin.toml"
        config.write_text(
            f'[device]\nrole = "{role}"\n{scope}\n\n[site]\ntimezone = "Europe/Stockholm"\n\n'
            f'[central]\nurl = "{self.url}"\nca_file = "{self.pki.ca_file}"\n\n'
            f'[paths]\nstate_dir = "{state}"\n'
        )
        code = self.enroll_code(room=room, lobby=lobby)
        tapin(
            "enroll",
            "--server",
            server or self.url,
            "--code",
            code,
            "--ca",
            str(self.pki.ca_file),
            "--config",
            str(config),
        )
        return Device(state, config, room)

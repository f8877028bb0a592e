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
from contextlib import contextmanager, suppress
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
    "write_notify_settings",
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


def write_notify_settings(
    path: Path, *, smtp_port: int, webhooks: dict[str, str] | None = None
) -> Path:
    """Central's notification settings (``TAPIN_CENTRAL_SETTINGS``) for a plain SMTP
    server on 127.0.0.1:``smtp_port`` and the given webhook names -> URLs, retrying fast;
    written 0600 (central refuses a settings file others may read)."""
    lines = [
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {int(smtp_port)}",
        'security = "none"',
        'from = "Tapin <tapin@nordlys.example>"',
        "",
        "[notify]",
        "first_retry_seconds = 0.5",
        "max_retry_seconds = 2",
        "",
        "[webhooks]",
        *(f'"{name}" = "{url}"' for name, url in (webhooks or {}).items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


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
    """``tapin central serve`` on 127.0.0.1 with ``workers`` processes (each with a pool
    of ``pool_max`` connections, central's default when ``None``)."""

    dsn: str
    folder: Path
    port: int = field(default_factory=free_port)
    workers: int = 1
    pool_max: int | None = None
    pki: DevPKI = field(init=False)
    key_file: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = None
    shared_with: LocalCentral | None = field(default=None, repr=False)
    """Another central whose key and certificates this one uses (see :meth:`sibling`)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More environment for central's commands, e.g. ``TAPIN_CENTRAL_SETTINGS`` (the
    notification settings file)."""

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.shared_with is not None:
            self.pki, self.key_file = self.shared_with.pki, self.shared_with.key_file
        else:
            self.pki = make_pki(self.folder / "pki")
            self.key_file = self.folder / "central.key"

    def sibling(self, name: str = "sibling", *, workers: int = 1) -> LocalCentral:
        """A second central process on the same database, with the same key and TLS
        certificate, on its own port: another machine behind a load balancer."""
        return LocalCentral(
            self.dsn,
            self.folder.parent / f"{self.folder.name}-{name}",
            workers=workers,
            pool_max=self.pool_max,
            shared_with=self,
        )

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "TAPIN_CENTRAL_DSN": self.dsn,
            "TAPIN_CENTRAL_KEY": str(self.key_file),
            **self.extra_env,
        }

    def central(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tapin("central", *args, env=self.env)

    def prepare(self) -> LocalCentral:
        self.central("init-db")
        self.central("seed", "--demo")
        return self

    def start(self, *, workers: int | None = None) -> LocalCentral:
        """Start serving (with ``workers`` processes, when given) and wait until every
        worker has started."""
        if workers is not None:
            self.workers = workers
        log_file = self.folder / "central.log"
        offset = log_file.stat().st_size if log_file.exists() else 0
        with open(log_file, "ab") as log:  # the child keeps its own copy
            self.proc = self._spawn(log)
        return self._wait_ready(offset)

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        extra = ["--workers", str(self.workers)]
        if self.pool_max is not None:
            extra += ["--pool-max", str(self.pool_max)]
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
                *extra,
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
            process_group=0,  # its workers with it: stop() signals the whole group
        )

    def _wait_ready(self, offset: int) -> LocalCentral:
        assert self.proc is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        deadline = time.monotonic() + 30 + 5 * self.workers
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"central exited: {self.log_tail()}")
            if self._started(offset) >= self.workers:
                try:
                    response = httpx.get(self.url + "/v1/health", verify=context, timeout=1)
                    if response.status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"central did not answer in time: {self.log_tail()}")

    def _started(self, offset: int) -> int:
        """How many worker processes have finished starting since ``offset`` of the log."""
        with open(self.folder / "central.log", "rb") as log:
            log.seek(offset)
            return log.read().count(b"Application startup complete")

    def pids(self) -> list[int]:
        """The serving processes: the main one and, with several workers, its children."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        found = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == self.proc.pid:  # the parent's pid
                found.append(int(entry.name))
        return found

    def stop(self, *, kill: bool = False) -> None:
        """Stop every serving process: SIGTERM (a graceful stop), or SIGKILL with ``kill``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                self._kill_group()
            else:  # the main process stops its workers gracefully, then itself
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15 + 5 * self.workers)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.proc.wait()
        self._kill_group()  # a worker left behind (its parent gone first)
        self.proc = None

    def _kill_group(self) -> None:
        assert self.proc is not None
        with suppress(ProcessLookupError):  # the group this process leads: it and its workers
            os.killpg(self.proc.pid, signal.SIGKILL)

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

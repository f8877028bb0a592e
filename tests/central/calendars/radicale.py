"""A real Radicale CalDAV server for the tests: 127.0.0.1, a temporary storage folder,
htpasswd authentication (one user, ``USER`` / ``PASSWORD``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER = "tapin"
PASSWORD = "s3cret-caldav-pass"


@dataclass(frozen=True)
class Radicale:
    url: str
    storage: Path

    def calendar_url(self, name: str) -> str:
        return f"{self.url}{USER}/{name}/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def radicale(folder: Path, calendars: tuple[str, ...] = ()) -> Iterator[Radicale]:
    """Start Radicale, make ``calendars`` (by name) for ``USER``; stop it on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    users = folder / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--auth-delay",
            "0",
            "--rights-type",
            "owner_only",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("Radicale did not start") from None
                time.sleep(0.05)
        server = Radicale(f"http://127.0.0.1:{port}/", folder / "collections")
        if calendars:
            from caldav.davclient import DAVClient

            with DAVClient(server.url, username=USER, password=PASSWORD) as client:
                principal = client.principal()
                for name in calendars:
                    principal.make_calendar(name=name, cal_id=name)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

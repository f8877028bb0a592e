"""The sync spine end to end: real devices (queue files, httpx over TLS), a real central
process on a real PostgreSQL, the real ``tapin`` commands a technician runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.local import Device, LocalCentral
from sync.agent import SyncAgent
from sync.client import CentralClient, NotAuthorised
from sync.identity import load_identity
from sync.queue import AsyncSealedQueue, SealedQueue
from tests.e2e.conftest import count

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@contextmanager
def device_queue(device: Device) -> Iterator[SealedQueue]:
    identity = load_identity(device.state_dir)
    queue = SealedQueue(
        device.state_dir / "queue.db", identity.sealing_key(), device_id=identity.device_id
    )
    try:
        yield queue
    finally:
        queue.close()


def report(queue: SealedQueue, room: str, n: int, text: str = "Projector flickers") -> list[str]:
    ids = []
    for i in range(n):
        event = queue.enqueue(
            "issue.report",
            f"room:{room}",
            {"report_id": str(uuid.uuid4()), "category": "display", "text": f"{text} #{i}"},
        )
        ids.append(event.id)
    return ids


def book(queue: SealedQueue, room: str, start: datetime, minutes: int = 30) -> str:
    return queue.enqueue(
        "booking.create",
        f"room:{room}",
        {"booking_id": str(uuid.uuid4()), "booked_by": None},
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
    ).id


@asynccontextmanager
async def live_agent(device: Device, url: str | None = None):
    identity = load_identity(device.state_dir)
    queue = AsyncSealedQueue(
        device.state_dir / "queue.db", identity.sealing_key(), device_id=identity.device_id
    )
    await queue.open()
    client = CentralClient(
        url or identity.central_url, token=identity.token, ca_file=identity.ca_file, timeout=5
    )
    agent = SyncAgent(queue, client, device.state_dir, device_id=identity.device_id)
    try:
        yield agent
    finally:
        await client.aclose()
        await queue.close()


def test_central_down_then_up_every_event_applied_exactly_once(central: LocalCentral) -> None:
    device = central.enroll("panel", room="aurora")
    central.stop()
    with device_queue(device) as queue:
        ids = report(queue, "aurora", 40)

    offline = device.tapin("agent", "--once", check=False)
    assert offline.returncode == 1
    down = device.tapin("status", "--json", check=False)
    assert down.returncode == 1  # unhealthy: monitoring sees it
    status = json.loads(down.stdout)
    assert status["central_reachable"] is False
    assert status["queue"]["pending"] == 40
    assert "unreachable" in (status.get("last_error") or "")

    central.start()
    device.tapin("agent", "--once")
    device.tapin("agent", "--once")  # a second pass finds nothing to send
    applied = count(
        central.dsn,
        "SELECT count(*) FROM applied_events WHERE event_id = ANY(%s)",
        [uuid.UUID(i) for i in ids],
    )
    assert applied == 40
    assert count(central.dsn, "SELECT count(*) FROM issue_reports") == 40
    status = json.loads(device.tapin("status", "--json").stdout)
    assert status["central_reachable"] is True
    assert status["queue"]["pending"] == 0 and status["queue"]["rejected"] == 0
    assert status["last_sync"] is not None


class ReplyDropper:
    """A TCP proxy in front of central that, while armed, forwards a big request and
    then cuts the connection instead of passing central's reply back: central commits,
    the device never hears it."""

    def __init__(self, target_port: int, threshold: int = 20_000) -> None:
        self.target_port = target_port
        self.threshold = threshold
        self.armed = True
        self.dropped = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, client_r, client_w) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        sent = 0
        cut = asyncio.Event()

        async def upstream() -> None:
            nonlocal sent
            while data := await client_r.read(65536):
                sent += len(data)
                up_w.write(data)
                await up_w.drain()
            up_w.close()

        async def downstream() -> None:
            while data := await up_r.read(65536):
                if self.armed and sent > self.threshold:
                    self.dropped += 1
                    self.armed = False
                    cut.set()
                    return
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if cut.is_set():
            await asyncio.sleep(0.2)  # let central finish its commit before the cut
        for task in tasks:
            task.cancel()
        client_w.close()
        up_w.close()


async def test_lost_reply_is_resent_and_answered_duplicate(central: LocalCentral) -> None:
    proxy = ReplyDropper(central.port)
    await proxy.start()
    device = central.enroll("panel", room="aurora")
    with device_queue(device) as queue:
        ids = report(queue, "aurora", 120, text="x" * 300)
    try:
        async with live_agent(device, url=f"https://localhost:{proxy.port}") as agent:
            first = await agent.drain(force=True)
            assert first == 0 and proxy.dropped == 1
            assert agent.status.reachable is False
            assert (await agent.queue.counts()).pending == 120  # nothing lost
            # central did apply them: the reply was what got lost
            assert count(central.dsn, "SELECT count(*) FROM issue_reports") == 120
            second = await agent.drain(force=True)
            assert second == 120
            assert (await agent.queue.counts()).waiting == 0
    finally:
        await proxy.close()
    assert count(central.dsn, "SELECT count(*) FROM issue_reports") == 120
    assert (
        count(
            central.dsn,
            "SELECT count(*) FROM applied_events WHERE event_id = ANY(%s)",
            [uuid.UUID(i) for i in ids],
        )
        == 120
    )


def test_two_devices_book_the_same_slot_offline(central: LocalCentral) -> None:
    panel = central.enroll("panel", room="aurora")
    kiosk = central.enroll("kiosk", lobby="lobby-main")
    central.stop()
    # 06:00 in Stockholm in a few weeks (inside central's window): no meeting then
    soon = datetime.now(UTC) + timedelta(days=30)
    slot = datetime(soon.year, soon.month, soon.day, 5, 0, tzinfo=UTC)
    with device_queue(panel) as queue:
        book(queue, "aurora", slot)
    with device_queue(kiosk) as queue:
        book(queue, "aurora", slot + timedelta(minutes=15))
    central.start()
    panel.tapin("agent", "--once")
    kiosk.tapin("agent", "--once")

    assert (
        count(
            central.dsn,
            "SELECT count(*) FROM bookings WHERE resource = 'room:aurora'"
            " AND lower(during) >= now() + interval '7 days'",
        )
        == 1
    )
    lost = json.loads(kiosk.tapin("queue", "--json", "--state", "rejected").stdout)
    assert len(lost) == 1 and lost[0]["type"] == "booking.create"
    assert "aurora" in lost[0]["resource"] and "booked" in lost[0]["reason"]
    text = kiosk.tapin("queue", "--state", "rejected").stdout
    assert "rejected" in text and "booking.create" in text
    status = kiosk.tapin("status").stdout
    assert "1 rejected" in status and "tapin queue --state rejected" in status
    assert json.loads(panel.tapin("status", "--json").stdout)["queue"]["rejected"] == 0


async def test_scope_and_revocation_are_enforced(central: LocalCentral) -> None:
    device = central.enroll("panel", room="aurora")
    identity = load_identity(device.state_dir)
    async with CentralClient(
        identity.central_url, token=identity.token, ca_file=identity.ca_file
    ) as client:
        own = await client.snapshot("calendar", params={"room": "aurora"})
        assert isinstance(own.data, dict) and own.data["room_id"] == "aurora"
        with pytest.raises(NotAuthorised) as other_room:
            await client.snapshot("calendar", params={"room": "skog"})
        assert other_room.value.status == 403
    central.central("revoke", identity.device_id)
    async with CentralClient(
        identity.central_url, token=identity.token, ca_file=identity.ca_file
    ) as client:
        with pytest.raises(NotAuthorised) as revoked:
            await client.snapshot("rooms")
        assert revoked.value.status == 401
    async with CentralClient(
        identity.central_url, token="not-a-token", ca_file=identity.ca_file
    ) as client:
        with pytest.raises(NotAuthorised):
            await client.snapshot("rooms")


async def test_tls_is_verified_against_the_organisations_ca(
    central: LocalCentral, tmp_path: Path
) -> None:
    from sync.client import Unreachable

    async with CentralClient(central.url) as client:  # system store: our CA is unknown
        with pytest.raises(Unreachable, match=r"CERTIFICATE_VERIFY_FAILED|ConnectError"):
            await client.health()
    async with CentralClient(central.url, ca_file=central.pki.ca_file) as client:
        assert await client.health()


def test_enrollment_code_is_single_use_and_errors_are_clear(
    central: LocalCentral, tmp_path: Path
) -> None:
    from central.local import tapin

    code = central.enroll_code(room="aurora")
    first = tmp_path / "d1"

    def enroll(state: Path, **options: bool) -> subprocess.CompletedProcess[str]:
        return tapin(
            "enroll", "--server", central.url, "--code", code,
            "--ca", str(central.pki.ca_file), "--state-dir", str(state), **options,
        )  # fmt: skip

    enroll(first)
    second = enroll(tmp_path / "d2", check=False)
    assert second.returncode == 2 and "already used" in second.stderr
    assert "Traceback" not in second.stderr
    again = enroll(first, check=False)
    assert again.returncode == 2 and "already enrolled" in again.stderr
    creds = first / "credentials"
    assert oct(creds.stat().st_mode & 0o777) == "0o700"
    for path in creds.iterdir():
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert code.encode() not in b"".join(p.read_bytes() for p in creds.iterdir())


async def test_snapshots_reach_memory_with_etags(central: LocalCentral) -> None:
    from tapin.config import load_config
    from tapin.device.runtime import empty_runtime

    device = central.enroll("panel", room="aurora")
    runtime = empty_runtime(load_config(device.config))
    seen: list[str] = []

    def on_snapshot(kind: str, data: Any) -> None:
        seen.append(kind)
        runtime.apply_snapshot(kind, data)

    identity = load_identity(device.state_dir)
    async with live_agent(device) as agent:
        agent.snapshot_requests = {"rooms": {}, "directory": {}, "calendar": {"room": "aurora"}}
        agent.on_snapshot = on_snapshot
        assert await agent.refresh(force=True)
        assert sorted(seen) == ["calendar", "directory", "rooms"]
        assert runtime.site.room("aurora").name == "Aurora"
        assert runtime.calendar.loaded("aurora")
        assert len(runtime.directory) > 0
        assert all(p.visible for p in runtime.directory)
        seen.clear()
        assert await agent.refresh(force=True)
        assert seen == []  # nothing changed: three 304s
    assert identity.device_id


async def test_forget_person_purges_the_devices_memory_in_one_sync(
    central: LocalCentral,
) -> None:
    from tapin.config import load_config
    from tapin.device.runtime import empty_runtime
    from tapin.device.services import open_device_sync

    device = central.enroll("panel", room="aurora")
    config = load_config(device.config)
    runtime = empty_runtime(config)
    sync = await open_device_sync(config, runtime)
    try:
        assert await sync.agent.refresh(force=True)
        assert runtime.directory.get("p-anna") is not None

        result = central.central("forget", "p-anna")
        assert "forgotten" in result.stdout and "Anna" not in result.stdout

        assert await sync.handle_commands() == 1
        await sync.agent.refresh(force=True)
        assert runtime.directory.get("p-anna") is None
        for meeting in runtime.calendar.meetings("aurora"):
            assert meeting.organiser_id != "p-anna" and "p-anna" not in meeting.attendee_ids
        assert await sync.handle_commands() == 0  # acknowledged: not sent again
        assert count(central.dsn, "SELECT count(*) FROM people WHERE id = 'p-anna'") == 0
    finally:
        await sync.close()

"""A lobby kiosk's wiring: its services fetch the ``kiosk`` snapshot with the others
and ``visitors`` every 10 s (a row of the JOBS table, on the one APScheduler), both with
ETags; ``visitors`` lives in memory only. The demo's stand-in central answers visitor
events and tells hosts after a moment."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.agent import SyncAgent
from sync.client import CentralClient
from sync.identity import DeviceIdentity, new_signing_key, save_identity
from sync.queue import AsyncSealedQueue
from tapin.config import load_config
from tapin.demo.clock import ManualClock
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.demo.visitors import NOTIFY_AFTER
from tapin.device.availability import AvailabilityKeeper
from tapin.device.runtime import empty_runtime
from tapin.device.services import JOBS, DeviceServices, DeviceSync, snapshot_requests
from tests.tapin.device.test_kiosk_snapshots import KIOSK, VISITORS
from tests.tapin.device.test_snapshots import ROOMS

CENTRAL = X25519PrivateKey.generate()


def _identity() -> DeviceIdentity:
    return DeviceIdentity(
        device_id="kiosk-1",
        token="t",
        site_id="nordlys-sthlm",
        scope_kind="lobby",
        scope_id="lobby-main",
        central_url="https://localhost:9",
        central_public_key=base64.b64encode(
            CENTRAL.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ).decode(),
    )


def _kiosk_config(tmp_path: Path, state: Path) -> Path:
    path = tmp_path / "tapin.toml"
    path.write_text(
        '[device]\nrole = "kiosk"\nlobby = "lobby-main"\n\n[site]\n'
        'timezone = "Europe/Stockholm"\n\n[central]\nurl = "https://localhost:9"\n\n'
        f'[paths]\nstate_dir = "{state}"\n'
    )
    return path


async def test_an_enrolled_kiosk_fetches_visitors_every_ten_seconds(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    save_identity(state, _identity(), new_signing_key())
    config = load_config(_kiosk_config(tmp_path, state))
    services = await DeviceServices.open(config, empty_runtime(config))
    try:
        assert services.sync is not None
        scheduled = {
            job.id: job.trigger.interval.total_seconds() for job in services.scheduler.get_jobs()
        }
        assert scheduled["visitors"] == 10.0 == {j.id: j.seconds for j in JOBS}["visitors"]
        assert set(scheduled) == {
            "drain",
            "refresh",
            "visitors",
            "commands",
            "heartbeat",
            "purge",
        }
        assert "kiosk" in services.sync.agent.snapshot_requests
        assert "visitors" not in services.sync.agent.snapshot_requests  # its own job
    finally:
        await services.close()


def test_a_panel_asks_for_neither_kiosk_snapshot() -> None:
    panel = dataclasses.replace(_identity(), scope_kind="room", scope_id="aurora")
    assert not {"kiosk", "visitors"} & set(snapshot_requests(panel))


class Central:
    """Central's snapshot endpoints, played by an ``httpx.MockTransport`` handler."""

    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {
            "rooms": ROOMS,
            "desks": {"desks": []},
            "directory": {"people": []},
            "availability": {"rooms": []},
            "kiosk": KIOSK,
            "visitors": VISITORS,
            "floors": {"site_id": "nordlys-sthlm", "floors": []},  # the staff side's
            "desk_bookings": {"day": "2026-12-01", "bookings": [], "unavailable": []},
        }
        self.version = 1
        self.asked: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        tag = f'"{kind}-{self.version}"'
        self.asked.append((kind, request.headers.get("if-none-match")))
        if request.headers.get("if-none-match") == tag:
            return httpx.Response(304, headers={"ETag": tag})
        return httpx.Response(200, headers={"ETag": tag}, json=self.bodies[kind])


async def _device(state: Path, central: Central) -> DeviceSync:
    config = demo_config(state, "kiosk")
    runtime = empty_runtime(config, clock=lambda: datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    queue = AsyncSealedQueue(state / "queue.db", CENTRAL.public_key())
    await queue.open()
    client = CentralClient("http://central.test", token="t", transport=httpx.MockTransport(central))
    keeper = AvailabilityKeeper(runtime, state)
    agent = SyncAgent(
        queue,
        client,
        state,
        device_id="kiosk-1",
        snapshot_requests=snapshot_requests(_identity()),
        on_snapshot=keeper.on_snapshot,
    )
    runtime.sync_status = agent.status
    return DeviceSync(_identity(), queue, client, agent, runtime)


async def test_visitors_come_with_an_etag_and_a_malformed_one_is_fetched_again(
    state_dir: Path,
) -> None:
    central = Central()
    sync = await _device(state_dir, central)
    try:
        assert await sync.agent.refresh(force=True)
        assert sync.runtime.kiosk is not None and sync.runtime.kiosk.lobby_id == "lobby-main"
        assert await sync.refresh_visitors()
        first = sync.runtime.visitors
        assert first is not None and [v.visitor_id for v in first.signed_in] == ["v-1", "v-2"]
        assert await sync.refresh_visitors()  # unchanged: a 304, the same memory
        assert sync.runtime.visitors is first
        visitors_asks = [tag for kind, tag in central.asked if kind == "visitors"]
        assert visitors_asks == [None, '"visitors-1"']

        # central changes: Alan's host was told; then a malformed one (kept out)
        central.version = 2
        told = json.loads(json.dumps(VISITORS))
        told["signed_in"][0]["notified"] = "delivered"
        central.bodies["visitors"] = told
        assert await sync.refresh_visitors()
        assert sync.runtime.visitors.on_site("v-1").notified == "delivered"  # type: ignore[union-attr]
        kept = sync.runtime.visitors
        central.version = 3
        central.bodies["visitors"] = {"day": "2026-12-01", "invites": "x", "signed_in": []}
        assert await sync.refresh_visitors()
        assert sync.runtime.visitors is kept
        assert sync._visitors_etag is None  # refused: asked for in full next time
        central.bodies["visitors"] = told
        assert await sync.refresh_visitors()
        assert [tag for kind, tag in central.asked if kind == "visitors"][-1] is None
    finally:
        await sync.close()


async def test_central_down_keeps_the_visitors_the_kiosk_had(state_dir: Path) -> None:
    central = Central()
    sync = await _device(state_dir, central)
    try:
        assert await sync.refresh_visitors()
        had = sync.runtime.visitors

        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("central is down", request=request)

        sync.client = CentralClient(
            "http://central.test", token="t", transport=httpx.MockTransport(down)
        )
        assert not await sync.refresh_visitors()
        assert sync.runtime.visitors is had
    finally:
        await sync.close()


async def test_nothing_of_the_visitors_snapshot_reaches_a_file(state_dir: Path) -> None:
    central = Central()
    sync = await _device(state_dir, central)
    try:
        assert await sync.agent.refresh(force=True)
        assert await sync.refresh_visitors()
        await sync.agent.drain(force=True)  # writes status.json
        sync.agent.write_status()
    finally:
        await sync.close()
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert files, "the device wrote its status and queue"
    secrets = [
        "Ada Lovelace",
        "Lovelace",
        "Alan Turing",
        "Katherine",
        "Analytical",
        "Bletchley",
        "example.org",
        VISITORS["invites"][0]["qr_sha256"],
        "inv-ada",
    ]
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            for form in {secret.encode(), secret.encode("utf-16-le")}:
                assert form not in data, f"{secret!r} is in {path.name}"


async def test_the_demo_central_answers_sign_ins_and_tells_the_host_after_a_moment(
    tmp_path: Path,
) -> None:
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    runtime = demo_runtime(demo_config(tmp_path / "demo", "kiosk"), clock=clock)
    assert runtime.kiosk is not None and runtime.visitors is not None
    services = await DeviceServices.open(runtime.config, runtime)
    try:
        assert "demo-central" in services.job_functions()
        answers: list[Any] = []
        services.on_results(answers.extend)
        sink = services.sink
        assert sink is not None
        payload = {
            "visitor_id": "v-new",
            "name": "Zed",
            "host_id": "p-bjorn",
            "accepted_terms": True,
            "badge_token": "b" * 32,
        }
        await sink.enqueue("visitor.signin", "lobby:lobby-main", payload)
        await services.demo.drain_once()
        assert [a["outcome"] for a in answers] == ["applied"]
        assert runtime.visitors.on_site("v-new").notified == "pending"  # type: ignore[union-attr]
        clock.advance(NOTIFY_AFTER + timedelta(seconds=1))
        await services.demo.drain_once()
        assert runtime.visitors.on_site("v-new").notified == "delivered"  # type: ignore[union-attr]

        # a badge that is not the visitor's is refused; the right one signs out
        wrong = {"visitor_id": "v-new", "via": "badge", "badge_token": "c" * 32}
        await sink.enqueue("visitor.signout", "lobby:lobby-main", wrong)
        await services.demo.drain_once()
        assert answers[-1]["outcome"] == "rejected"
        right = dict(wrong, badge_token="b" * 32)
        await sink.enqueue("visitor.signout", "lobby:lobby-main", right)
        await services.demo.drain_once()
        assert answers[-1]["outcome"] == "applied"
        assert runtime.visitors is not None and runtime.visitors.on_site("v-new") is None
    finally:
        await services.close()


async def test_an_event_starts_the_drain_at_once(tmp_path: Path) -> None:
    """A visitor's sign-in (or a booking) is uploaded at once, not at the drain job's
    next turn up to two seconds later; the queue still holds it durably first."""
    state = tmp_path / "state"
    state.mkdir()
    save_identity(state, _identity(), new_signing_key())
    config = load_config(_kiosk_config(tmp_path, state))
    services = await DeviceServices.open(config, empty_runtime(config))
    try:
        assert services.sink is not None and services.sync is not None
        from apscheduler.events import EVENT_JOB_SUBMITTED

        started: list[str] = []
        services.scheduler.add_listener(lambda e: started.append(e.job_id), EVENT_JOB_SUBMITTED)
        later = datetime.now(UTC) + timedelta(hours=1)
        services.scheduler.modify_job("drain", next_run_time=later)  # its turn: far away
        await asyncio.sleep(0.2)
        started.clear()
        await services.sink.enqueue(
            "visitor.signout", "lobby:lobby-main", {"visitor_id": "v-1", "via": "list"}
        )
        assert (await services.sync.queue.counts()).pending == 1  # durable before the upload
        for _ in range(50):  # bounded: 5 s at most
            if "drain" in started:
                break
            await asyncio.sleep(0.1)
        assert "drain" in started
        assert not services.run_soon("no-such-job")
    finally:
        await services.close()


async def test_central_answering_a_kiosk_brings_its_snapshots_forward(tmp_path: Path) -> None:
    """After central answers a kiosk's upload (a sign-in, a desk booking), the visitors
    snapshot and the other snapshots (desk_bookings for the map) come within a second."""
    state = tmp_path / "state"
    state.mkdir()
    save_identity(state, _identity(), new_signing_key())
    config = load_config(_kiosk_config(tmp_path, state))
    services = await DeviceServices.open(config, empty_runtime(config))
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        for job in ("visitors", "refresh"):
            services.scheduler.modify_job(job, next_run_time=later)
        services._settled([{"id": "e-1", "outcome": "applied"}])
        soon = datetime.now(UTC) + timedelta(seconds=2)
        for job in ("visitors", "refresh"):
            assert services.scheduler.get_job(job).next_run_time <= soon, job
    finally:
        await services.close()

"""One wiring for every device: what runs depends on what the device is, and every
periodic job is a row of one scheduler's table (no timer loops of its own)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.identity import DeviceIdentity, new_signing_key, save_identity
from tapin.config import load_config
from tapin.demo.runtime import demo_config, demo_runtime
from tapin.device.runtime import empty_runtime
from tapin.device.services import JOBS, DeviceServices


def _config(tmp_path: Path, state: Path) -> Path:
    path = tmp_path / "tapin.toml"
    path.write_text(
        '[device]\nrole = "panel"\nroom = "aurora"\n\n[site]\ntimezone = "Europe/Stockholm"\n\n'
        f'[central]\nurl = "https://localhost:9"\n\n[paths]\nstate_dir = "{state}"\n'
    )
    return path


def _other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_the_demo_runs_its_stand_in_central_from_the_table(tmp_path: Path) -> None:
    runtime = demo_runtime(demo_config(tmp_path / "demo"))
    services = await DeviceServices.open(runtime.config, runtime)
    try:
        assert services.sink is not None and services.problem is None
        assert set(services.job_functions()) == {"demo-central"}
        assert {job.id for job in services.scheduler.get_jobs()} == {"demo-central"}
        assert not _other_tasks()  # every periodic job is the scheduler's
        answers: list[object] = []
        services.on_results(answers.extend)
        await services.sink.enqueue(
            "issue.report", "room:aurora", {"report_id": "r", "category": "other"}
        )
        await services.demo.drain_once()
        assert len(answers) == 1
    finally:
        await services.close()
    assert not services.scheduler.running


async def test_a_device_that_is_not_enrolled_says_so_and_runs_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = load_config(_config(tmp_path, state))
    runtime = empty_runtime(config)
    services = await DeviceServices.open(config, runtime)
    try:
        assert services.sink is None
        assert services.problem == "Not connected: this device is not enrolled"
        assert runtime.sync_status.problem == services.problem
        assert services.job_functions() == {}
    finally:
        await services.close()


async def test_a_swedish_device_says_it_is_not_connected_in_swedish(tmp_path: Path) -> None:
    from tapin import i18n

    state = tmp_path / "state"
    state.mkdir()
    config = load_config(_config(tmp_path, state))
    i18n.use("sv_SE")
    try:
        services = await DeviceServices.open(config, empty_runtime(config))
        await services.close()
    finally:
        i18n.use("en_GB")
    assert services.problem == "Inte ansluten: enheten är inte registrerad"


async def test_an_enrolled_device_syncs_on_the_tables_periods(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    central = X25519PrivateKey.generate()
    identity = DeviceIdentity(
        device_id="dev-1",
        token="t",
        site_id="nordlys",
        scope_kind="room",
        scope_id="aurora",
        central_url="https://localhost:9",
        central_public_key=base64.b64encode(
            central.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ).decode(),
    )
    save_identity(state, identity, new_signing_key())
    config = load_config(_config(tmp_path, state))
    services = await DeviceServices.open(config, empty_runtime(config))
    try:
        assert services.problem is None and services.sync is not None
        periods = {job.id: job.seconds for job in JOBS}
        scheduled = {
            job.id: job.trigger.interval.total_seconds() for job in services.scheduler.get_jobs()
        }
        assert scheduled == {
            k: periods[k] for k in ("drain", "refresh", "commands", "heartbeat", "purge")
        }
        assert (state / "control.sock").exists()  # tapin status can ask it
    finally:
        await services.close()
    assert not (state / "control.sock").exists()

"""The kiosk's actions (kiosk/controller.py) on real parts: a sign-in is sealed into the
real queue at once and says honestly whether the host was told; sign-out by badge or
from the list; who is on site, offline too; nothing lost across a kill -9."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from kiosk.controller import NOTIFY_STATES, KioskController
from kiosk.flow import SignInFlow
from sync.agent import SyncStatus
from sync.events import MAX_PHOTO_BYTES, MAX_SIGNATURE_BYTES
from sync.queue import EventState, SealedQueue
from tapin.demo.visitors import badge_qr, invite_qr
from tapin.pending import ActionError
from tests.kiosk.support import CENTRAL, LOBBY, NOW, Kiosk, demo_kiosk, queued, queued_sync

ROOT = Path(__file__).resolve().parents[2]
PHOTO = b"\xff\xd8\xff\xe0 a photo of Zed \x00\x01\x02" * 100
STROKES = [[(0.1, 0.2), (0.3, 0.6), (0.5, 0.4)], [(0.6, 0.5), (0.9, 0.5)]]


@pytest.fixture
async def kiosk(state_dir: Path) -> Any:
    async with demo_kiosk(state_dir) as k:
        yield k


def guest(controller: KioskController, *, type_id: str = "guest", **answers: Any) -> SignInFlow:
    """A flow answered like a visitor would (every step of ``type_id``)."""
    flow = controller.new_flow(camera=lambda: True)
    assert flow.set_name(answers.get("name", "Zed Zedson")).ok
    flow.choose_type(type_id)
    flow.set_company(answers.get("company", "Acme AB"))
    flow.set_email(answers.get("email", "zed@example.org"))
    assert flow.choose_host(answers.get("host", "p-bjorn"))
    flow.accept(True)
    if type_id == "contractor":
        flow.draft.signature = STROKES
    flow.draft.photo = answers.get("photo", PHOTO)
    return flow


# sign in --------------------------------------------------------------------------------


async def test_a_sign_in_is_sealed_into_the_queue_at_once(kiosk: Kiosk) -> None:
    flow = guest(kiosk.controller, type_id="contractor")
    started = time.perf_counter()
    visit = await kiosk.controller.sign_in(flow.draft)
    took = time.perf_counter() - started
    assert took < 2.0  # on disk, sealed; central is told in the background

    ((kind, resource, payload),) = await queued(kiosk.queue)
    assert (kind, resource) == ("visitor.signin", f"lobby:{LOBBY}")
    assert payload["visitor_id"] == visit.visitor_id and visit.visitor_id.startswith("v-")
    assert payload["name"] == "Zed Zedson" and payload["company"] == "Acme AB"
    assert payload["email"] == "zed@example.org" and payload["host_id"] == "p-bjorn"
    assert payload["visitor_type"] == "contractor"
    assert payload["accepted_terms"] is True and payload["terms_version"] == "2026-11-01"
    assert "invite_id" not in payload
    assert base64.b64decode(payload["photo"]) == PHOTO
    signature = base64.b64decode(payload["signature"])
    assert len(signature) <= MAX_SIGNATURE_BYTES
    assert Image.open(io.BytesIO(signature)).format == "PNG"
    token = payload["badge_token"]
    assert token == visit.badge_token and len(base64.urlsafe_b64decode(token + "==")) >= 16
    assert (
        kiosk.controller.pending_ids() and kiosk.controller.notified(visit.visitor_id) == "pending"
    )


async def test_every_sign_in_has_a_fresh_visitor_id_and_badge_token(kiosk: Kiosk) -> None:
    visits = [await kiosk.controller.sign_in(guest(kiosk.controller).draft) for _ in range(5)]
    assert len({v.visitor_id for v in visits}) == 5
    assert len({v.badge_token for v in visits}) == 5
    assert len(await queued(kiosk.queue)) == 5


async def test_only_what_the_visitor_type_asks_for_is_sent(kiosk: Kiosk) -> None:
    # a delivery was typed as a guest first: email, host, terms and photo stay behind
    flow = guest(kiosk.controller)
    flow.choose_type("delivery")
    visit = await kiosk.controller.sign_in(flow.draft)
    ((_, _, payload),) = await queued(kiosk.queue)
    assert payload["company"] == "Acme AB" and payload["email"] == ""
    assert payload.get("host_id") is None
    assert "photo" not in payload and "signature" not in payload
    assert payload["accepted_terms"] is False and "terms_version" not in payload
    assert visit.host_id is None  # reception is told


async def test_the_guest_photo_is_optional(kiosk: Kiosk) -> None:
    flow = guest(kiosk.controller, photo=None)
    await kiosk.controller.sign_in(flow.draft)
    ((_, _, payload),) = await queued(kiosk.queue)
    assert "photo" not in payload


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": ""}, "Please type your full name"),
        ({"name": "Zed 😀"}, "Please use letters only"),
        ({"company": ""}, "Please type your company's name"),
        ({"email": "zed@"}, "Please check the address"),
        ({"visitor_type": None}, "Please choose what brings you here"),
        ({"visitor_type": "astronaut"}, "Please choose what brings you here"),
        ({"host_chosen": False}, "Please choose who you are visiting"),
        ({"host_id": "p-farid"}, "Please choose who you are visiting"),  # invisible
        ({"accepted": False}, "Please read and accept the visitor terms"),
        ({"terms_version": "2025-01-01"}, "Please read and accept the visitor terms"),
        ({"photo": b"\xff\xd8\xff" * MAX_PHOTO_BYTES}, "The photo is too large"),
        ({"photo": b"GIF89a not a JPEG"}, "The photo could not be used"),
    ],
)
async def test_a_sign_in_missing_an_answer_is_refused_and_nothing_queued(
    kiosk: Kiosk, change: dict[str, Any], problem: str
) -> None:
    draft = guest(kiosk.controller).draft
    for key, value in change.items():
        setattr(draft, key, value)
    with pytest.raises(ActionError, match=problem):
        await kiosk.controller.sign_in(draft)
    assert await queued(kiosk.queue) == []
    assert kiosk.controller.visits == {}


async def test_a_contractor_must_sign(kiosk: Kiosk) -> None:
    draft = guest(kiosk.controller, type_id="contractor").draft
    draft.signature = [[(0.5, 0.5)]]
    with pytest.raises(ActionError, match="Please sign"):
        await kiosk.controller.sign_in(draft)


async def test_an_invited_visitor_signs_in_with_the_invite(kiosk: Kiosk) -> None:
    flow = kiosk.controller.new_flow()
    assert flow.scan_invite(invite_qr("inv-ada")) is not None and flow.step == "terms"
    flow.accept(True)
    assert flow.complete()
    visit = await kiosk.controller.sign_in(flow.draft)
    ((_, _, payload),) = await queued(kiosk.queue)
    assert payload["invite_id"] == "inv-ada" and payload["email"] == ""  # central fills it
    assert payload["name"] == "Ada Lovelace" and payload["host_id"] == "p-bjorn"
    assert payload["company"] == "Analytical Engines" and payload["visitor_type"] == "guest"
    assert visit.invite_id == "inv-ada"
    assert "inv-ada" not in {i.id for i in kiosk.controller.invites()}  # used up here


# was the host told? --------------------------------------------------------------------------


def _snapshot_says(kiosk: Kiosk, visitor_id: str, notified: str) -> None:
    """Central's visitors snapshot lists the visitor with ``notified``."""
    today = kiosk.runtime.visitors
    assert today is not None
    data = {
        "day": today.day.isoformat(),
        "invites": [],
        "signed_in": [
            {
                "visitor_id": visitor_id,
                "name": "Zed Zedson",
                "company": "Acme AB",
                "host_id": "p-bjorn",
                "visitor_type": "guest",
                "signed_in_at": NOW.isoformat(),
                "notified": notified,
            }
        ],
    }
    assert kiosk.runtime.apply_snapshot("visitors", data)


@pytest.mark.parametrize("outcome", ["delivered", "failed", "reception"])
async def test_notified_follows_centrals_word(kiosk: Kiosk, outcome: str) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    assert kiosk.controller.notified(visit.visitor_id) == "pending"
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "applied"}])
    assert visit.confirmed_at is not None
    assert kiosk.controller.notified(visit.visitor_id) == "pending"  # applied is not told
    _snapshot_says(kiosk, visit.visitor_id, "pending")
    assert kiosk.controller.notified(visit.visitor_id) == "pending"
    _snapshot_says(kiosk, visit.visitor_id, outcome)
    assert kiosk.controller.notified(visit.visitor_id) == outcome
    assert outcome in NOTIFY_STATES


async def test_offline_says_so_until_central_has_the_sign_in(kiosk: Kiosk) -> None:
    kiosk.runtime.sync_status = SyncStatus(device_id="kiosk-1", reachable=False, pending=1)
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    assert kiosk.controller.offline()
    assert kiosk.controller.notified(visit.visitor_id) == "offline"
    assert kiosk.controller.waiting() == 1  # reception sees the backlog
    kiosk.runtime.sync_status = SyncStatus(device_id="kiosk-1", reachable=True)
    assert kiosk.controller.notified(visit.visitor_id) == "pending"
    kiosk.runtime.sync_status = SyncStatus(device_id="kiosk-1", reachable=False)
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "applied"}])
    assert kiosk.controller.notified(visit.visitor_id) == "pending"  # central has it


async def test_the_demo_central_tells_the_host_after_a_moment(state_dir: Path) -> None:
    from tapin.demo.visitors import NOTIFY_AFTER
    from tapin.device.services import DeviceServices

    async with demo_kiosk(state_dir) as k:
        services = await DeviceServices.open(k.runtime.config, k.runtime)
        try:
            controller = KioskController(k.runtime, LOBBY, services.sink)  # type: ignore[arg-type]
            services.on_results(controller.on_results)
            visit = await controller.sign_in(guest(controller).draft)
            await services.demo.drain_once()
            assert visit.confirmed_at is not None and controller.pending_ids() == []
            assert controller.notified(visit.visitor_id) == "pending"
            k.clock.advance(NOTIFY_AFTER + timedelta(seconds=1))
            await services.demo.drain_once()
            assert controller.notified(visit.visitor_id) == "delivered"
        finally:
            await services.close()


# sign out ---------------------------------------------------------------------------------


async def test_signing_out_from_the_list(kiosk: Kiosk) -> None:
    assert kiosk.controller.find("v-demo-alan") is not None
    await kiosk.controller.sign_out("v-demo-alan")
    assert kiosk.controller.find("v-demo-alan") is None
    ((kind, _, payload),) = await queued(kiosk.queue)
    assert kind == "visitor.signout" and payload == {"visitor_id": "v-demo-alan", "via": "list"}
    with pytest.raises(ValueError):
        await kiosk.controller.sign_out("v-demo-alan", via="teleport")


async def test_signing_out_with_the_badge(kiosk: Kiosk) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    left = await kiosk.controller.sign_out_badge(badge_qr(visit.visitor_id, visit.badge_token))
    assert left is not None and left.visitor_id == visit.visitor_id
    assert kiosk.controller.find(visit.visitor_id) is None
    signout = (await queued(kiosk.queue))[-1]
    assert signout[0] == "visitor.signout"
    assert signout[2] == {
        "visitor_id": visit.visitor_id,
        "via": "badge",
        "badge_token": visit.badge_token,
    }
    with pytest.raises(ActionError, match="already signed out"):
        await kiosk.controller.sign_out_badge(badge_qr(visit.visitor_id, visit.badge_token))


@pytest.mark.parametrize(
    "code",
    [
        "TAPIN-OUT:{id}:" + "A" * 32,  # the token is not this visitor's
        "TAPIN-OUT:{id}",
        "TAPIN-OUT:{id}:short",
        "TAPIN-INVITE:{id}:" + "A" * 32,
        "TAPIN-OUT:{id}:" + "A" * 10_000,
        "TAPIN-OUT:{id}:" + "A" * 30 + "\u202e",
        "not a code at all",
    ],
)
async def test_a_badge_that_does_not_match_is_refused(kiosk: Kiosk, code: str) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    with pytest.raises(ActionError):
        await kiosk.controller.sign_out_badge(code.format(id=visit.visitor_id))
    assert kiosk.controller.find(visit.visitor_id) is not None
    assert [k for k, _, _ in await queued(kiosk.queue)] == ["visitor.signin"]
    with pytest.raises(ActionError):
        await kiosk.controller.sign_out(visit.visitor_id, via="badge", badge_token="B" * 32)


async def test_a_badge_from_another_kiosk_is_left_to_central(kiosk: Kiosk) -> None:
    left = await kiosk.controller.sign_out_badge(badge_qr("v-demo-alan", "T" * 32))
    assert left is not None and left.visitor_id == "v-demo-alan"
    ((_, _, payload),) = await queued(kiosk.queue)
    assert payload["badge_token"] == "T" * 32  # central checks it against its hash


async def test_a_refused_sign_out_puts_the_visitor_back(kiosk: Kiosk) -> None:
    await kiosk.controller.sign_out("v-demo-alan")
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "rejected", "code": "not_found"}])
    assert kiosk.controller.find("v-demo-alan") is not None
    assert kiosk.controller.rejected is not None
    assert "already signed out" in kiosk.controller.rejected.words


# who is on site ---------------------------------------------------------------------------


async def test_on_site_merges_own_sign_ins_with_centrals_list(kiosk: Kiosk) -> None:
    central = {r.visitor_id for r in kiosk.controller.on_site()}
    assert central == {"v-demo-alan", "v-demo-margaret", "v-demo-katherine"}
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    rows = {r.visitor_id: r for r in kiosk.controller.on_site()}
    assert set(rows) == central | {visit.visitor_id}
    assert rows[visit.visitor_id].local and not rows["v-demo-alan"].local
    assert rows[visit.visitor_id].host_id == "p-bjorn"
    names = [r.name for r in kiosk.controller.on_site()]
    assert names == sorted(names, key=str.casefold)


async def test_the_evacuation_list_works_offline_from_memory(kiosk: Kiosk) -> None:
    kiosk.runtime.visitors = None  # central never answered today
    kiosk.runtime.sync_status = SyncStatus(device_id="kiosk-1", reachable=False)
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    (row,) = kiosk.controller.on_site()
    assert (row.visitor_id, row.name, row.host_id) == (visit.visitor_id, "Zed Zedson", "p-bjorn")
    kiosk.clock.advance(timedelta(days=1))  # yesterday's snapshot and visits: gone
    assert kiosk.controller.on_site() == []
    assert visit.visitor_id in kiosk.controller.visits  # central has not got it yet
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "applied"}])
    assert kiosk.controller.on_site() == []
    assert kiosk.controller.visits == {}  # and then the name leaves memory too


async def test_a_visitor_signed_out_at_another_kiosk_leaves_this_ones_list(
    kiosk: Kiosk,
) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "applied"}])
    without = {"day": "2026-12-01", "invites": [], "signed_in": []}
    kiosk.clock.advance(timedelta(seconds=5))
    assert kiosk.runtime.apply_snapshot("visitors", without)  # made before it was applied
    assert kiosk.controller.find(visit.visitor_id) is not None
    kiosk.clock.advance(timedelta(seconds=60))
    assert kiosk.runtime.apply_snapshot("visitors", dict(without, invites=[]))
    assert kiosk.controller.find(visit.visitor_id) is None  # central no longer has them in


async def test_a_sign_in_central_refused_leaves_the_lists(kiosk: Kiosk) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    (event_id,) = kiosk.controller.pending_ids()
    kiosk.controller.on_results([{"id": event_id, "outcome": "rejected", "code": "invalid"}])
    assert kiosk.controller.find(visit.visitor_id) is None
    assert kiosk.controller.rejected is not None
    assert kiosk.controller.rejected.words.startswith("A sign-in was not accepted")


async def test_at_the_end_of_the_day_the_list_empties(kiosk: Kiosk) -> None:
    await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    assert kiosk.controller.on_site()
    kiosk.clock.now = datetime(2026, 12, 1, 17, 1, tzinfo=UTC)  # 18:01 in Stockholm
    assert kiosk.controller.on_site() == []  # central signs them out at 18:00


async def test_names_stay_out_of_reprs(kiosk: Kiosk) -> None:
    visit = await kiosk.controller.sign_in(guest(kiosk.controller).draft)
    shown = repr(visit) + repr(kiosk.controller.on_site()) + repr(kiosk.runtime.visitors)
    for name in ("Zed", "Alan", "Acme", "Bletchley"):
        assert name not in shown


# kill -9 ----------------------------------------------------------------------------------

CHILD = """
import asyncio, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from kiosk.controller import KioskController
from sync.queue import AsyncSealedQueue
from tapin.demo.runtime import demo_config, demo_runtime

async def main() -> None:
    state = Path(sys.argv[1])
    runtime = demo_runtime(demo_config(state, "kiosk"))
    key = X25519PublicKey.from_public_bytes(bytes.fromhex(sys.argv[2]))
    queue = AsyncSealedQueue(state / "queue.db", key)
    await queue.open()
    controller = KioskController(runtime, "lobby-main", queue)
    flow = controller.new_flow()
    flow.set_name("Killed Visitor")
    flow.choose_type("delivery")
    flow.set_company("Sigkill Couriers")
    visit = await controller.sign_in(flow.draft)
    print(visit.visitor_id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_sign_in_survives_kill_9(state_dir: Path) -> None:
    key = CENTRAL.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_dir), key],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().decode().strip()
        assert line.startswith("v-"), child.stderr.read().decode() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    queue = SealedQueue(state_dir / "queue.db", CENTRAL.public_key())
    try:
        counts = queue.counts()
        (row,) = queue.rows()
        assert (counts.pending, row.state, row.type) == (1, EventState.PENDING, "visitor.signin")
    finally:
        queue.close()
    ((kind, resource, payload),) = queued_sync(state_dir / "queue.db")
    assert (kind, resource) == ("visitor.signin", "lobby:lobby-main")
    assert payload["visitor_id"] == line and payload["name"] == "Killed Visitor"
    assert payload["company"] == "Sigkill Couriers"

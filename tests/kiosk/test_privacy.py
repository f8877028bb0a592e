"""Visitor data exists on the kiosk only in memory and in the sealed queue: a demo kiosk
(its real sealed queue, the demo central answering it, hosts told) signs visitors in
and out with known names, companies, emails, photos and signatures; then every file
under HOME and the state directory, and every log record down to DEBUG, is searched
for each of them (photos raw and base64): none is found in clear."""

from __future__ import annotations

import base64
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk.controller import KioskController
from kiosk.signature import signature_png
from tapin.demo.visitors import NOTIFY_AFTER, badge_qr, invite_qr
from tapin.device.services import DeviceServices
from tests.kiosk.support import LOBBY, demo_kiosk

VISITORS = [
    # name, company, email, type, host
    ("Wilhelmina Quisling", "Zanzibar Widgets", "wilhelmina.q@zanzibar.example", "guest"),
    ("Bartholomew Ångström", "Quokka Freight", "bart.angstrom@quokka.example", "contractor"),
    ("Xiomara Delgado", "Yttrium Couriers", "xiomara@yttrium.example", "delivery"),
]
STROKES = [[(0.05, 0.3), (0.2, 0.8), (0.35, 0.2), (0.5, 0.7)], [(0.6, 0.4), (0.95, 0.45)]]


def _forms(value: bytes | str) -> list[bytes]:
    """The ways a value could sit in a file: UTF-8, UTF-16, base64 (and its urlsafe
    form), lower case."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    found = [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw)]
    if isinstance(value, str):
        found += [value.lower().encode("utf-8"), value.encode("utf-16-le")]
    elif len(raw) > 4000:  # a part of the photo is enough to give it away
        found += [raw[1000:1064], base64.b64encode(raw[3000:3048])]
    assert all(len(form) >= 4 for form in found)
    return found


async def test_no_visitor_data_in_clear_on_disk_or_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    state = home / ".local" / "state" / "tapin"
    state.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    caplog.set_level(logging.DEBUG)
    photos = [b"\xff\xd8\xff\xe0" + os.urandom(48_000) for _ in VISITORS]
    secrets: list[bytes | str] = [*photos, signature_png(STROKES, 3.0)]

    async with demo_kiosk(state) as kiosk:
        services = await DeviceServices.open(kiosk.runtime.config, kiosk.runtime)
        try:
            assert services.sink is not None
            controller = KioskController(kiosk.runtime, LOBBY, services.sink)
            services.on_results(controller.on_results)
            visits = []
            for (name, company, email, type_id), photo in zip(VISITORS, photos, strict=True):
                secrets += [name, company, email, *name.split()]
                flow = controller.new_flow(camera=lambda: True)
                assert flow.set_name(name).ok
                flow.choose_type(type_id)
                assert flow.set_company(company).ok and flow.set_email(email).ok
                hosts = flow.search_hosts("bjö")
                assert flow.choose_host(hosts[0].id)
                flow.accept(True)
                flow.draft.signature = STROKES
                flow.draft.photo = photo
                visits.append(await controller.sign_in(flow.draft))
                flow.clear()

            # an invited visitor (by QR code): her name reaches the kiosk from central
            flow = controller.new_flow()
            assert flow.scan_invite(invite_qr("inv-grace")) is not None
            flow.accept(True)
            flow.draft.signature = STROKES
            visits.append(await controller.sign_in(flow.draft))
            secrets += ["Grace Hopper", "Cobol Works", "g•••@cobol.example"]
            secrets += [v.badge_token for v in visits]

            await services.demo.drain_once()  # central has them
            kiosk.clock.advance(NOTIFY_AFTER + timedelta(seconds=1))
            await services.demo.drain_once()  # and told the hosts
            assert {controller.notified(v.visitor_id) for v in visits} == {
                "delivered",
                "reception",
            }
            assert {r.name for r in controller.on_site()} >= {v[0] for v in VISITORS}

            await controller.sign_out_badge(badge_qr(visits[0].visitor_id, visits[0].badge_token))
            await controller.sign_out(visits[1].visitor_id)
            await services.demo.drain_once()
            assert controller.pending_ids() == []
        finally:
            await services.close()

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files), "the queue is on disk, sealed"
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            for form in _forms(secret):
                assert form not in data, f"visitor data in clear in {path.relative_to(tmp_path)}"

    assert caplog.records, "the kiosk logged what it did"
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
    )
    for secret in secrets:
        if isinstance(secret, str):
            assert secret not in logged and secret.lower() not in logged.lower()
    assert visits[0].visitor_id in logged  # ids are what the log says


TOUR_VALUES = [
    "Åsa Öberg",
    "Öberg Bygg & Måleri AB",
    "asa@oberg.example",
    "Nils Holgersson",
    "nils@example.se",
    "Selma Lagerlöf",
]
"""What ``kiosk/tour.py`` types into the real fields (only those still in it count)."""


def test_the_kiosk_process_leaves_nothing_typed_on_disk_or_in_its_log(tmp_path: Path) -> None:
    """``tapin --log-level DEBUG kiosk --demo --tour DIR`` drives the real app through
    every screen (typing names, companies, emails, drawing a signature, taking a photo,
    signing in and out); afterwards HOME (the demo's state directory is in it) and the
    process's whole output hold none of what was typed."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    tour_source = (root / "kiosk" / "tour.py").read_text(encoding="utf-8")
    typed = [v for v in TOUR_VALUES if v in tour_source]
    if len(typed) < 3:
        pytest.skip("the tour no longer types the values this test knows")
    home, shots = tmp_path / "home", tmp_path / "tour"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_STATE_HOME", "TAPIN_CONFIG")}
    env |= {"HOME": str(home), "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "tapin", "--log-level", "DEBUG", "kiosk", "--demo"]
    done = subprocess.run(
        [*command, "--tour", str(shots)],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert len(list(shots.glob("*.png"))) >= 10, done.stderr.decode()[-2000:]
    assert b"DEBUG" in done.stderr  # the log was at DEBUG
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "the demo kiosk's queue is in HOME"
    output = done.stdout + done.stderr
    for value in typed:
        for form in _forms(value):
            assert form not in output, f"{value!r} is in the kiosk's output"
            for path in files:
                assert form not in path.read_bytes(), f"{value!r} is in {path.name}"

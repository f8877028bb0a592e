"""Several central processes on one database give the answers one would.

``a`` is ``tapin central serve --workers 2`` (two worker processes behind one port) and
``b`` a second central on its own port with the same key and certificate (another
machine behind a load balancer). Both over TLS, on the same PostgreSQL database: what
one decides, the other must know (rate limits, the ledger), and what they serve must
be the same bytes with the same ETag.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from central.local import LocalCentral
from central.ratelimit import PER_SOURCE
from sync.wire import EpochKey, SealedEvent, new_event_id, seal_payload
from tests.central.conftest import enroll_body

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ROOM = "aurora"
SNAPSHOTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("rooms", {}),
    ("directory", {}),
    ("calendar", {"room": ROOM}),
    ("availability", {}),
    ("desks", {}),
)


@dataclass
class Pair:
    a: LocalCentral
    b: LocalCentral
    ca: ssl.SSLContext

    def client(self, central: LocalCentral) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=central.url, verify=self.ca, timeout=30)


@dataclass
class Panel:
    id: str
    token: str
    epoch: EpochKey
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def seal(self, type: str, payload: dict[str, Any], **times: datetime) -> SealedEvent:
        return seal_payload(
            self.epoch,
            event_id=new_event_id(),
            seq=next(self.seq),
            type=type,
            resource=f"room:{ROOM}",
            payload=payload,
            device_id=self.id,
            **times,
        )

    def batch(self, events: list[SealedEvent]) -> dict[str, Any]:
        return {
            "epochs": {self.epoch.id: base64.b64encode(self.epoch.sealed).decode()},
            "events": [e.to_wire() for e in events],
        }


@pytest.fixture
def pair(pg_dsn: str, tmp_path: Path) -> Iterator[Pair]:
    a = LocalCentral(pg_dsn, tmp_path / "a", workers=2, pool_max=4).prepare().start()
    b = a.sibling("b").start()
    try:
        yield Pair(a, b, ssl.create_default_context(cafile=str(a.pki.ca_file)))
    finally:
        b.stop()
        a.stop()


async def enroll(pair: Pair, via: LocalCentral) -> Panel:
    signer = Ed25519PrivateKey.generate()
    async with pair.client(via) as client:
        response = await client.post(
            "/v1/enroll", json=enroll_body(pair.a.enroll_code(room=ROOM), signer)
        )
    assert response.status_code == 201, response.text
    body = response.json()
    central_key = X25519PublicKey.from_public_bytes(base64.b64decode(body["central_public_key"]))
    return Panel(body["device_id"], body["token"], EpochKey.generate(central_key))


def count(dsn: str, sql: str, *params: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_several_workers_each_hold_their_own_pool(pair: Pair) -> None:
    # the main process, its two workers (and multiprocessing's helper)
    assert len(pair.a.pids()) >= 3
    # two connections at least per worker, two workers of a and one b: five or more
    connections = count(
        pair.a.dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()",
    )
    assert connections >= 6


async def test_either_central_serves_the_same_snapshot_with_the_same_etag(pair: Pair) -> None:
    panel = await enroll(pair, pair.b)

    async def fetch(central: LocalCentral, kind: str, params: dict[str, str]) -> httpx.Response:
        # a new connection each time: on a, one worker or the other answers
        async with pair.client(central) as client:
            response = await client.get(
                f"/v1/snapshot/{kind}", params=params, headers=panel.headers
            )
        assert response.status_code == 200, response.text
        return response

    before: dict[str, str] = {}
    for kind, params in SNAPSHOTS:
        answers = [await fetch(c, kind, params) for c in (pair.a, pair.a, pair.b, pair.a)]
        assert len({r.headers["etag"] for r in answers}) == 1, kind
        assert len({r.content for r in answers}) == 1, kind
        before[kind] = answers[0].headers["etag"]
        async with pair.client(pair.b) as client:  # a's ETag is b's ETag
            again = await client.get(
                f"/v1/snapshot/{kind}",
                params=params,
                headers={**panel.headers, "If-None-Match": before[kind]},
            )
        assert again.status_code == 304 and again.content == b""

    # a check-in of the meeting under way, through a, changes the calendar both serve
    calendar = (await fetch(pair.b, "calendar", {"room": ROOM})).json()
    now = datetime.now(UTC)
    [meeting] = [
        m
        for m in calendar["meetings"]
        if datetime.fromisoformat(m["start"]) <= now < datetime.fromisoformat(m["end"])
    ]
    checkin = panel.seal("meeting.checkin", {"meeting_id": meeting["id"]})
    async with pair.client(pair.a) as client:
        response = await client.post(
            "/v1/events", json=panel.batch([checkin]), headers=panel.headers
        )
    assert response.json()["results"][0]["outcome"] == "applied", response.text
    answers = [await fetch(c, "calendar", {"room": ROOM}) for c in (pair.a, pair.b, pair.a)]
    after = {r.headers["etag"] for r in answers}
    assert len(after) == 1 and after != {before["calendar"]}
    [again] = [m for m in answers[0].json()["meetings"] if m["id"] == meeting["id"]]
    assert again["status"] == "checked_in"


async def test_failed_enrollments_count_on_every_central(pair: Pair) -> None:
    async def attempt(central: LocalCentral, code: str) -> httpx.Response:
        async with pair.client(central) as client:
            return await client.post(
                "/v1/enroll", json=enroll_body(code, Ed25519PrivateKey.generate())
            )

    for i in range(PER_SOURCE):  # alternately at a (either worker) and at b
        refused = await attempt(pair.a if i % 2 else pair.b, f"WRONG-CODE-{i:05d}")
        assert refused.status_code == 403, refused.text
    valid = pair.a.enroll_code(room=ROOM)
    for central in (pair.a, pair.b, pair.a):
        limited = await attempt(central, valid)
        assert limited.status_code == 429, limited.text
        assert 0 < int(limited.headers["retry-after"]) <= 600
    assert count(pair.a.dsn, "SELECT count(*) FROM devices") == 0


async def test_one_batch_sent_to_two_centrals_at_once_is_applied_once(pair: Pair) -> None:
    panel = await enroll(pair, pair.a)
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=20)
    slots = (first + timedelta(minutes=10 * i) for i in itertools.count())

    def events(n: int) -> list[SealedEvent]:
        made = []
        for i in range(n):
            if i % 3 == 0:
                start = next(slots)
                made.append(
                    panel.seal(
                        "booking.create",
                        {"booking_id": str(uuid.uuid4()), "booked_by": None},
                        starts_at=start,
                        ends_at=start + timedelta(minutes=10),
                    )
                )
            elif i % 3 == 1:
                end = datetime.now(UTC) - timedelta(minutes=i)
                made.append(
                    panel.seal(
                        "presence.sample",
                        {"occupied_minutes": 3, "count_band": "1-2"},
                        starts_at=end - timedelta(minutes=15),
                        ends_at=end,
                    )
                )
            else:
                made.append(
                    panel.seal(
                        "issue.report",
                        {"report_id": str(uuid.uuid4()), "category": "other", "text": "x" * 200},
                    )
                )
        return made

    async def post(client: httpx.AsyncClient, batch: list[SealedEvent]) -> list[dict[str, Any]]:
        for _ in range(5):  # 503 busy (contention outlasted central's retries): send again
            response = await client.post(
                "/v1/events", json=panel.batch(batch), headers=panel.headers
            )
            if response.status_code != 503:
                break
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        assert [r["id"] for r in results] == [e.id for e in batch]
        return results

    sent: list[SealedEvent] = []
    async with pair.client(pair.a) as to_a, pair.client(pair.b) as to_b:
        for round in range(4):
            made = events(300)
            sent += made
            # the same batch; in the last rounds overlapping halves, one reversed
            left, right = (made, made) if round < 2 else (made[:200], made[100:][::-1])
            answers = await asyncio.gather(post(to_a, left), post(to_b, right))
            outcomes: dict[str, Counter[str]] = {e.id: Counter() for e in made}
            for results in answers:
                for result in results:
                    outcomes[result["id"]][result["outcome"]] += 1
            for event in made:
                seen = outcomes[event.id]
                assert seen["applied"] == 1 and seen["rejected"] == 0, (round, event.type, seen)

    dsn = pair.a.dsn
    assert count(dsn, "SELECT count(*) FROM applied_events WHERE device_id = %s", panel.id) == len(
        sent
    )
    kinds = Counter(e.type for e in sent)
    for kind, table in (
        ("booking.create", "bookings"),
        ("presence.sample", "presence_samples"),
        ("issue.report", "issue_reports"),
    ):
        rows = count(dsn, f"SELECT count(*) FROM {table} WHERE device_id = %s", panel.id)
        assert rows == kinds[kind], kind


async def test_keep_alive_answers_of_several_workers_are_not_held_back(pair: Pair) -> None:
    # Nagle's algorithm left on (uvicorn's own supervisor) makes every answer on a reused
    # connection wait for the client's delayed ACK: 40 ms or more each on Linux
    async with pair.client(pair.a) as client:
        await client.get("/v1/health")
        times = []
        for _ in range(21):
            started = time.perf_counter()
            response = await client.get("/v1/health")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
    assert sorted(times)[10] < 0.030, times

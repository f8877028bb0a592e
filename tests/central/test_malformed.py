"""Whatever arrives at ``POST /v1/events``, the answer is JSON and never a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central import Limits, create_app
from tests.central.conftest import NOW, World, enroll_body, seed_world

_nasty = st.sampled_from(["\x00", "\ud800", "room:r1\x00", "\udfff\ud800x", "é" * 3])
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | _nasty,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_event = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["0190a000-0000-7000-8000-00000000000a", "nope", ""]) | _json,
        "seq": st.integers(-2, 5) | st.just(2**64) | _json,
        "type": st.sampled_from(["booking.create", "presence.sample"]) | _nasty | _json,
        "resource": st.sampled_from(["room:r1", "room:"]) | _nasty | _json,
        "created_at": st.sampled_from(["2024-01-01T00:00:00+00:00", "yesterday"]) | _json,
        "epoch": st.sampled_from(["e1", "e2"]) | _json,
        "nonce": st.sampled_from(["AAAAAAAAAAAAAAAA", "%%%"]) | _json,
        "ciphertext": st.sampled_from(["AAAA", ""]) | _json,
    },
)
_batch = st.fixed_dictionaries(
    {},
    optional={
        "epochs": st.dictionaries(
            st.sampled_from(["e1", "e2", ""]), st.sampled_from(["AAAA", "!"]) | _json
        )
        | _json,
        "events": st.lists(_event | _json, max_size=5) | _json,
    },
)


class _Harness:
    """One app, one loop, one device, reused across hypothesis examples."""

    def __init__(self, dsn: str, key: X25519PrivateKey) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(
            dsn, key, clock=lambda: NOW, limits=Limits(max_body_bytes=64_000, max_events=20)
        )
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self.lifespan.__aenter__())
        pool = self.app.state.central.pool
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://c"
        )
        self.world = World(self.client, pool, key)
        self.loop.run_until_complete(seed_world(pool))
        device = self.loop.run_until_complete(self.world.enroll(room="r1"))
        self.headers = device.headers

    def post(self, content: bytes) -> httpx.Response:
        return self.loop.run_until_complete(
            self.client.post("/v1/events", content=content, headers=self.headers)
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def harness(db: str, central_key: X25519PrivateKey) -> Iterator[_Harness]:
    h = _Harness(db, central_key)
    yield h
    h.close()


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert isinstance(body["results"], list)
        for result in body["results"]:
            assert result["outcome"] in ("applied", "duplicate", "rejected")
    else:
        assert 400 <= response.status_code < 500
        assert set(body) == {"error", "detail"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_batch | _json)
def test_arbitrary_json_never_breaks_the_server(harness: _Harness, body: Any) -> None:
    _check(harness.post(json.dumps(body).encode()))


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_break_the_server(harness: _Harness, raw: bytes) -> None:
    _check(harness.post(raw))


def test_limits_answer_413(harness: _Harness) -> None:
    too_many: dict[str, object] = {"epochs": {}, "events": [{}] * 21}
    response = harness.post(json.dumps(too_many).encode())
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    too_big = json.dumps({"epochs": {}, "events": [], "pad": "x" * 70_000}).encode()
    response = harness.post(too_big)
    assert response.status_code == 413
    assert "64000" in response.json()["detail"]


def test_bodies_that_are_not_batches_are_400(harness: _Harness) -> None:
    for raw in (
        b"",
        b"{",
        b"[]",
        b'{"epochs": [], "events": []}',
        b'{"epochs": {}, "events": [1]}',
        b"\xff\xfe",
        b"[" * 10_000,
    ):
        response = harness.post(raw)
        assert response.status_code in (400, 413), raw[:20]
        assert response.json()["error"] in ("bad_request", "too_large")
    empty = harness.post(b'{"epochs": {}, "events": []}')
    assert empty.json() == {"results": []}


def test_enroll_body_limits(harness: _Harness) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    body = enroll_body("X" * 10_000, Ed25519PrivateKey.generate())
    response = harness.loop.run_until_complete(harness.client.post("/v1/enroll", json=body))
    assert response.status_code == 413


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.fixed_dictionaries(
        {}, optional={"code": _json, "public_key": _json, "signature": _json}
    )
    | _json
)
def test_arbitrary_enroll_bodies_never_break_the_server(harness: _Harness, body: Any) -> None:
    response = harness.loop.run_until_complete(
        harness.client.post("/v1/enroll", content=json.dumps(body).encode())
    )
    # 429 once the guesses from this address pass the rate limit
    assert response.status_code in (400, 403, 413, 429), response.text
    assert set(response.json()) == {"error", "detail"}


def test_unstorable_clear_fields_are_malformed(harness: _Harness) -> None:
    from sync.wire import EpochKey, seal_payload

    epoch = EpochKey.generate(harness.world.key.public_key())
    events = []
    for n, (type_, resource, seq) in enumerate(
        [
            ("issue\x00report", "room:r1", 1),
            ("issue.report", "room:\ud800", 2),
            ("issue.report", "room:r1", 2**64),
        ]
    ):
        sealed = seal_payload(
            epoch,
            event_id=f"0190a000-0000-7000-8000-00000000000{n}",
            seq=1,
            type="issue.report",
            resource="room:r1",
            payload={},
        )
        events.append({**sealed.to_wire(), "type": type_, "resource": resource, "seq": seq})
    import base64

    body = {"epochs": {epoch.id: base64.b64encode(epoch.sealed).decode()}, "events": events}
    response = harness.post(json.dumps(body).encode())
    assert response.status_code == 200
    assert [r["code"] for r in response.json()["results"]] == ["malformed"] * 3
